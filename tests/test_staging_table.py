"""The regular staging table (``staging_table=regular``, for Aurora's fast insert path):
the same merge as the TEMPORARY one, a table of each load's own, dropped after it, and a
leftover of a killed load dropped by the next one (never a live load's)."""

from dataclasses import replace
from pathlib import Path

import pytest

from loader.errors import ConfigError
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.mysql.ledger import lock_name
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query, table

pytestmark = pytest.mark.db

STAGES = "SHOW TABLES LIKE 'fund\\_data\\_stage%'"


def export(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_bytes(csv_bytes(*rows))
    return path


def test_a_regular_staging_table_merges_as_the_temporary_one(db, tmp_path):
    day = ("2025-12-09,S,T,A,1.50", "2025-12-09,S,T,B,text", "2025-12-09,S,T,C,7")
    fix = ("2025-12-09,S,T,A,1.5", "2025-12-09,S,T,B,Text", "2025-12-09,S,T,C,7",
           "2025-12-09,S,T,D,9")  # fmt: skip
    outcomes = {}
    for mode in ("temporary", "regular"):
        config = replace(db, staging_table=mode)
        with connect(db) as conn:
            cur = conn.cursor()
            cur.execute("DELETE FROM fund_data")
            cur.execute("DELETE FROM fund_data_load_days")
            cur.execute("DELETE FROM fund_data_loads")
            conn.commit()
        with Session(config) as session:
            first = load_file(session, export(tmp_path, "day.csv", *day))
            second = load_file(session, export(tmp_path, "fix.csv", *fix))
            third = load_file(session, export(tmp_path, "copy.csv", *fix))
        outcomes[mode] = (
            [
                (r.status, r.method, r.inserted, r.updated, r.unchanged)
                for r in (first, second, third)
            ],
            [row[:6] for row in table(db)],
        )
        assert query(db, STAGES) == []  # nothing left behind
    assert outcomes["regular"] == outcomes["temporary"]
    reports, rows = outcomes["regular"]
    assert [r[0] for r in reports] == ["loaded"] * 3
    assert reports[1][2:] == (1, 1, 2) and reports[2][2:] == (0, 0, 4)
    assert len(rows) == 4


def test_a_leftover_of_a_killed_load_goes_and_a_live_loads_table_stays(db, tmp_path):
    config = replace(db, staging_table="regular")
    live = connect(db)
    try:
        cur = live.cursor()
        cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(998),))  # a load still running
        cur.fetchall()
        for ledger_id in (998, 999):  # 999: its load was killed (nobody holds its lock)
            cur.execute(f"CREATE TABLE fund_data_stage_{ledger_id} (x INT)")
        cur.execute("CREATE TABLE fund_data_stage_notes (x INT)")  # not a load's: left alone
        with Session(config) as session:
            report = load_file(session, export(tmp_path, "a.csv", "2025-12-09,S,T,C,1"))
            report = load_file(session, export(tmp_path, "b.csv", "2025-12-09,S,T,C,2"))
        assert report.status == "loaded" and report.updated == 1
        assert sorted(r[0] for r in query(db, STAGES)) == [
            "fund_data_stage_998",
            "fund_data_stage_notes",
        ]
    finally:
        live.close()


def test_the_staging_table_is_set_by_url_or_environment():
    url = "mysql://u@h:3306/d"
    assert DbConfig.from_url(url).staging_table == "temporary"
    assert DbConfig.from_url(url + "?staging_table=regular").staging_table == "regular"
    env = {"FUNDSYNC_DB_URL": url, "FUNDSYNC_STAGING_TABLE": "Regular"}
    assert DbConfig.from_env(environ=env).staging_table == "regular"
    with pytest.raises(ConfigError, match="staging_table 'permanent': use one of"):
        DbConfig.from_url(url + "?staging_table=permanent")
