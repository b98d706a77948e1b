"""spec §2, §2.1, §2.2 against a real server: migrations, merge semantics, counts, ledger."""

import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loader.devtools.dbserver import fresh_database
from loader.errors import MergeCountMismatch, SchemaError
from loader.mysql import sql
from loader.mysql.connection import connect
from loader.mysql.counts import counts_from_server
from loader.mysql.migrate import migrate, migrations
from loader.mysql.read import get_by_source, get_by_ticker
from loader.mysql.schema import check_target
from loader.mysql.session import Session
from loader.report import MergeCounts
from tests.conftest import csv_bytes, load_file, query, table

pytestmark = pytest.mark.db


def export(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_bytes(csv_bytes(*rows))
    return path


def test_migrate_is_idempotent_and_recorded(db):
    conn = connect(db)
    try:
        assert migrate(conn) == []  # the fixture already migrated
    finally:
        conn.close()
    versions = query(db, "SELECT version, name FROM fundsync_schema_migrations ORDER BY version")
    assert versions == [
        (1, "fund_data"),
        (2, "fund_data_loads"),
        (3, "ledger_days_and_abandoned"),
        (4, "verified_and_replace_days"),
        (5, "requests_and_days"),
        (6, "prune"),
        (7, "change_log"),
        (8, "watch"),
    ]


def test_two_processes_migrating_at_once_apply_each_file_once(db_server_url):
    results, errors = [], []
    with fresh_database(db_server_url, migrated=False) as target:

        def run():
            try:
                conn = connect(target)
                results.append(len(migrate(conn)))
                conn.close()
            except Exception as error:  # pragma: no cover - the assertion shows it
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        applied = len(migrations())
        assert sorted(results) == [0, 0, 0, applied]
        assert query(target, "SELECT COUNT(*) FROM fundsync_schema_migrations") == [(applied,)]


def test_merge_semantics_and_exact_counts(db, layout, tmp_path):
    first = export(
        tmp_path,
        "day1.csv",
        "2025-12-09,S,T,A,1.50",
        "2025-12-09,S,T,B,text",
        "2025-12-09,S,T,C,7",
        "2025-12-09,S,T,D,same",
    )
    second = export(
        tmp_path,
        "day1-fix.csv",
        "2025-12-09,S,T,A,1.5",  # same value: unchanged
        "2025-12-09,S,T,B,Text",  # case change: updated
        "2025-12-09,S,T,C,NULL",  # to NULL: updated
        "2025-12-09,S,T,D,same",  # unchanged
        "2025-12-09,S,T,E,9",
    )  # new: inserted
    with Session(db) as loader:
        one = load_file(loader, first)
        assert (one.status, one.inserted, one.updated, one.unchanged) == ("loaded", 4, 0, 0)
        before = {
            r[3]: r
            for r in query(
                db,
                "SELECT d_trade, stock, ticker, col_code, s3_source_key, synced_at FROM fund_data",
            )
        }
        two = load_file(loader, second)
    assert (two.status, two.inserted, two.updated, two.unchanged) == ("loaded", 1, 2, 2)
    assert two.rows_merged == 5
    rows = {
        r[3]: r
        for r in query(
            db,
            "SELECT d_trade, stock, ticker, col_code, value_numeric, "
            "value_text, s3_source_key, synced_at FROM fund_data",
        )
    }
    assert rows["A"][4:7] == (Decimal("1.5"), None, str(first))  # lineage untouched
    assert rows["A"][7] == before["A"][5]
    assert rows["D"][6] == str(first) and rows["D"][7] == before["D"][5]
    assert rows["B"][4:7] == (None, "Text", str(second))
    assert rows["B"][7] > before["B"][5]  # synced_at moved with the change
    assert rows["C"][4:7] == (None, None, str(second))
    assert rows["E"][4:7] == (Decimal(9), None, str(second))


def test_key_columns_compare_byte_for_byte(db, tmp_path):
    path = export(
        tmp_path,
        "keys.csv",
        "2025-12-09,abc,T,C,1",
        "2025-12-09,ABC,T,C,2",
        "2025-12-09,ÅBC,T,C,3",
        "2025-12-09,A\u030aBC,T,C,4",
    )
    with Session(db) as loader:
        assert load_file(loader, path).inserted == 4
    assert len(table(db)) == 4


def test_trailing_space_inside_text_is_a_change(db, tmp_path):
    with Session(db) as loader:
        load_file(loader, export(tmp_path, "a.csv", '2025-12-09,S,T,C,"x  y"'))
        report = load_file(loader, export(tmp_path, "b.csv", '2025-12-09,S,T,C,"x y"'))
    assert report.updated == 1


def test_synced_at_is_in_the_configured_zone(db, tmp_path):
    with Session(db) as loader:
        load_file(loader, export(tmp_path, "a.csv", "2025-12-09,S,T,C,1"))
    [(synced, utc_now)] = query(db, "SELECT synced_at, UTC_TIMESTAMP(6) FROM fund_data")
    offset = (synced - utc_now).total_seconds() / 3600
    assert round(offset) == 7


def test_the_server_counts_are_derived_as_documented(db, tmp_path):
    """Prove on this server what ``Duplicates`` in the OK packet counts."""
    with Session(db) as loader:
        load_file(loader, export(tmp_path, "a.csv", "2025-12-09,S,T,A,1", "2025-12-09,S,T,B,2"))
        conn = loader.connection()
        cur = conn.cursor()
        cur.execute(sql.TRUNCATE_STAGE)
        cur.execute(
            f"INSERT INTO {sql.STAGE_TABLE} VALUES ('2025-12-09','S','T','A',1,NULL),"
            "('2025-12-09','S','T','B',3,NULL),('2025-12-09','S','T','C',4,NULL)"
        )
        cur.execute(sql.SET_LINEAGE, ("x",))
        result = conn.cmd_query(sql.merge())
        conn.rollback()
        cur.execute("SELECT VERSION()")
        mariadb = "mariadb" in cur.fetchone()[0].lower()
    records, duplicates = (int(x) for x in result["info_msg"].split()[1:4:2])
    assert (records, result["affected_rows"]) == (3, 1 + 2 * 1)  # 1 inserted, 1 updated, 1 same
    assert duplicates == (1 if mariadb else 2)  # MariaDB: updated only; MySQL: every existing key
    assert counts_from_server(3, result["affected_rows"], result["info_msg"], mariadb) == (
        MergeCounts(1, 1, 1)
    )


def test_counts_that_do_not_add_up_are_refused():
    with pytest.raises(MergeCountMismatch, match="do not add up"):
        counts_from_server(3, 5, "Records: 3  Duplicates: 1  Warnings: 0", True)


def test_a_table_with_another_unique_key_is_refused(db):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute(
        "ALTER TABLE fund_data ADD UNIQUE KEY uk_other (ticker, d_trade, col_code, stock, value_numeric)"
    )
    try:
        with pytest.raises(SchemaError):
            check_target(conn)
    finally:
        conn.close()


def test_a_rejected_file_writes_nothing_and_is_recorded(db, tmp_path):
    with Session(db) as loader:
        report = load_file(
            loader, export(tmp_path, "bad.csv", "2025-12-09,S,T,C,1", "2025-13-09,S,T,D,1")
        )
    assert report.status == "rejected" and report.errors[0]["line"] == 3
    assert table(db) == []
    [(status, error)] = query(db, "SELECT status, error FROM fund_data_loads")
    assert status == "rejected" and "line 3" in error


def test_the_ledger_skips_loaded_content_and_force_reloads(db, tmp_path):
    path = export(tmp_path, "a.csv", "2025-12-09,S,T,C,1")
    with Session(db) as loader:
        assert load_file(loader, path).status == "loaded"
        assert load_file(loader, path).status == "skipped"
        forced = load_file(loader, path, force=True)
        assert (forced.status, forced.unchanged) == ("loaded", 1)
        renamed = load_file(loader, path, key="another/key.csv")
        assert (renamed.status, renamed.unchanged, renamed.inserted) == ("loaded", 1, 0)
        path.write_bytes(csv_bytes("2025-12-09,S,T,C,2"))
        changed = load_file(loader, path)
        assert (changed.status, changed.updated) == ("loaded", 1)
    ledger = query(
        db,
        "SELECT source_key, status, inserted, updated, unchanged, finished_at IS NOT NULL "
        "FROM fund_data_loads ORDER BY id",
    )
    assert [r[1] for r in ledger] == ["loaded", "skipped", "loaded", "loaded", "loaded"]
    assert ledger[0][2:] == (1, 0, 0, 1)


def test_local_infile_refused_falls_back_to_batched_inserts(db, tmp_path):
    path = export(tmp_path, "a.csv", *(f"2025-12-09,S{i},T,C,{i}.25" for i in range(2500)))
    admin = connect(db)
    cur = admin.cursor()
    cur.execute("SET GLOBAL local_infile = 0")
    try:
        with Session(db) as loader:
            report = load_file(loader, path)
    finally:
        cur.execute("SET GLOBAL local_infile = 1")
        admin.close()
    assert (report.status, report.method, report.inserted) == ("loaded", "insert_batches", 2500)
    assert query(db, "SELECT value_numeric FROM fund_data WHERE stock = 'S7'") == [
        (Decimal("7.25"),)
    ]


def test_a_fresh_day_loads_directly_and_an_existing_day_through_staging(db, tmp_path):
    with Session(db) as loader:
        fresh = load_file(loader, export(tmp_path, "a.csv", "2025-12-09,S,T,C,1"))
        again = load_file(loader, export(tmp_path, "b.csv", "2025-12-09,S,T,D,1"))
    assert fresh.method == "load_data_local_direct" and again.method == "diff"


def test_read_api_returns_exact_decimals(db, tmp_path, monkeypatch):
    with Session(db) as loader:
        load_file(
            loader,
            export(
                tmp_path,
                "a.csv",
                "2025-12-08,S,T,C,0.000000000001",
                "2025-12-09,S,T,C,-99999999999999999999999999.999999999999",
                "2025-12-09,S,U,C,x",
            ),
        )
    frame = get_by_ticker("T", start=date(2025, 12, 9), config=db)
    assert frame["value_numeric"].to_list() == [Decimal("-99999999999999999999999999.999999999999")]
    everything = get_by_ticker("T", config=db)
    assert everything["value_numeric"].to_list()[0] == Decimal("1E-12")
    by_source = get_by_source(str(tmp_path / "a.csv"), config=db)
    assert by_source.height == 3 and isinstance(by_source["synced_at"][0], datetime)


def test_a_lock_wait_timeout_is_retried(db, tmp_path):
    with Session(db) as loader:
        load_file(loader, export(tmp_path, "a.csv", "2025-12-09,S,T,C,1", "2025-12-09,S,T,D,1"))
        loader.connection().cursor().execute("SET SESSION innodb_lock_wait_timeout = 1")
        locker = connect(db)
        cur = locker.cursor()
        locker.start_transaction()
        cur.execute("SELECT * FROM fund_data WHERE col_code = 'D' FOR UPDATE")
        cur.fetchall()
        threading.Timer(1.6, locker.rollback).start()
        report = load_file(
            loader, export(tmp_path, "b.csv", "2025-12-09,S,T,C,2", "2025-12-09,S,T,D,2")
        )
        locker.close()
    assert (report.status, report.updated) == ("loaded", 2)
    assert report.retries >= 1


def test_local_infile_is_allowed_only_from_the_staging_directory(db, tmp_path):
    import mysql.connector

    outside = tmp_path / "secret.txt"
    outside.write_text("2025-12-09\tS\tT\tC\t1\t\\N\n")
    with Session(db) as loader:
        loader.empty_stage(0)  # the staging table is made on a load's first use
        cur = loader.connection().cursor()
        with pytest.raises(mysql.connector.Error):
            cur.execute(sql.load_data(sql.STAGE_TABLE), (str(outside),))
        loader.close()  # the refused request leaves that protocol session unusable
    with Session(db) as loader:
        loader.empty_stage(0)
        cur = loader.connection().cursor()
        inside = loader.staging.new_file()
        inside.write_text("2025-12-09\tS\tT\tC\t1\t\\N\n")
        cur.execute(sql.load_data(sql.STAGE_TABLE), (str(inside),))
        assert cur.rowcount == 1
        loader.connection().rollback()
