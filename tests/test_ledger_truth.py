"""The ledger tells the truth about every load: the target checked on every load, the skip
rule asks the latest load, no row stays `loading`, every failure is recorded, a skipped
load is finished with its duration. Against a real MariaDB; each test failed on the code
before its fix."""

from __future__ import annotations

import gzip
import json
import resource
import signal
import subprocess
import time

import pytest

from loader.errors import SchemaError
from loader.mysql import ledger
from loader.mysql.connection import connect
from loader.mysql.merge import merge
from loader.mysql.session import Session
from loader.prepare.prepared import PreparedFile
from loader.sources import SourceIdentity
from tests.conftest import csv_bytes, load_file, query, table
from tests.helpers import export, fundsync, fundsync_command, plain_url, statuses

pytestmark = pytest.mark.db


# -- the target checked on every load ----------------------------------------------------


def test_a_second_unique_key_added_under_a_kept_connection_is_refused(db, tmp_path):
    with Session(db) as session:
        assert (
            load_file(session, export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")).status == "loaded"
        )
        other = connect(db)
        other.cursor().execute("ALTER TABLE fund_data ADD UNIQUE KEY uk_other (ticker, d_trade)")
        other.close()
        report = load_file(session, export(tmp_path / "b.csv", "2025-12-10,S,T,C,1"))
    assert (report.status, report.error_type) == ("failed", "SchemaError")
    assert "exactly one unique key" in report.errors[0]["reason"]
    assert len(table(db)) == 1


def test_a_case_insensitive_key_collation_is_refused(db, tmp_path):
    conn = connect(db)
    conn.cursor().execute(
        "ALTER TABLE fund_data MODIFY stock VARCHAR(32) CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_general_ci NOT NULL"
    )
    conn.close()
    with Session(db) as session:
        with pytest.raises(SchemaError, match="byte for byte"):
            session.check_target()
        report = load_file(
            session, export(tmp_path / "a.csv", "2025-12-09,abc,T,C,1", "2025-12-09,ABC,T,C,2")
        )
    assert (report.status, report.error_type) == ("failed", "SchemaError")
    assert table(db) == []


# -- the skip rule looks at the latest load ----------------------------------------------


def test_v1_v2_v1_under_the_same_path_loads_v1_again(db, tmp_path):
    path = tmp_path / "day.csv"
    with Session(db) as session:
        assert load_file(session, export(path, "2025-12-09,S,T,C,1")).status == "loaded"
        assert load_file(session, export(path, "2025-12-09,S,T,C,2")).status == "loaded"
        again = load_file(session, export(path, "2025-12-09,S,T,C,1"))
    assert (again.status, again.updated) == ("loaded", 1)
    assert [r[4] for r in table(db)] == [1]


# -- no ledger row stays loading ----------------------------------------------------------


def test_an_error_text_longer_than_the_column_is_cut_and_the_row_finished(db):
    long = "ข" * 40_000  # 120,000 bytes of UTF-8
    identity = SourceIdentity("long-error.csv", "0" * 64, 10)
    with Session(db) as session:
        report = merge(session, PreparedFile.failed(identity, RuntimeError(long)))
    assert report.status == "failed"
    [(status, error)] = query(db, "SELECT status, error FROM fund_data_loads")
    assert status == "failed" and error.endswith("[cut: 40,000 characters in all]")
    assert len(error.encode()) <= ledger.ERROR_BYTES


def test_a_killed_attempt_is_marked_abandoned_by_the_next_one(db, tmp_path):
    path = export(tmp_path / "day.csv", *(f"2025-12-09,S{i},T,C,{i}" for i in range(200)))
    locker = connect(db)
    locker.cursor().execute("LOCK TABLES fund_data WRITE")
    process = subprocess.Popen(
        [fundsync_command(), "load", str(path), "--db", plain_url(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while statuses(db) != ["loading"] and time.monotonic() < deadline:
        time.sleep(0.1)
    process.kill()
    process.wait()
    locker.cursor().execute("UNLOCK TABLES")
    locker.close()
    time.sleep(0.5)  # the server notices the dead client, its named lock goes with it
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
    assert statuses(db) == ["abandoned", "loaded"]
    [(error,)] = query(db, "SELECT error FROM fund_data_loads WHERE status = 'abandoned'")
    assert "ended before it finished" in error


def test_a_source_that_can_be_read_only_once_loads(db, tmp_path):
    path = export(tmp_path / "day.csv", "2025-12-09,S,T,C,1", "2025-12-09,S,T,D,2")
    run = subprocess.run(
        ["bash", "-c", f'"{fundsync_command()}" load --json <(cat "{path}") --db "{plain_url(db)}"'],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert (report["status"], report["inserted"]) == ("loaded", 2)
    assert statuses(db) == ["loaded"]


def test_a_full_disk_while_spooling_is_a_failed_load_of_one_line(db, tmp_path):
    rows = (f"2025-12-09,S{i},T,C,{i}.123456" for i in range(1_300_000))
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(csv_bytes(*rows), compresslevel=1))  # ~47 MB unpacked

    def small_files() -> None:  # as if the disk had only 4 MB left
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    run = subprocess.run(
        [fundsync_command(), "load", str(path), "--db", plain_url(db)],
        capture_output=True, text=True, timeout=300, preexec_fn=small_files,
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert [x for x in run.stdout.splitlines() if x.startswith("failed")]
    assert "File too large" in run.stdout
    assert statuses(db) == ["failed"]


# -- every failure reported ----------------------------------------------------------------


def test_a_path_longer_than_the_lineage_column_is_a_clear_rejection(db, tmp_path):
    deep = tmp_path
    while len(str(deep)) < 1100:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    path = export(deep / "x.csv", "2025-12-09,S,T,C,1")
    run = fundsync("load", str(path), "--db", plain_url(db))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "the source key is" in run.stdout and "over the 1,024" in run.stdout
    assert statuses(db) == ["rejected"]


def test_a_missing_ledger_table_says_to_run_migrate(db, tmp_path):
    conn = connect(db)
    conn.cursor().execute("DROP TABLE fund_data_loads")
    conn.close()
    run = fundsync(
        "load", str(export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")), "--db", plain_url(db)
    )
    assert run.returncode == 1 and "run fundsync migrate" in run.stdout


# -- small things ------------------------------------------------------------------------


def test_a_skipped_load_is_finished_with_a_duration(db, tmp_path):
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    fundsync("load", str(path), "--db", plain_url(db))
    fundsync("load", str(path), "--db", plain_url(db))
    rows = query(
        db, "SELECT status, finished_at IS NOT NULL, duration_ms FROM fund_data_loads ORDER BY id"
    )
    assert [r[:2] for r in rows] == [("loaded", 1), ("skipped", 1)] and rows[1][2] is not None
