"""The one staging shape (StagedRows): typed rows, key order, digests, the staging text.

A backfill's worker writes the staging text into a file and hands the merging
process its path; the merge then consumes the rows several times (the quality gate,
the digest pre-pass or the diff, replace-days' deletion, the proof). The file is read
back once per load, whatever the path.
"""

from __future__ import annotations

import pickle
from decimal import Decimal

import polars as pl
import pytest

import loader.prepare.stagetext as stagetext
from loader.mysql.merge import merge
from loader.mysql.merge_options import MergeOptions
from loader.mysql.session import Session
from loader.parse import parse_file
from loader.prepare.keyorder import key_sorted
from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.prepare.staging import StagedRows
from loader.settings import ParseSettings
from loader.sources import LocalFile
from tests.conftest import csv_bytes, load_file, query

FUNDS = 60


def day_file(path, changed: int = 0):
    rows = []
    for fund in range(FUNDS):
        nav = Decimal(fund) + Decimal("0.125") + (1 if fund < changed else 0)
        rows.append(f"2025-12-09,F{fund:03d},T{fund:03d}-A,NAV,{nav}")
        rows.append(f'2025-12-09,F{fund:03d},T{fund:03d}-A,NOTE,"tab\there {fund}"')
    path.write_bytes(csv_bytes(*rows))
    return path


@pytest.fixture
def reads(monkeypatch):
    """How often a staging file is read back (the real reader, counted)."""
    real = stagetext.read_staging_file
    seen: list[str] = []

    def counted(path):
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(stagetext, "read_staging_file", counted)
    return seen


def test_rows_in_a_file_come_back_typed_in_key_order_with_the_same_digests(tmp_path):
    parsed = parse_file(day_file(tmp_path / "day.csv")).rows
    in_memory = StagedRows(parsed)
    in_file = pickle.loads(pickle.dumps(in_memory.to_file(tmp_path)))  # as a worker hands it
    assert in_file.path is not None and in_file.height == parsed.height
    assert in_file.rows.schema["d_trade"] == pl.Date
    expected = key_sorted(parsed).select(
        "d_trade",
        pl.col("stock", "ticker", "col_code").cast(str),
        "value_numeric",
        "value_text",
    )
    assert in_file.rows.equals(expected)  # escapes undone, decimals exact
    assert in_file.order.to_list() == list(range(parsed.height))  # written in key order
    assert in_file.digests().equals(in_memory.digests())
    in_file.discard()
    assert not in_file.path.exists()


def test_a_file_s_rows_are_not_pickled_but_computed_digests_are(tmp_path):
    staged = StagedRows(parse_file(day_file(tmp_path / "day.csv")).rows)
    digests = staged.digests()
    in_file = staged.to_file(tmp_path)
    state = pickle.loads(pickle.dumps(in_file)).__dict__
    assert state["_rows"] is None and state["_digests"].equals(digests)


@pytest.mark.db
@pytest.mark.parametrize("mode", ["upsert", "replace-days"])
def test_a_worker_s_staging_file_is_read_once_per_load(db, layout, mode, tmp_path, reads):
    settings = ParseSettings(mode=mode)
    with Session(db) as session:
        assert load_file(session, day_file(tmp_path / "first.csv"), mode=mode).status == "loaded"
    correction = day_file(tmp_path / "second.csv", changed=7)
    options = PrepareOptions(parse=settings, staging_dir=str(tmp_path))
    prepared = prepare_source(LocalFile(str(correction)), options)
    prepared = pickle.loads(pickle.dumps(prepared))  # the backfill's hand-over
    assert prepared.staging is not None and prepared.staging.path is not None
    with Session(db) as session:
        report = merge(session, prepared, MergeOptions(verify=True))
    assert (report.status, report.updated) == ("loaded", 7)
    assert report.to_dict()["verified"] is True
    assert reads == [str(prepared.staging.path)]  # the gate, the diff or digests, the proof
    assert not prepared.staging.path.exists()
    navs = query(db, "SELECT value_numeric FROM fund_data WHERE stock = 'F000' AND col_code='NAV'")
    assert navs == [(Decimal("1.125000000000"),)]
