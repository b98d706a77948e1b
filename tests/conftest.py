"""Shared helpers. Tests without a ``db`` or ``aws`` marker are the fast ``unit`` tier."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from loader.errors import FileRejected
from loader.parse import parse_file
from loader.result import ParseResult
from loader.settings import ParseSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(m) for m in ("db", "aws")):
            item.add_marker(pytest.mark.unit)


HEADER = "d_trade,stock,ticker,col_code,value"


def csv_bytes(
    *rows: str, header: str = HEADER, newline: str = "\n", encoding: str = "utf-8"
) -> bytes:
    """An export from text lines (header first unless ``header`` is empty)."""
    lines = ([header] if header else []) + list(rows)
    return (newline.join(lines) + newline).encode(encoding)


def parse(data: bytes, name: str = "test.csv", **settings: Any) -> ParseResult:
    return parse_file(data, name=name, settings=ParseSettings(**settings))


def reject(data: bytes, name: str = "test.csv", **settings: Any) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse(data, name=name, **settings)
    return caught.value


Row = tuple[Any, str, str, str, Decimal | None, str | None]


def rows_of(result: ParseResult) -> list[Row]:
    """Rows as plain Python values, in the result's order."""
    frame = result.to_arrow()
    out = []
    for r in frame.to_pylist():
        numeric = r["value_numeric"]
        out.append(
            (
                r["d_trade"],
                r["stock"],
                r["ticker"],
                r["col_code"],
                None if numeric is None else Decimal(numeric),
                r["value_text"],
            )
        )
    return out


def values_of(result: ParseResult) -> list[tuple[Decimal | None, str | None]]:
    return [(r[4], r[5]) for r in rows_of(result)]


def one_value(value: str, **settings: Any) -> tuple[Decimal | None, str | None]:
    """Parse a single value through a whole file; (value_numeric, value_text)."""
    quoted = '"' + value.replace('"', '""') + '"'
    result = parse(csv_bytes(f"2025-12-09,S,T,C,{quoted}"), **settings)
    [pair] = values_of(result)
    return pair
