"""Micro-benchmarks of the parse stage, per step (pytest-benchmark; compare runs with
``--benchmark-compare``). Run with ``./dev bench`` or ``just bench``."""

from __future__ import annotations

import polars as pl
import pytest

from loader.parse import parse_file
from loader.parse.csvscan import record_pieces, scan_piece
from loader.parse.decode import inspect
from loader.parse.numbers import split_values
from loader.settings import ParseSettings

SETTINGS = ParseSettings()


def _rows_per_second(benchmark, rows: int) -> None:
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["rows_per_second"] = rows / benchmark.stats.stats.min


def test_decode_inspect(benchmark, typical_export):
    def run():
        with inspect(typical_export, str(typical_export), SETTINGS) as decoded:
            return decoded.info

    benchmark.pedantic(run, rounds=5, iterations=1)
    _rows_per_second(benchmark, 1_000_000)


def test_record_scan(benchmark, typical_export):
    def run():
        with inspect(typical_export, str(typical_export), SETTINGS) as decoded:
            pieces = record_pieces(
                decoded.utf8_blocks(SETTINGS.chunk_bytes), "x", SETTINGS.max_record_bytes
            )
            return sum(len(scan_piece(p, ",")) for p in pieces)

    records = benchmark.pedantic(run, rounds=5, iterations=1)
    _rows_per_second(benchmark, records)


def test_value_split(benchmark, typical_export):
    values = pl.read_csv(typical_export, infer_schema=False)["value"]
    benchmark.pedantic(lambda: split_values(values), rounds=5, iterations=1)
    _rows_per_second(benchmark, len(values))


@pytest.mark.parametrize("fixture", ["typical_export", "cp1252_export"])
def test_parse_file(benchmark, request, fixture):
    path = request.getfixturevalue(fixture)
    result = benchmark.pedantic(lambda: parse_file(path), rounds=5, iterations=1)
    _rows_per_second(benchmark, result.rows_read)


def test_dedup_only(benchmark, typical_export):
    from loader.parse import dedup

    result = parse_file(typical_export)
    chunks = [result.rows.slice(i, 100_000) for i in range(0, result.rows.height, 100_000)]
    benchmark.pedantic(lambda: dedup.deduplicate(list(chunks)), rounds=5, iterations=1)
    _rows_per_second(benchmark, result.rows.height)
