"""Micro-benchmarks of the load stages (pytest-benchmark): staging write, LOAD DATA, merge.

Together with bench/test_parse_bench.py (decode, record scan, value split, parse,
dedup) this covers every stage of one load. Saved by ``./dev just bench-stages``
(``--benchmark-autosave``); compare two runs with ``--benchmark-compare``.
"""

from __future__ import annotations

from typing import Any

import pytest

from loader.mysql import sql
from loader.mysql.connection import connect
from loader.parse import parse_file
from loader.prepare.stagedir import StagingDir
from loader.prepare.stagetext import write_staging_file


def _rows_per_second(benchmark, rows: int) -> None:
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["rows_per_second"] = rows / benchmark.stats.stats.min


@pytest.fixture(scope="module")
def parsed(typical_export):
    return parse_file(typical_export)


@pytest.fixture(scope="module")
def staged(parsed, bench_db):
    """A staging file of the typical export and a connection allowed to read it."""
    with StagingDir() as staging:
        path = staging.new_file()
        rows = write_staging_file(parsed.rows, path)
        conn = connect(bench_db, staging_dir=staging.path)
        cur: Any = conn.cursor()
        cur.execute(sql.CREATE_STAGE)
        cur.execute(sql.SET_LINEAGE, ("bench",))
        yield conn, cur, path, rows
        conn.close()


def test_staging_write(benchmark, parsed, tmp_path):
    target = tmp_path / "stage.tsv"
    rows = benchmark.pedantic(
        lambda: write_staging_file(parsed.rows, target), rounds=5, iterations=1
    )
    _rows_per_second(benchmark, rows)


def test_load_data_into_stage(benchmark, staged):
    conn, cur, path, rows = staged

    def setup():
        cur.execute(sql.TRUNCATE_STAGE)

    def run():
        cur.execute(sql.load_data(sql.STAGE_TABLE), (str(path),))
        conn.commit()
        assert cur.rowcount == rows

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    _rows_per_second(benchmark, rows)


def test_merge_all_new(benchmark, staged):
    conn, cur, path, rows = staged
    cur.execute(sql.TRUNCATE_STAGE)
    cur.execute(sql.load_data(sql.STAGE_TABLE), (str(path),))
    conn.commit()

    def setup():
        cur.execute("TRUNCATE TABLE fund_data")

    def run():
        conn.cmd_query(sql.merge())
        conn.commit()

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    _rows_per_second(benchmark, rows)


def test_merge_all_unchanged(benchmark, staged):
    conn, cur, path, rows = staged
    cur.execute("TRUNCATE TABLE fund_data")
    cur.execute(sql.TRUNCATE_STAGE)
    cur.execute(sql.load_data(sql.STAGE_TABLE), (str(path),))
    conn.cmd_query(sql.merge())
    conn.commit()

    def run():
        result = conn.cmd_query(sql.merge())
        conn.commit()
        assert result["affected_rows"] == 0  # nothing changed, nothing written

    benchmark.pedantic(run, rounds=3, iterations=1)
    _rows_per_second(benchmark, rows)


def test_load_data_straight_into_fund_data(benchmark, staged):
    conn, cur, path, rows = staged

    def setup():
        cur.execute("TRUNCATE TABLE fund_data")

    def run():
        cur.execute(sql.load_data_into_target(), (str(path),))
        conn.commit()

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    _rows_per_second(benchmark, rows)


def test_drop_unchanged_rows(benchmark, staged):
    """The pre-pass that removes staged rows fund_data already holds (all of them here)."""
    conn, cur, path, rows = staged
    cur.execute("TRUNCATE TABLE fund_data")
    cur.execute(sql.TRUNCATE_STAGE)
    cur.execute(sql.load_data(sql.STAGE_TABLE), (str(path),))
    conn.cmd_query(sql.merge())
    conn.commit()

    def setup():
        conn.rollback()  # the TEMPORARY stage is transactional: its rows come back
        conn.start_transaction(isolation_level="READ COMMITTED")

    def run():
        cur.execute(sql.delete_unchanged_from_stage())
        assert cur.rowcount == rows

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    conn.rollback()
    _rows_per_second(benchmark, rows)
