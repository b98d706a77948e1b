"""``fundsync backfill``: discovery, order, parallel loads, resuming after a real kill,
Ctrl-C, a lost database, progress in a terminal and in a pipe, the summary and exit codes.

Every run is the real command against a real MariaDB; an interrupted run is
compared row for row (lineage included) with an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from loader.backfill import discover, trade_date_of
from loader.devtools.dbserver import ThrowawayServer, fresh_database
from loader.devtools.samples import ExportSpec, changed_copy, write_export
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.mysql.migrate import migrate
from tests.conftest import query, read_until_closed, table
from tests.helpers import backfill, fundsync_command, plain_url

START = date(2025, 12, 1)


def history(folder: Path, days: int = 8, rows: int = 4000) -> Path:
    """A folder as the exports land: one per trade day, a correction of day 3, a broken file."""
    for i in range(days):
        day = START + timedelta(days=i)
        target = folder / day.isoformat() / f"fund_data_{day.isoformat()}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_export(target, ExportSpec(rows=rows, seed=100 + i, start=day, days=1))
    day3 = START + timedelta(days=2)
    original = folder / day3.isoformat() / f"fund_data_{day3.isoformat()}.csv"
    changed_copy(
        original, original.with_name(f"fund_data_{day3.isoformat()}_correction.csv"), share=0.2
    )
    broken = folder / (START + timedelta(days=4)).isoformat() / "fund_data_broken.csv"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("d_trade,stock,ticker,col_code,value\n2025-12-05,A,,C,1\n")
    (folder / "notes.txt").write_text("not an export")
    return folder


@pytest.fixture
def second_db(db_server_url):
    """Another fresh database on the same server, for the uninterrupted reference run."""
    with fresh_database(db_server_url) as config:
        yield config


def test_trade_dates_come_from_the_folder_or_the_file_name():
    assert trade_date_of("raw/sql_server/fund_data/2025-12-09/export.csv") == date(2025, 12, 9)
    assert trade_date_of("raw/x/fund_data_2025-12-09.csv") == date(2025, 12, 9)
    assert trade_date_of("exports/fund_data_20251209.csv.gz") == date(2025, 12, 9)
    assert trade_date_of("2025-12-09/fund_data_2025-12-10.csv") == date(2025, 12, 9)  # folder first
    assert trade_date_of("raw/fund_data_2025-13-40.csv") is None
    assert trade_date_of("raw/fund_data.csv") is None


def test_discovery_filters_and_orders(tmp_path):
    folder = history(tmp_path / "h")
    found = discover(str(folder))
    names = [Path(e.source).name for e in found]
    assert "notes.txt" not in names and len(found) == 10
    assert [e.trade_date for e in found] == sorted(e.trade_date for e in found)
    third = [Path(e.source).name for e in found if e.trade_date == date(2025, 12, 3)]
    assert third == ["fund_data_2025-12-03.csv", "fund_data_2025-12-03_correction.csv"]
    window = discover(str(folder), since=date(2025, 12, 3), until=date(2025, 12, 5))
    assert {e.trade_date for e in window} == {
        date(2025, 12, 3),
        date(2025, 12, 4),
        date(2025, 12, 5),
    }
    globbed = discover(str(folder), globs=("*correction*",))
    assert [Path(e.source).name for e in globbed] == ["fund_data_2025-12-03_correction.csv"]


@pytest.mark.db
def test_a_backfill_loads_in_order_and_reports(tmp_path, db):
    folder = history(tmp_path / "h")
    dry = backfill(plain_url(db), str(folder), "--dry-run")
    assert dry.returncode == 0 and "10 export(s): 10 new" in dry.stdout
    run = backfill(plain_url(db), str(folder), "--workers", "2", "--db-concurrency", "2", "--json")
    assert run.returncode == 1, run.stderr  # the broken file
    summary = json.loads(run.stdout)
    assert (summary["loaded"], summary["rejected"], summary["failed"]) == (9, 1, 0)
    [problem] = summary["problems"]
    assert problem["source"].endswith("fund_data_broken.csv")
    assert problem["errors"] == [{"line": 2, "column": "ticker", "reason": "ticker is empty"}]
    # the correction (later in the order) wins on day 3 over the original
    correction = str(folder / "2025-12-03" / "fund_data_2025-12-03_correction.csv")
    sources = query(db, "SELECT DISTINCT s3_source_key FROM fund_data WHERE d_trade = '2025-12-03'")
    assert correction in {s for (s,) in sources}
    again = backfill(plain_url(db), str(folder), "--dry-run")
    assert "9 loaded, 1 new" in again.stdout
    rerun = backfill(plain_url(db), str(folder), "--json")
    assert json.loads(rerun.stdout)["skipped"] == 9


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _loaded(config) -> int:
    return query(config, "SELECT COUNT(*) FROM fund_data_loads WHERE status = 'loaded'")[0][0]


@pytest.mark.db
@pytest.mark.slow
def test_a_killed_backfill_resumes_to_the_state_of_an_uninterrupted_one(tmp_path, db, second_db):
    folder = history(tmp_path / "h", days=14, rows=20_000)
    reference = backfill(plain_url(second_db), str(folder), "--workers", "2")
    assert reference.returncode == 1, reference.stderr  # the broken file, in both runs
    process = subprocess.Popen(
        [fundsync_command(), "backfill", str(folder), "--workers", "2", "--db", plain_url(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: _loaded(db) >= 4)
        os.killpg(process.pid, signal.SIGKILL)  # the main process and its workers, at once
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    interrupted = _loaded(db)
    assert 4 <= interrupted < 15, "the kill came too late to interrupt anything"
    resumed = backfill(plain_url(db), str(folder), "--workers", "2", "--json")
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] >= interrupted - 1 and summary["rejected"] == 1
    assert summary["loaded"] + summary["skipped"] == 15
    assert table(db) == table(second_db)
    per_file = query(
        db,
        "SELECT source_key, COUNT(*) FROM fund_data_loads WHERE status = 'loaded' GROUP BY source_key",
    )
    assert len(per_file) == 15 and all(n == 1 for _, n in per_file)  # nothing loaded twice


@pytest.mark.db
def test_ctrl_c_stops_after_the_merges_under_way(tmp_path, db, second_db):
    folder = history(tmp_path / "h", days=10, rows=20_000)
    process = subprocess.Popen(
        [fundsync_command(), "backfill", str(folder), "--workers", "1", "--db", plain_url(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: _loaded(db) >= 2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "(interrupted)" in out and "stopping after the merges under way" in err
    stopped_at = _loaded(db)
    assert stopped_at < 11
    assert query(db, "SELECT COUNT(*) FROM fund_data_loads WHERE status = 'loading'")[0][0] == 0
    backfill(plain_url(db), str(folder))
    backfill(plain_url(second_db), str(folder))
    assert table(db) == table(second_db)


@pytest.mark.db
@pytest.mark.slow
def test_a_lost_database_fails_files_and_a_rerun_completes(tmp_path):
    folder = history(tmp_path / "h", days=10, rows=20_000)
    server = ThrowawayServer().start()
    try:
        config = DbConfig.from_url(server.url)
        conn = connect(config)
        migrate(conn)
        conn.close()
        process = subprocess.Popen(
            [
                fundsync_command(),
                "backfill",
                str(folder),
                "--workers",
                "1",
                "--json",
                "--db",
                server.url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(lambda: _loaded(config) >= 2)
        server.pause()
        out, err = process.communicate(timeout=180)
        assert process.returncode == 1, err
        summary = json.loads(out)
        assert summary["failed"] >= 1
        assert all(p["status"] in ("failed", "rejected") for p in summary["problems"])
        # three files in a row found no database: it stopped starting new ones, and said why
        assert "the database is unreachable" in summary["stopped_because"]
        assert summary["not_started"] > 0 and "backfill stopped" in err
        server.resume()
        rerun = backfill(server.url, str(folder), "--json")
        done = json.loads(rerun.stdout)
        assert done["failed"] == 0 and done["loaded"] + done["skipped"] == 11
    finally:
        server.stop()


@pytest.mark.db
def test_progress_is_a_live_bar_in_a_terminal_and_lines_in_a_pipe(tmp_path, db):
    folder = history(tmp_path / "h", days=4, rows=2000)
    piped = backfill(plain_url(db), str(folder), "--progress-interval", "0")
    assert piped.stderr.count("backfill: ") >= 2 and "\x1b[" not in piped.stderr
    assert "6/6 files (5 loaded, 0 skipped, 1 rejected, 0 failed)" in piped.stderr
    assert "loaded" in piped.stdout and "rows/s" in piped.stdout

    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [fundsync_command(), "backfill", str(folder), "--force", "--db", plain_url(db)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(secondary)
    screen = read_until_closed(main)
    process.wait(60)
    text = screen.decode("utf-8", "replace")
    assert "\x1b[" in text  # drawn in place
    assert "6/6 files" in text and "rows/s" in text and "ETA" in text
    # the bar names the broken file as the summary does: rejected, not failed
    assert "1 rejected" in text and "1 failed" not in text


def _upload(s3, bucket: str, folder: Path, prefix: str = "raw/sql_server/fund_data/") -> list[str]:
    keys = []
    for path in sorted(folder.rglob("*.csv")):
        key = prefix + path.relative_to(folder).as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


@pytest.mark.db
@pytest.mark.aws
def test_a_backfill_from_s3_skips_by_etag_on_the_second_run(tmp_path, db, aws_endpoint):
    from tests.conftest import aws_clients

    s3, _ = aws_clients(aws_endpoint)
    s3.create_bucket(Bucket="history")
    keys = _upload(s3, "history", history(tmp_path / "h", days=4, rows=2000))
    run = backfill(
        plain_url(db), "s3://history/raw/sql_server/fund_data/", "--workers", "2", "--json"
    )
    summary = json.loads(run.stdout)
    assert (summary["loaded"], summary["rejected"]) == (5, 1), run.stderr
    sources = {s for (s,) in query(db, "SELECT DISTINCT s3_source_key FROM fund_data")}
    assert sources <= set(keys) and len(sources) == 5  # object keys, as the Lambda records them
    versions = query(db, "SELECT object_version FROM fund_data_loads WHERE status = 'loaded'")
    etags = {s3.head_object(Bucket="history", Key=k)["ETag"].strip('"') for k in keys}
    assert {v for (v,) in versions} <= etags
    again = backfill(
        plain_url(db), "s3://history/raw/sql_server/fund_data/", "--json", "--since", "2025-12-02"
    )
    summary = json.loads(again.stdout)
    assert summary["skipped"] == 4 and summary["loaded"] == 0  # 12-02..12-04 and the correction


@pytest.mark.db
@pytest.mark.aws
def test_enqueue_fans_out_to_the_pipeline_and_the_worker_loads_it(tmp_path, db, aws_endpoint):
    from tests.conftest import aws_clients, db_url, make_lake

    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs)
    lake.clear()  # the TestEvent
    s3.create_bucket(Bucket="history")  # no notification: only --enqueue sends messages
    keys = _upload(s3, "history", history(tmp_path / "h", days=5, rows=2000))
    run = subprocess.run(
        [fundsync_command(), "backfill", "s3://history/raw/", "--enqueue", lake.queue_url],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and f"enqueued {len(keys)} message(s)" in run.stdout, run.stderr
    attributes = sqs.get_queue_attributes(
        QueueUrl=lake.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == len(keys)
    worker = subprocess.run(
        [
            fundsync_command(),
            "worker",
            "--queue-url",
            lake.queue_url,
            "--dlq-url",
            lake.dlq_url,
            "--wait",
            "1",
            "--until-empty",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "FUNDSYNC_DB_URL": db_url(db), "FUNDSYNC_WORK_DIR": str(tmp_path)},
        timeout=300,
    )
    assert worker.returncode == 1, worker.stderr  # the broken export was dead-lettered
    assert "1 message(s) dead-lettered, 0 left to be retried" in worker.stderr
    statuses = dict(query(db, "SELECT source_key, status FROM fund_data_loads"))
    assert set(statuses) == set(keys)
    assert sorted(statuses.values()).count("loaded") == len(keys) - 1
    assert [k for k, s in statuses.items() if s == "rejected"] == [k for k in keys if "broken" in k]
    assert len(lake.receive(lake.dlq_url)) == 1  # the broken export, parked with its reason
