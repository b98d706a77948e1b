"""A ``fund_data`` partitioned by trade date (docs/mysql.md, "The table layout"): the operator's
conversion of a populated table keeps every row, and every kind of load, replace-days,
verify and prune then give exactly what they give on the unpartitioned table."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from loader.devtools.dbserver import fresh_database
from loader.mysql.connection import connect
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query, table
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db
FIRST = date(2025, 12, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(4)]


def partition_by_day(config, days: list[date]) -> None:
    """The conversion docs/mysql.md gives: a partition per trade date held, one for the rest."""
    parts = ", ".join(
        f"PARTITION p{d:%Y%m%d} VALUES LESS THAN ('{d + timedelta(days=1)}')" for d in days
    )
    conn = connect(config)
    try:
        conn.cursor().execute(
            "ALTER TABLE fund_data PARTITION BY RANGE COLUMNS(d_trade) "
            f"({parts}, PARTITION pfuture VALUES LESS THAN (MAXVALUE))"
        )
    finally:
        conn.close()


def partitions(config) -> list[str]:
    return [
        name
        for (name,) in query(
            config,
            "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE "
            "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fund_data' AND PARTITION_NAME IS "
            "NOT NULL ORDER BY PARTITION_ORDINAL_POSITION",
        )
    ]


def day_file(tmp_path, name: str, day: date, funds: range, shift: int = 0):
    path = tmp_path / name
    path.write_bytes(
        csv_bytes(*(f"{day},F{f},T{f % 3},C{c},{f + shift}.{c}" for f in funds for c in range(5)))
    )
    return path


def history(config, tmp_path) -> None:
    with Session(config) as session:
        for day in DAYS:
            path = day_file(tmp_path, f"{day}.csv", day, range(20))
            assert load_file(session, path).status == "loaded"


def the_week(config, tmp_path) -> list[tuple]:
    """A correction, a restated day, a new date, a prune: the report of each."""
    done = []
    with Session(config) as session:
        fix = day_file(tmp_path, "fix.csv", DAYS[1], range(0, 20, 4), shift=1)
        done.append(load_file(session, fix))
        snap = day_file(tmp_path, "snap.csv", DAYS[2], range(1, 20), shift=2)
        done.append(load_file(session, snap, mode="replace-days"))
        new = day_file(tmp_path, "new.csv", DAYS[-1] + timedelta(days=1), range(30))
        done.append(load_file(session, new))
    reports = [(r.status, r.inserted, r.updated, r.unchanged, r.to_dict()["deleted"]) for r in done]
    pruned = fundsync("prune", "--before", str(DAYS[1]), "--json", "--db", plain_url(config))
    assert pruned.returncode == 0, pruned.stderr
    return [*reports, json.loads(pruned.stdout)["rows"]]


def test_a_populated_table_partitioned_by_day_loads_exactly_as_the_plain_one(
    db, db_server_url, tmp_path
):
    history(db, tmp_path)
    before = table(db)
    partition_by_day(db, DAYS)
    assert table(db) == before  # the conversion keeps every row
    assert partitions(db) == [*(f"p{d:%Y%m%d}" for d in DAYS), "pfuture"]
    with fresh_database(db_server_url) as plain:
        history(plain, tmp_path)
        expected = the_week(plain, tmp_path)
        expected_rows = table(plain)
    assert the_week(db, tmp_path) == expected
    assert table(db) == expected_rows
    assert expected[1][4], expected  # the restated day deleted funds the snapshot lacks
    pruned, kept = (
        query(db, f"SELECT COUNT(*) FROM fund_data PARTITION (p{d:%Y%m%d})")[0][0] for d in DAYS[:2]
    )
    assert (pruned, kept) == (0, 100)
    verify = fundsync("verify", "--date", str(DAYS[2]), "--json", "--db", plain_url(db))
    assert verify.returncode == 0, verify.stdout + verify.stderr
