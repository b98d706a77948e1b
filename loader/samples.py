"""Deterministic synthetic exports, shaped like the nightly SQL Server files.

Used by the demo, the tests and the benchmarks. One row per figure:
``d_trade, stock, ticker, col_code, value``; days x funds x col_codes, about
5% text values, a few duplicate and conflicting keys, and a choice of
encoding (UTF-8, cp1252 with accented fund names, cp874 with Thai ones).
"""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

COL_CODES = (
    "NAV", "NAV_PER_UNIT", "AUM", "UNITS_OUTSTANDING", "BID", "OFFER",
    "RETURN_1D", "RETURN_1M", "RETURN_3M", "RETURN_YTD", "RETURN_1Y",
    "EXPENSE_RATIO", "MGMT_FEE", "DIVIDEND", "RISK_LEVEL", "FUND_STATUS",
    "BENCHMARK", "SHARPE_1Y", "STDEV_1Y", "MAX_DRAWDOWN",
)  # fmt: skip
TEXT_VALUES = ("N/A", "Suspended", "n.a.", "Closed, merging", 'Fund "A" class', "-")
LATIN_NAMES = ("Crédit", "Société", "Großmann", "Ñandú", "Øresund", "Café")
THAI_NAMES = ("กสิกร", "ไทยพาณิชย์", "กรุงเทพ", "บัวหลวง", "ทิสโก้", "กรุงศรี")


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to generate. ``rows`` is approximate only when it is not a multiple of a day."""

    rows: int = 100_000
    seed: int = 20251209
    start: date = date(2025, 12, 9)
    col_codes: int = 20
    encoding: str = "utf-8"
    text_share: float = 0.05
    duplicate_share: float = 0.001
    gzip: bool = False
    crlf: bool = True
    date_style: str = "iso"  # iso | iso-midnight | compact | day-first | month-first


def _fund_names(spec: ExportSpec, count: int) -> list[str]:
    rnd = random.Random(spec.seed)
    accents = (
        THAI_NAMES if spec.encoding == "cp874" else LATIN_NAMES if spec.encoding == "cp1252" else ()
    )
    names = []
    for i in range(count):
        base = f"F{i:05d}"
        if accents and rnd.random() < 0.2:
            base = f"{rnd.choice(accents)}{i:04d}"[:32]
        names.append(base)
    return names


def _format_date(day: date, style: str) -> str:
    if style == "iso-midnight":
        return f"{day.isoformat()} 00:00:00.000"
    if style == "compact":
        return day.strftime("%Y%m%d")
    if style == "day-first":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    if style == "month-first":
        return f"{day.month:02d}/{day.day:02d}/{day.year}"
    return day.isoformat()


def export_lines(spec: ExportSpec) -> Iterator[str]:
    """The export as text lines (without line endings), header first."""
    rnd = random.Random(spec.seed)
    cols = (
        COL_CODES[: spec.col_codes]
        if spec.col_codes <= len(COL_CODES)
        else [f"COL_{i:03d}" for i in range(spec.col_codes)]
    )
    funds_per_day = max(1, min(50_000, spec.rows // len(cols)))
    funds = _fund_names(spec, funds_per_day)
    yield "d_trade,stock,ticker,col_code,value"
    produced = 0
    day = spec.start
    recent: list[tuple[str, str, str, str, str]] = []
    while produced < spec.rows:
        d = _format_date(day, spec.date_style)
        for fund in funds:
            ticker = f"{fund}-A"
            for col in cols:
                if produced >= spec.rows:
                    return
                if recent and rnd.random() < spec.duplicate_share:
                    d0, stock, ticker0, col0, old = rnd.choice(recent)
                    # half repeat the same value, half conflict with a new one
                    value = f"{rnd.uniform(0, 1000):.4f}" if rnd.random() < 0.5 else old
                    yield _row(d0, stock, ticker0, col0, value)
                    produced += 1
                    continue
                if rnd.random() < spec.text_share:
                    text = rnd.choice(TEXT_VALUES)
                    value = (
                        '"' + text.replace('"', '""') + '"'
                        if ("," in text or '"' in text)
                        else text
                    )
                else:
                    value = f"{rnd.uniform(-1000, 1_000_000):.6f}"
                yield _row(d, fund, ticker, col, value)
                if len(recent) < 1000 and rnd.random() < 0.01:
                    recent.append((d, fund, ticker, col, value))
                produced += 1
        day += timedelta(days=1)


def _row(d: str, stock: str, ticker: str, col: str, value: str) -> str:
    return f"{d},{stock},{ticker},{col},{value}"


def write_export(path: str | Path, spec: ExportSpec) -> Path:
    """Write one export file; returns its path."""
    path = Path(path)
    newline = "\r\n" if spec.crlf else "\n"
    raw: io.BufferedWriter | gzip.GzipFile
    with open(path, "wb") as out:
        raw = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=5) if spec.gzip else out
        buffer: list[str] = []
        for line in export_lines(spec):
            buffer.append(line)
            if len(buffer) >= 50_000:
                raw.write((newline.join(buffer) + newline).encode(spec.encoding))
                buffer.clear()
        if buffer:
            raw.write((newline.join(buffer) + newline).encode(spec.encoding))
        if spec.gzip:
            raw.close()
    return path


def changed_copy(source: Path, target: Path, share: float = 0.01) -> Path:
    """A copy of an export with about ``share`` of its plain numbers changed (a correction file)."""
    step = max(int(1 / share), 1)
    with (
        open(source, encoding="utf-8", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as out,
    ):
        for i, line in enumerate(src):
            body = line.rstrip("\r\n")
            head, _, value = body.rpartition(",")
            if i and i % step == 0 and value[-1:].isdigit():
                line = f"{head},{value}9{line[len(body) :]}"
            out.write(line)
    return target
