"""fund_data_days: every load keeps each trade date's row count exact in its own transaction
(the operator's views read it instead of counting fund_data), and a rolled-back load leaves
no trace in it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query

pytestmark = pytest.mark.db


def counted(config) -> dict:
    return dict(query(config, "SELECT d_trade, COUNT(*) FROM fund_data GROUP BY d_trade"))


def kept(config) -> dict:
    return dict(query(config, "SELECT d_trade, row_count FROM fund_data_days WHERE row_count > 0"))


def export(tmp_path, name, rows):
    path = tmp_path / name
    path.write_bytes(csv_bytes(*rows))
    return path


def rows(day, funds, cols=3, value="1"):
    return [f"{day},F{f},F{f}-A,C{c},{value}" for f in funds for c in range(cols)]


def test_every_kind_of_load_keeps_the_day_counts_exact(db, layout, tmp_path):
    steps = [
        ("fresh day (direct)", rows("2025-12-09", range(20)), {}),
        ("a correction of one day", rows("2025-12-09", range(10, 30), value="2"), {}),
        (
            "two days at once, new keys on both",
            rows("2025-12-09", range(25, 40), value="3") + rows("2025-12-10", range(5)),
            {},
        ),
        ("replace-days deletes", rows("2025-12-09", range(0, 36), value="3"),
         {"mode": "replace-days", "allow_mass_delete": True}),
        ("a header-only snapshot", [], {"mode": "replace-days", "allow_mass_delete": True}),
    ]  # fmt: skip
    with Session(replace(db, quality="all=off")) as session:  # day counts, not the gate
        for i, (what, lines, settings) in enumerate(steps):
            report = load_file(session, export(tmp_path, f"{i}.csv", lines), **settings)
            assert report.status == "loaded", (what, report.failure)
            assert kept(db) == counted(db), what


def test_a_rejected_load_changes_no_count(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "a.csv", rows("2025-12-09", range(20))))
        before = query(db, "SELECT * FROM fund_data_days")
        refused = load_file(
            session, export(tmp_path, "b.csv", rows("2025-12-09", range(2))), mode="replace-days"
        )
        assert refused.status == "rejected"
        assert query(db, "SELECT * FROM fund_data_days") == before
