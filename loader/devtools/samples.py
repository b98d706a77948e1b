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
import zlib
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
# (low, high, decimals) per col_code: the magnitudes and scales the SQL Server export
# carries. UNITS_OUTSTANDING has up to 18 significant digits, more than a float64 holds,
# so a loader that goes through float cannot keep it; the others fit a float.
VALUE_PROFILES: dict[str, tuple[float, float, int]] = {
    "NAV": (1e6, 5e10, 2),
    "NAV_PER_UNIT": (5, 150, 4),
    "AUM": (1e6, 9e11, 2),
    "UNITS_OUTSTANDING": (1e5, 9e11, 6),
    "BID": (5, 150, 4),
    "OFFER": (5, 150, 4),
    "RETURN_1D": (-0.05, 0.05, 10),
    "RETURN_1M": (-0.2, 0.2, 10),
    "RETURN_3M": (-0.3, 0.3, 10),
    "RETURN_YTD": (-0.5, 0.8, 10),
    "RETURN_1Y": (-0.6, 1.2, 10),
    "EXPENSE_RATIO": (0, 0.03, 8),
    "MGMT_FEE": (0, 0.02, 8),
    "DIVIDEND": (0, 2, 6),
    "RISK_LEVEL": (1, 8, 0),
    "FUND_STATUS": (0, 3, 0),
    "BENCHMARK": (-0.5, 0.8, 10),
    "SHARPE_1Y": (-3, 3, 12),
    "STDEV_1Y": (0, 0.5, 12),
    "MAX_DRAWDOWN": (-0.6, 0, 12),
}
DEFAULT_PROFILE = (-1000.0, 1_000_000.0, 6)
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
    days: int | None = None
    """Spread the rows over this many trade days (default: up to 50,000 funds a day)."""
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
    if spec.days:
        funds_per_day = max(1, -(-spec.rows // (spec.days * len(cols))))
    else:
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
                    value = _number(rnd, VALUE_PROFILES.get(col, DEFAULT_PROFILE))
                yield _row(d, fund, ticker, col, value)
                if len(recent) < 1000 and rnd.random() < 0.01:
                    recent.append((d, fund, ticker, col, value))
                produced += 1
        day += timedelta(days=1)


def _number(rnd: random.Random, profile: tuple[float, float, int]) -> str:
    """A decimal written as SQL Server writes it: fixed point, ``decimals`` digits after it."""
    low, high, decimals = profile
    scale = 10**decimals
    units = rnd.randrange(int(low * scale), int(high * scale) + 1)
    sign, units = ("-", -units) if units < 0 else ("", units)
    if not decimals:
        return f"{sign}{units}"
    return f"{sign}{units // scale}.{units % scale:0{decimals}d}"


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


def changed_copy(
    source: Path, target: Path, share: float = 0.01, seed: int = 1, fund_share: float = 1.0
) -> Path:
    """A copy of an export with about ``share`` of its plain numbers changed (a correction file).

    The changed lines are picked at random (deterministically by ``seed``), so
    every col_code is corrected in about the same share. A change appends a
    digit: a value with 12 decimals then has 13, which DECIMAL(38,12) cannot
    hold exactly (the contract stores it as text; a loader that rounds is wrong).
    ``fund_share``: only that share of the funds is restated (chosen by the fund's name),
    ``share`` of the values of each: "a few funds restated" is 0.2 of the values of 0.02
    of the funds.
    """
    rnd = random.Random(seed)
    picked = int(fund_share * 10_000)
    with (
        open(source, encoding="utf-8", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as out,
    ):
        for i, line in enumerate(src):
            body = line.rstrip("\r\n")
            head, _, value = body.rpartition(",")
            fund = body.split(",", 2)[1] if picked < 10_000 else ""
            if picked < 10_000 and zlib.crc32(fund.encode()) % 10_000 >= picked:
                out.write(line)
                continue
            if i and rnd.random() < share and value[-1:].isdigit():
                line = f"{head},{value}9{line[len(body) :]}"
            out.write(line)
    return target
