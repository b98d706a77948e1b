"""The side-by-side benchmark's harness, on a small export: it must tell exact from wrong.

Speed is not asserted (figures are for people); what is asserted is that the
harness measures every tool, that its correctness column catches a loader
that goes through float (awswrangler) or rounds (row-at-a-time on values
with 13 decimals), and that it writes its table, JSON and chart.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.reference import Unsupported, expected_rows, write_clean
from loader.devtools.samples import ExportSpec, changed_copy, write_export
from loader.parse import parse_file
from tests.helpers import plain_url

ROOT = Path(__file__).resolve().parent.parent


def test_the_reference_agrees_with_the_loader_on_generated_exports(tmp_path):
    export = write_export(tmp_path / "e.csv", ExportSpec(rows=20_000, seed=5, days=2))
    changed = changed_copy(export, tmp_path / "c.csv")
    for path in (export, changed):
        reference = expected_rows(path)
        parsed = parse_file(path).to_arrow().to_pylist()
        mine = {
            (str(r["d_trade"]), r["stock"], r["ticker"], r["col_code"]): (
                None if r["value_numeric"] is None else format(r["value_numeric"], "f"),
                r["value_text"],
            )
            for r in parsed
        }
        assert mine == reference
    # the changed copy has values with 13 decimals: text, not rounded
    import re

    long = [
        t for _, t in expected_rows(changed).values() if t and re.fullmatch(r"-?\d+\.\d{13}", t)
    ]
    assert long
    assert write_clean(expected_rows(export), tmp_path / "clean.tsv") == len(expected_rows(export))


def test_the_reference_refuses_what_it_does_not_implement(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('d_trade,stock,ticker,col_code,value\n2025-12-09,S,T,C,"1,234.5"\n')
    with pytest.raises(Unsupported):
        expected_rows(path)


def run_compare(db, out: Path, *args: str) -> dict:
    """bench/compare.py against the test server (no settling, 1,000-row history days) into
    ``out``; its JSON record."""
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "compare.py"),
            *("--db", plain_url(db), "--out", str(out), "--settle", "0"),
            *("--history-rows", "1000", *args),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((out / "compare.json").read_text())


@pytest.mark.db
@pytest.mark.slow
def test_the_side_by_side_run_marks_wrong_loads(db, tmp_path):
    out = tmp_path / "results"
    record = run_compare(
        db, out, "--rows", "3000", "--seed", "11", "--history-days", "2", "--repeat", "1"
    )
    results = {(r["shape"], r["scenario"], r["tool"]): r for r in record["results"]}
    assert len(results) == 4 * 4 + 3 * 4  # history: 4 scenarios; empty: 3; 4 tools each
    for shape, scenarios in (
        ("history", ("fresh", "reload", "changed", "middle")),
        ("empty", ("fresh", "reload", "changed")),
    ):
        for scenario in scenarios:
            assert results[(shape, scenario, "fundsync")]["exact"], (shape, scenario)
            assert results[(shape, scenario, "ceiling")]["exact"], (shape, scenario)
            assert results[(shape, scenario, "ceiling")]["x_ceiling"] == 1.0
            wrangled = results[(shape, scenario, "awswrangler")]
            assert not wrangled["exact"] and wrangled["differing"] > 0  # float64 loses digits
            assert wrangled["peak_rss_mb"] > 0 and wrangled["rows_per_second"] > 0
        assert results[(shape, "fresh", "rowwise")]["exact"]
        assert not results[(shape, "changed", "rowwise")]["exact"]  # 13 decimals rounded
    assert results[("history", "middle", "fundsync")]["rows"] == 1000  # a history day
    table = (out / "compare.md").read_text()
    assert "**WRONG**" in table and "| a fresh day | fund-data-sync load |" in table
    assert "Into history: fund_data already holds 2 days x 1,000 rows" in table
    assert "Into an empty fund_data" in table
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "innodb_log_file_size=" in record["machine"]  # the settings that move the figures


@pytest.mark.db
@pytest.mark.slow
def test_a_day_spread_over_several_dates_is_put_back_and_compared_on_every_date(db, tmp_path):
    """A 10M-row export spans 10 trade dates: before each run every one of them must be as
    the scenario needs (a fresh day absent on all), and the check must cover them all."""
    record = run_compare(
        db,
        tmp_path / "results",
        *("--rows", "3000", "--days", "2", "--seed", "12", "--history-days", "1"),
        *("--repeat", "2", "--no-empty"),
        *("--tools", "ceiling", "fundsync", "--scenarios", "changed", "fresh"),
    )
    results = {(r["scenario"], r["tool"]): r for r in record["results"]}
    # a fresh day goes straight into fund_data in every repetition: none of its dates is there
    assert results[("fresh", "fundsync")]["methods"] == ["load_data_local_direct"] * 2
    for key, result in results.items():
        assert result["exact"], key


@pytest.mark.db
def test_the_machine_line_names_the_servers_settings(db):
    from bench.server import machine

    line = machine(db)
    for name in (
        "innodb_buffer_pool_size=",
        "innodb_log_file_size=",
        "innodb_flush_log_at_trx_commit=",
    ):
        assert name in line, line
    assert "MariaDB " in line
