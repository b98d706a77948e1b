"""The diff (loader/mysql/diff.py): the file against fund_data row by row, with the values in
the digests' canonical form, so that only new and changed rows are written; and what
replace-days lacks."""

from __future__ import annotations

from datetime import date

import pytest

from loader.mysql import diff
from loader.mysql.connection import connect
from loader.mysql.diff import diff_file
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, parse, query, table

pytestmark = pytest.mark.db
DAY = [
    "2025-12-09,F1,T1,NUM,1.5",
    "2025-12-09,F1,T1,TEXT,Suspended",
    "2025-12-09,F1,T1,NOVALUE,",
    '2025-12-09,F1,T1,CTRL,"a\x01b"',
    "2025-12-09,F2,T2,BIG,123456789012345678901234567",
    "2025-12-09,F2,T2,SMALL,0.000000000001",
    "2025-12-09,F3,T3,GONE,7",
]


@pytest.mark.parametrize("chunk", [1, 2, 4_096])
def test_only_new_and_changed_rows_are_to_write_and_the_rest_counted(
    db, tmp_path, monkeypatch, chunk
):
    """Whatever the chunks the server's groups arrive in (one group a chunk, two, all)."""
    monkeypatch.setattr(diff, "READ_CHUNK", chunk)
    path = tmp_path / "day.csv"
    path.write_bytes(csv_bytes(*DAY))
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
    file = csv_bytes(
        "2025-12-09,F1,T1,NUM,1.50",  # the same decimal, written otherwise: unchanged
        "2025-12-09,F1,T1,TEXT,suspended",  # case: changed
        "2025-12-09,F1,T1,NOVALUE,null",  # NULL either way: unchanged
        '2025-12-09,F1,T1,CTRL,"a\x01b"',  # unchanged
        "2025-12-09,F2,T2,BIG,123456789012345678901234567",  # text, unchanged
        "2025-12-09,F2,T2,SMALL,1E-12",  # the same number: unchanged
        "2025-12-09,F2,T2,NEW,3",  # new
    )
    rows = parse(file).rows
    conn = connect(db)
    conn.start_transaction()
    found = diff_file(conn, rows, whole_days=True, lacking=True)
    conn.rollback()
    conn.close()
    assert (found.updated, found.unchanged, found.inserted) == (1, 5, {date(2025, 12, 9): 1})
    assert sorted(rows[found.write]["col_code"].cast(str).to_list()) == ["NEW", "TEXT"]
    assert rows[found.changed]["col_code"].cast(str).to_list() == ["TEXT"]
    assert found.lacking.rows() == [(date(2025, 12, 9), "F3", "T3", "GONE")]
    assert found.held == {date(2025, 12, 9): 7}
    assert found.proven.is_empty()  # every fund of the file changed or lacks a key


@pytest.mark.parametrize("chunk", [1, 3, 4_096])
def test_each_chunk_of_groups_is_compared_with_its_own_funds_and_new_funds_at_the_end(
    db, tmp_path, monkeypatch, chunk
):
    """A date is compared a chunk of fund_data's groups at a time: a fund's rows meet only
    the chunk that holds it, and funds fund_data lacks entirely are new, on every date."""
    monkeypatch.setattr(diff, "READ_CHUNK", chunk)
    held = [f"2025-12-09,F{f},T{f},C{c},{f}{c}" for f in (1, 2, 3) for c in (1, 2)]
    held += [f"2025-12-10,F1,T1,C{c},1{c}" for c in (1, 2)]
    path = tmp_path / "held.csv"
    path.write_bytes(csv_bytes(*held))
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
    rows = parse(
        csv_bytes(
            "2025-12-09,F1,T1,C1,11",  # F1 as held: proven
            "2025-12-09,F1,T1,C2,12",
            "2025-12-09,F4,T4,C1,41",  # a fund fund_data lacks: new
            "2025-12-09,F2,T2,C1,99",  # changed
            "2025-12-09,F2,T2,C2,22",
            "2025-12-10,F5,T5,C1,51",  # new, on the second date
            "2025-12-10,F1,T1,C1,11",
            "2025-12-10,F1,T1,C2,12",
        )  # F3 is lacking
    ).rows
    conn = connect(db)
    conn.start_transaction()
    found = diff_file(conn, rows, whole_days=True, lacking=True)
    conn.rollback()
    conn.close()
    assert (found.updated, found.unchanged) == (1, 5)
    assert found.inserted == {date(2025, 12, 9): 1, date(2025, 12, 10): 1}
    assert sorted(rows[found.write]["stock"].cast(str).to_list()) == ["F2", "F4", "F5"]
    assert rows[found.changed]["col_code"].cast(str).to_list() == ["C1"]
    assert sorted(found.lacking.rows()) == [
        (date(2025, 12, 9), "F3", "T3", "C1"),
        (date(2025, 12, 9), "F3", "T3", "C2"),
    ]
    assert found.held == {date(2025, 12, 9): 6, date(2025, 12, 10): 2}
    assert sorted(found.proven.rows()) == [(date(2025, 12, 9), "F1"), (date(2025, 12, 10), "F1")]


