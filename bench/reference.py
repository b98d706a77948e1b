"""An independent reference for the benchmark's correctness column (standard library only).

It reads an export the plain way (``csv`` + ``Decimal``, no code shared with
the loader), applies the contract's rules as far as the generated exports
use them (ISO dates, trimmed fields, NULL markers, plain decimals with an
optional exponent, DECIMAL(38,12) exactness, last occurrence wins) and
writes the expected rows as a clean, key-ordered, tab-separated file in the
layout ``LOAD DATA`` reads (``\\N`` for NULL, backslash escapes). That file
is both the ceiling's input and the expected table every tool is compared to.

It refuses what it does not implement (thousands groups, parentheses, slash
dates) rather than guess, so it can only be used on generated exports.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

NULLS = {"", "null", "\\n"}
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
SCALE = Decimal("1e-12")
LIMIT = Decimal(10) ** 26
ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class Unsupported(ValueError):
    """The export uses a rule this reference does not implement."""


def _value(raw: str) -> tuple[str | None, str | None]:
    value = raw.strip()
    if value.lower() in NULLS:
        return None, None
    if NUMBER.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return None, value
        if abs(number) < LIMIT and number == number.quantize(SCALE):
            return format(number.quantize(SCALE), "f"), None
        return None, value
    if re.fullmatch(r"\(?[+-]?[\d,]+(\.\d*)?\)?", value) and ("," in value or "(" in value):
        raise Unsupported(f"number form not implemented by the reference: {value!r}")
    return None, value


def expected_rows(
    path: Path, encoding: str = "utf-8"
) -> dict[tuple[str, str, str, str], tuple[str | None, str | None]]:
    """The rows a correct load leaves in fund_data, by key (last occurrence wins)."""
    with open(path, "rb") as head:
        opener = gzip.open if head.read(2) == b"\x1f\x8b" else open
    rows: dict[tuple[str, str, str, str], tuple[str | None, str | None]] = {}
    with opener(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=codecs.lookup(encoding).name, newline="")
        reader = csv.reader(text)
        header = [h.strip().lower() for h in next(reader)]
        index = [header.index(c) for c in ("d_trade", "stock", "ticker", "col_code", "value")]
        for record in reader:
            if not record or all(not f.strip() for f in record):
                continue
            day, stock, ticker, col, value = (record[i] for i in index)
            day = day.strip()
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise Unsupported(f"date form not implemented by the reference: {day!r}")
            rows[(day, stock.strip(), ticker.strip(), col.strip())] = _value(value)
    return rows


def write_clean(
    rows: dict[tuple[str, str, str, str], tuple[str | None, str | None]], target: Path
) -> int:
    """The expected rows as LOAD DATA's input, in key order; returns the row count."""
    with open(target, "w", encoding="utf-8", newline="\n") as out:
        for key in sorted(rows):
            numeric, text = rows[key]
            fields = [*(k.translate(ESCAPES) for k in key)]
            fields.append("\\N" if numeric is None else numeric)
            fields.append("\\N" if text is None else text.translate(ESCAPES))
            out.write("\t".join(fields) + "\n")
    return len(rows)
