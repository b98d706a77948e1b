"""Bounded resources and time: memory and file limits, the INSERT fallback within
max_allowed_packet, staging directories under awkward paths, a killed backfill leaves
nothing behind, a frozen server or a held lock ends the load instead of a wait. Against a
real MariaDB; each test failed on the code before its fix."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import time

import pytest

from loader.devtools.dbserver import ThrowawayServer, fresh_database
from loader.mysql.connection import connect
from loader.mysql.merge import RETRIES
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query
from tests.helpers import export, fundsync, fundsync_command, plain_url

pytestmark = pytest.mark.db


# -- bounded resources ---------------------------------------------------------------------


def test_a_gzip_bomb_is_rejected_at_the_limit(db, tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(csv_bytes() + b"2025-12-09,S,T,C," + b"9" * (20 << 20) + b"\n"))
    assert bomb.stat().st_size < 1 << 20
    run = fundsync(
        "load", "--json", str(bomb), "--db", plain_url(db),
        env={"FUNDSYNC_MAX_UNCOMPRESSED_BYTES": str(8 << 20)},
    )  # fmt: skip
    report = json.loads(run.stdout)
    assert (report["status"], report["error_type"]) == ("rejected", "FileRejected")
    assert (
        "over 8,388,608 bytes uncompressed (FUNDSYNC_MAX_UNCOMPRESSED_BYTES)"
        in report["errors"][0]["reason"]
    )


def test_a_three_million_column_header_is_rejected_and_extra_columns_are_bounded(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_bytes(b"d_trade,stock,ticker,col_code,value" + b",x" * 3_000_000 + b"\n")
    run = fundsync("parse", "--json", str(wide))
    report = json.loads(run.stdout)
    assert run.returncode == 1 and "more than 200,000" in report["errors"][0]["reason"]
    some = tmp_path / "some.csv"
    header = "d_trade,stock,ticker,col_code,value," + ",".join(f"x{i}" for i in range(50))
    some.write_bytes(csv_bytes("2025-12-09,S,T,C,1" + ",a" * 50, header=header))
    parsed = json.loads(fundsync("parse", "--json", str(some)).stdout)
    assert len(parsed["extra_columns"]) == 20 and parsed["extra_column_count"] == 50


# -- the INSERT fallback respects max_allowed_packet ----------------------------------


def test_large_text_values_load_through_the_fallback_under_a_small_packet(tmp_path):
    with ThrowawayServer() as server, fresh_database(server.url) as config:
        admin = connect(config)
        cur = admin.cursor()
        cur.execute("SET GLOBAL local_infile = 0")
        cur.execute("SET GLOBAL max_allowed_packet = 1048576")
        admin.close()
        text = "x" * 60_000
        path = export(tmp_path / "wide.csv", *(f"2025-12-09,S{i},T,C,{text}{i}" for i in range(60)))
        with Session(config) as session:
            report = load_file(session, path)
        assert (report.status, report.method, report.inserted) == ("loaded", "insert_batches", 60)
        assert query(config, "SELECT SUM(LENGTH(value_text)) FROM fund_data") == [
            (60 * 60_000 + 110,)
        ]


# -- a work directory with quotes and backslashes ------------------------------------------


@pytest.mark.parametrize("name", ["it's", 'say "hi"', "back\\slash"])
def test_a_work_directory_with_quotes_works(db, tmp_path, name):
    work = tmp_path / name
    work.mkdir()
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    run = fundsync("load", str(path), "--db", plain_url(db), env={"FUNDSYNC_WORK_DIR": str(work)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert list(work.iterdir()) == []  # and nothing left behind


# -- a killed backfill leaves nothing behind ----------------------------------------------


def _parsing(process) -> bool:
    """A backfill's prepare worker that has been parsing for a while."""
    import psutil

    try:
        return "spawn_main" in " ".join(process.cmdline()) and process.cpu_times().user > 1.0
    except psutil.Error:
        return False


@pytest.mark.slow
def test_a_terminated_backfill_leaves_no_process_and_its_staging_goes_next_run(db, tmp_path):
    """SIGTERM while a worker parses a big file: the worker is stopped at once (its work is
    never merged), not waited for; staging left by a run killed outright goes next run.

    The worker is frozen (SIGSTOP) mid-parse before the run is told to stop, so it can never
    finish on its own: a run that waited for it instead of killing it would never end."""
    import psutil

    from loader.devtools.samples import ExportSpec, write_export

    folder = tmp_path / "h"
    folder.mkdir()
    for day in (1, 2):
        write_export(folder / f"fund_data_2025-12-0{day}.csv", ExportSpec(rows=3_000_000, seed=day))
    work = tmp_path / "work"
    work.mkdir()
    process = subprocess.Popen(
        [fundsync_command(), "backfill", str(folder), "--workers", "1", "--progress", "none",
         "--db", plain_url(db)],
        env={**os.environ, "FUNDSYNC_WORK_DIR": str(work)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    parent = psutil.Process(process.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while not workers and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = [c for c in parent.children(recursive=True) if _parsing(c)]
    assert workers, "no prepare worker started parsing"
    children = parent.children(recursive=True)
    alive: list[psutil.Process] = []
    try:
        for worker in workers:
            worker.suspend()
        process.send_signal(signal.SIGTERM)
        process.wait(120)  # raises if the run waits for the frozen worker
        _, alive = psutil.wait_procs(children, timeout=10)
    finally:  # nothing left behind, even when the test fails
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.resume()
        if process.poll() is None:
            process.kill()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.is_running():
                    child.kill()
    assert alive == []
    assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]
    stale = work / "fundsync-stage-999999999-left"  # a run killed outright (pid long gone)
    stale.mkdir()
    (stale / "x.tsv").write_text("left behind")
    link = work / "fundsync-stage-link-dangling"
    link.symlink_to(work / "gone")
    with Session(db, staging_parent=str(work)):
        assert [
            p.name for p in work.iterdir() if "999999999" in p.name or "dangling" in p.name
        ] == []


# -- time is bounded --------------------------------------------------------------------


def test_a_frozen_server_ends_in_a_failed_load_not_a_wait(tmp_path):
    with ThrowawayServer() as server, fresh_database(server.url) as config:
        path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
        with Session(config) as session:
            session.connection()
            server.process.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                session.limit_read_time(2)
                report = load_file(session, path)
                took = time.monotonic() - started
            finally:
                server.process.send_signal(signal.SIGCONT)
        # typed; the reason is shown if not (a run of the whole suite once saw DatabaseError)
        assert (report.status, report.error_type) == ("failed", "DatabaseSilent"), report.errors
        assert took < 30


def test_a_held_table_lock_ends_in_a_retryable_failure(db, tmp_path):
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    locker = connect(db)
    locker.cursor().execute("LOCK TABLES fund_data WRITE")
    try:
        run = fundsync(
            "load", "--json", str(path), "--db", plain_url(db) + "&lock_wait_timeout=1",
        )  # fmt: skip
    finally:
        locker.cursor().execute("UNLOCK TABLES")
        locker.close()
    report = json.loads(run.stdout)
    assert (report["status"], report["error_type"]) == ("failed", "DatabaseError")
    assert "1205" in report["errors"][0]["reason"]  # lock wait timeout, retried, then failed
    assert report["retries"] == RETRIES  # it said 0 once the retries ran out (issue 21.16)
