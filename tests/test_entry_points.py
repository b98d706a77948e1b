"""replace-days and --verify through every entry point that had no end-to-end test of them
(issue 26.7): the worker over moto's server and the backfill, each checked against the
ledger (the digest of a verified load, the rows a snapshot deleted) and the table."""

from __future__ import annotations

import pytest

from tests.conftest import csv_bytes, query, table
from tests.helpers import backfill, plain_url
from tests.test_pipeline_e2e import run_worker

DAY = "2025-12-09"
FULL = [f"{DAY},F{f},F{f}-A,C{c},{f}.{c}" for f in range(10) for c in range(4)]
SNAPSHOT = [line for line in FULL if not line.startswith(f"{DAY},F3,")]  # F3 gone: 4 of 40


@pytest.mark.aws
@pytest.mark.db
def test_the_worker_loads_a_snapshot_verified(wired, db):
    lake, env = wired
    lake.put(f"{DAY}/fund_data_{DAY}.csv", csv_bytes(*FULL))
    run_worker(lake, env, "--verify")
    key = lake.put(f"{DAY}/fund_data_{DAY}_snapshot.csv", csv_bytes(*SNAPSHOT))
    run_worker(lake, env, "--verify", "--mode", "replace-days", "--max-delete-share", "0.2")
    loads = query(db, "SELECT source_key, status, deleted, digest IS NOT NULL, mode "
                      "FROM fund_data_loads ORDER BY id")  # fmt: skip
    assert loads[-1] == (key, "loaded", 4, 1, "replace-days"), loads
    assert loads[0][1:4] == ("loaded", None, 1)
    assert {r[1] for r in table(db)} == {f"F{f}" for f in range(10) if f != 3}
    assert query(db, "SELECT row_count FROM fund_data_days") == [(36,)]


@pytest.mark.db
def test_the_backfill_loads_snapshots_verified(db, tmp_path):
    folder = tmp_path / "lake"
    (folder / DAY).mkdir(parents=True)
    (folder / DAY / "fund_data_a.csv").write_bytes(csv_bytes(*FULL))
    run = backfill(plain_url(db), str(folder), "--verify")
    assert run.returncode == 0, run.stdout + run.stderr
    (folder / DAY / "fund_data_b.csv").write_bytes(csv_bytes(*SNAPSHOT))
    run = backfill(plain_url(db), str(folder), "--verify", "--mode", "replace-days",
                   "--max-delete-share", "0.2", "--glob", "*_b.csv")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    loads = query(db, "SELECT source_key, deleted, digest IS NOT NULL, mode FROM fund_data_loads "
                      "WHERE status = 'loaded' ORDER BY id")  # fmt: skip
    assert [row[1:] for row in loads] == [(None, 1, "upsert"), (4, 1, "replace-days")], loads
    assert loads[-1][0].endswith("fund_data_b.csv")
    assert {r[1] for r in table(db)} == {f"F{f}" for f in range(10) if f != 3}