def test_a_correction_writes_only_what_changed_and_keeps_the_lineage_of_the_rest(db, tmp_path):
    first = tmp_path / "day.csv"
    first.write_bytes(csv_bytes(*DAY))
    fix = tmp_path / "fix.csv"
    fix.write_bytes(csv_bytes(*(line.replace(",1.5", ",2.5") for line in DAY)))
    with Session(db) as session:
        load_file(session, first)
        report = load_file(session, fix)
    assert (report.method, report.inserted, report.updated, report.unchanged) == ("diff", 0, 1, 6)
    lineage = {r[3]: r[6] for r in table(db)}
    assert lineage["NUM"] == str(fix) and lineage["TEXT"] == str(first)
    assert query(db, "SELECT row_count FROM fund_data_days") == [(7,)]


def test_an_error_of_the_read_is_the_callers_and_the_connection_stays_usable(db, tmp_path):
    """The held rows are read on a thread of their own: a lock wait that times out there is
    raised to the caller as the server's error (the load retries it), and the connection
    can roll back and go on."""
    import mysql.connector

    path = tmp_path / "day.csv"
    path.write_bytes(csv_bytes(*DAY))
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
    rows = parse(csv_bytes(*DAY)).rows
    other, conn = connect(db), connect(db)
    other.start_transaction()
    other.cursor().execute("UPDATE fund_data SET value_text = 'x' WHERE col_code = 'TEXT'")
    conn.cursor().execute("SET SESSION innodb_lock_wait_timeout = 1")
    conn.start_transaction()
    with pytest.raises(mysql.connector.Error) as raised:
        diff_file(conn, rows, whole_days=True)
    assert raised.value.errno == 1205  # ER_LOCK_WAIT_TIMEOUT
    conn.rollback()
    other.rollback()
    other.close()
    conn.start_transaction()
    found = diff_file(conn, rows, whole_days=True)
    conn.rollback()
    conn.close()
    assert (found.updated, found.unchanged, found.inserted) == (0, len(DAY), {})


def test_the_rows_read_are_locked_for_the_write_and_plain_readers_still_read(db, tmp_path):
    """The read locks the rows it reads exclusively, to the commit: the rows that change are
    written under the lock already held (no shared lock to upgrade), a locking read of
    another session waits, a plain read does not."""
    import mysql.connector

    path = tmp_path / "day.csv"
    path.write_bytes(csv_bytes(*DAY))
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
    conn, other = connect(db), connect(db)
    try:
        conn.start_transaction(isolation_level="READ COMMITTED")
        diff_file(conn, parse(csv_bytes(*DAY)).rows, whole_days=True)
        cur = other.cursor()
        cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
        cur.execute("SELECT COUNT(*) FROM fund_data")
        assert cur.fetchall() == [(len(DAY),)]  # a plain read: the committed rows, no wait
        with pytest.raises(mysql.connector.Error) as raised:
            cur.execute("SELECT * FROM fund_data WHERE col_code = 'NUM' LOCK IN SHARE MODE")
            cur.fetchall()
        assert raised.value.errno == 1205  # ER_LOCK_WAIT_TIMEOUT: the load holds the row
        conn.rollback()
        cur.execute("SELECT col_code FROM fund_data WHERE col_code = 'NUM' LOCK IN SHARE MODE")
        assert cur.fetchall() == [("NUM",)]  # released at the load's end
    finally:
        other.close()
        conn.close()
