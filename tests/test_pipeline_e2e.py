"""End to end over moto's server: bucket notification -> SQS -> ``fundsync worker`` -> MariaDB.

Every process is real: moto's server on loopback (S3 delivers the
notification to SQS itself), the ``fundsync`` command as a subprocess, and
MariaDB. Failure paths: a broken export parked in the DLQ with its reason;
the database down, retried until the redrive policy moves the message to the
DLQ, then replayed once the database is back; a long load kept invisible;
SIGTERM finishing the current message and releasing the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loader.devtools.dbserver import ThrowawayServer
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.mysql.migrate import migrate
from tests.conftest import aws_clients, csv_bytes, db_url, make_lake, query, table
from tests.helpers import fundsync

pytestmark = [pytest.mark.aws, pytest.mark.db]

GOOD = csv_bytes("2025-12-09,KF,KF-A,NAV,10.1234", "2025-12-09,KF,KF-A,STATUS,Open")
BROKEN = csv_bytes("2025-12-09,KF,KF-A,NAV,10.1", "2025-12-09,KF,,BID,1.0")


def worker_command(lake, *extra: str) -> list[str]:
    exe = shutil.which("fundsync", path=str(Path(sys.executable).parent)) or "fundsync"
    return [
        exe,
        "worker",
        "--queue-url",
        lake.queue_url,
        "--dlq-url",
        lake.dlq_url,
        "--wait",
        "1",
        *extra,
    ]


def run_worker(
    lake, env: dict, *extra: str, timeout: float = 120, status: int = 0
) -> subprocess.CompletedProcess:
    run = subprocess.run(
        worker_command(lake, "--until-empty", *extra),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout,
    )
    assert run.returncode == status, run.stdout + run.stderr
    return run


def logs(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def ledger(db) -> list[tuple]:
    return query(db, "SELECT source_key, status FROM fund_data_loads ORDER BY id")


def test_a_put_export_reaches_the_table_and_a_redelivery_changes_nothing(wired, db):
    lake, env = wired
    key = lake.put("2025-12-09/fund_data_2025-12-09.csv", GOOD)
    # peek at the notification S3 sent (it stays on the queue)
    peeked = lake.sqs.receive_message(
        QueueUrl=lake.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    body = next(m["Body"] for m in peeked["Messages"] if "Records" in m["Body"])
    run = run_worker(lake, env)
    rows = table(db)
    assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
        ("NAV", rows[0][4], None, key),
        ("STATUS", None, "Open", key),
    ] and str(rows[0][4]) == "10.123400000000"
    stopped = [r for r in logs(run.stdout) if r["message"] == "worker stopped"]
    assert stopped[0]["summary"]["files"] == {"loaded": 1}
    synced = query(db, "SELECT synced_at FROM fund_data ORDER BY col_code")

    lake.sqs.send_message(QueueUrl=lake.queue_url, MessageBody=body)  # SQS delivers it again
    run_worker(lake, env)
    assert table(db) == rows
    assert query(db, "SELECT synced_at FROM fund_data ORDER BY col_code") == synced
    assert ledger(db) == [(key, "loaded"), (key, "skipped")]
    assert lake.receive() == [] and lake.receive(lake.dlq_url) == []


def test_a_broken_export_ends_in_the_dlq_with_its_reason(wired, db):
    lake, env = wired
    key = lake.put("2025-12-09/broken.csv", BROKEN)
    run = run_worker(lake, env, status=1)  # a message dead-lettered: the run is not green
    assert (
        "fundsync: 1 message(s) dead-lettered, 0 left to be retried, of 2" in run.stderr
    )  # + the S3 test event
    assert table(db) == []
    assert ledger(db) == [(key, "rejected")]
    inspected = fundsync("dlq", "inspect", "--dlq-url", lake.dlq_url, "--json", env=env)
    assert inspected.returncode == 0, inspected.stderr
    [letter] = [json.loads(line) for line in inspected.stdout.splitlines()]
    assert letter["sources"] == [f"s3://lake/{key}"]
    assert letter["error"]["error_type"] == "FileRejected"
    assert "line 3, column 'ticker'" in letter["error"]["error"]
    assert letter["error"]["rejects_report"] == f"s3://lake/rejects/{key}.rejects.json"
    # inspecting leaves the message where it was
    assert len(lake.receive(lake.dlq_url)) == 1
    assert lake.receive() == []


def test_dlq_inspect_keeps_a_rejections_lines_under_its_error(wired, db):
    lake, env = wired
    two = csv_bytes("2025-12-09,KF,,NAV,10.1", "2025-12-09,KF,KF-A,BID,1.0", "x,KF,KF-A,ASK,1")
    lake.put("2025-12-09/two.csv", two)
    run_worker(lake, env, status=1)
    inspected = fundsync("dlq", "inspect", "--dlq-url", lake.dlq_url, env=env)
    assert inspected.returncode == 0, inspected.stderr
    lines = inspected.stdout.splitlines()
    [at] = [i for i, line in enumerate(lines) if line.startswith("    error:  FileRejected")]
    located = [line for line in lines[at + 1 :] if line.startswith("            line ")]
    assert len(located) == 2, inspected.stdout
    assert "line 2, column 'ticker'" in located[0] and "line 4, column 'd_trade'" in located[1]


def test_dlq_replay_and_drop_act_only_on_the_chosen_messages(wired, db):
    lake, env = wired
    bad = lake.put("2025-12-09/broken.csv", BROKEN)
    run_worker(lake, env, status=1)  # rejected: forwarded to the DLQ with its error
    good = lake.put("2025-12-09/day.csv", GOOD)
    [notified] = [m for m in lake.receive() if "Records" in m["Body"]]
    # as the redrive policy moves a message whose retries ran out: body only, no error
    lake.sqs.send_message(QueueUrl=lake.dlq_url, MessageBody=notified["Body"])
    lake.sqs.delete_message(QueueUrl=lake.queue_url, ReceiptHandle=notified["ReceiptHandle"])

    def letters() -> dict[str, dict]:
        run = fundsync("dlq", "inspect", "--dlq-url", lake.dlq_url, "--json", env=env)
        assert run.returncode == 0, run.stderr
        found = [json.loads(line) for line in run.stdout.splitlines()]
        return {x["error"]["error_type"]: x for x in found}

    parked = letters()
    assert sorted(parked) == ["FileRejected", "RetriesExhausted"]
    assert parked["FileRejected"]["sources"] == [f"s3://lake/{bad}"]

    replayed = fundsync(
        "dlq", "replay", "--dlq-url", lake.dlq_url, "--error-type", "RetriesExhausted", env=env
    )
    assert replayed.returncode == 0 and "1 message(s) replayed" in replayed.stdout, replayed
    assert sorted(letters()) == ["FileRejected"]  # the bad file's message stayed, visible

    refused = fundsync("dlq", "drop", "--dlq-url", lake.dlq_url, env=env)
    assert refused.returncode == 2 and "--message-id or --error-type" in refused.stderr
    unknown = fundsync("dlq", "drop", "--dlq-url", lake.dlq_url, "--message-id", "nope", env=env)
    assert unknown.returncode == 1 and "nope" in unknown.stderr
    assert sorted(letters()) == ["FileRejected"]
    dropped = fundsync(
        "dlq",
        "drop",
        "--dlq-url",
        lake.dlq_url,
        "--message-id",
        parked["FileRejected"]["message_id"],
        env=env,
    )
    assert dropped.returncode == 0 and "1 message(s) dropped" in dropped.stdout, dropped
    assert lake.receive(lake.dlq_url) == []

    run_worker(lake, env)  # the replayed one loads
    assert [r[3] for r in table(db)] == ["NAV", "STATUS"]
    assert ledger(db) == [(bad, "rejected"), (good, "loaded")]


def test_database_down_retries_then_dlq_then_replay_loads_it(aws_endpoint, tmp_path):
    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs, visibility=1, max_receive_count=3)
    server = ThrowawayServer().start()
    try:
        config = DbConfig.from_url(server.url)
        conn = connect(config)
        migrate(conn)
        conn.close()
        env = {"FUNDSYNC_DB_URL": server.url, "FUNDSYNC_WORK_DIR": str(tmp_path)}
        server.pause()
        key = lake.put("2025-12-09/day.csv", GOOD)
        run = run_worker(lake, env, status=1)  # three files in a row found no database: it stops
        retried = [r for r in logs(run.stdout) if r["message"] == "message will be retried"]
        assert len(retried) == 3, run.stdout  # maxReceiveCount
        assert {r["error"]["type"] for r in retried} == {"DatabaseError"}
        assert "worker stopped: the database is unreachable" in run.stderr
        again = run_worker(lake, env)  # the next receive hands the message to the DLQ
        assert not [r for r in logs(again.stdout) if r["message"] == "message will be retried"]
        assert lake.receive() == []

        listed = fundsync("dlq", "inspect", "--dlq-url", lake.dlq_url, "--json", env=env)
        [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["sources"] == [f"s3://lake/{key}"]
        assert letter["error"]["error_type"] == "RetriesExhausted"
        assert letter["receive_count"] >= 3

        server.resume()
        replayed = fundsync("dlq", "replay", "--dlq-url", lake.dlq_url, env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert "1 message(s) replayed" in replayed.stdout
        assert lake.receive(lake.dlq_url) == []
        run_worker(lake, env)
        assert [(r[3], r[6]) for r in table(config)] == [("NAV", key), ("STATUS", key)]
        assert ledger(config)[-1] == (key, "loaded")
    finally:
        server.stop()


class TableLock:
    """Holds fund_data locked from another session, so a load waits as long as the test wants."""

    def __init__(self, config) -> None:
        self.conn = connect(config)
        self.conn.cursor().execute("LOCK TABLES fund_data WRITE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.cursor().execute("UNLOCK TABLES")
            self.conn.close()
            self.conn = None


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_long_load_keeps_its_message_invisible(aws_endpoint, db, tmp_path):
    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs, visibility=2)
    lake.clear()  # the TestEvent
    env = {**os.environ, "FUNDSYNC_DB_URL": db_url(db), "FUNDSYNC_WORK_DIR": str(tmp_path)}
    lock = TableLock(db)
    worker = subprocess.Popen(
        worker_command(lake), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        key = lake.put("slow.csv", GOOD)
        wait_for(lambda: ledger(db) == [(key, "loading")], what="the load to start")
        stolen = []
        for _ in range(6):  # 6 s: three visibility timeouts
            stolen += lake.sqs.receive_message(QueueUrl=lake.queue_url, WaitTimeSeconds=1).get(
                "Messages", []
            )
        assert stolen == [], "the message became visible while its load was running"
        lock.release()
        wait_for(lambda: ledger(db) == [(key, "loaded")], what="the load to finish")
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
    finally:
        lock.release()
        if worker.poll() is None:
            worker.kill()
    assert len(table(db)) == 2 and lake.receive() == []


def test_sigterm_finishes_the_current_load_and_releases_the_rest(aws_endpoint, db, tmp_path):
    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs, visibility=60)
    lake.clear()  # the TestEvent
    first = lake.put("first.csv", GOOD)
    second = lake.put("second.csv", csv_bytes("2025-12-10,KF,KF-A,NAV,1"))
    env = {**os.environ, "FUNDSYNC_DB_URL": db_url(db), "FUNDSYNC_WORK_DIR": str(tmp_path)}
    lock = TableLock(db)
    worker = subprocess.Popen(
        worker_command(lake), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        started = wait_for(
            lambda: [r for r in ledger(db) if r[1] == "loading"], what="a load to start"
        )
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        lock.release()
        out, err = worker.communicate(timeout=60)
    finally:
        lock.release()
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    [(loaded_key, _)] = started
    other = second if loaded_key == first else first
    assert ledger(db) == [(loaded_key, "loaded")]
    [summary] = [r["summary"] for r in logs(out) if r["message"] == "worker stopped"]
    assert summary["done"] == 1 and summary["released"] == 1
    # released at once: visible now, although the queue's visibility timeout is 60 s
    [message] = lake.receive()
    assert json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"].endswith(
        Path(other).name
    )


def test_fundsync_load_reads_s3_uris(wired, db):
    lake, env = wired
    key = lake.put("2025-12-09/fund data.csv", GOOD)
    uri = f"s3://lake/{key}"
    first = fundsync("load", uri, "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["status"] == "loaded" and report["source"] == key and report["inserted"] == 2
    assert report["object_version"] == lake.s3.head_object(Bucket="lake", Key=key)["ETag"].strip(
        '"'
    )
    again = fundsync("load", uri, "--json", env=env)
    assert json.loads(again.stdout)["status"] == "skipped"
    missing = fundsync("load", "s3://lake/raw/nothing-here.csv", uri, "--json", "--force", env=env)
    assert missing.returncode == 1
    gone, forced = (json.loads(line) for line in missing.stdout.splitlines())
    # a missing object is bad input, rejected as the backfill and the handler reject it
    assert gone["status"] == "rejected" and gone["error_type"] == "SourceMissing"
    assert forced["status"] == "loaded" and forced["unchanged"] == 2
    assert [r[6] for r in table(db)] == [key, key]
    assert ("raw/nothing-here.csv", "rejected") in ledger(db)  # every attempt is recorded


def test_a_retry_delay_holds_a_failed_message_back(aws_endpoint, tmp_path):
    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs, visibility=1)
    lake.clear()
    lake.put("a.csv", GOOD)
    env = {
        "FUNDSYNC_DB_URL": "mysql://root@127.0.0.1:1/nowhere",
        "FUNDSYNC_WORK_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        worker_command(lake, "--retry-delay", "30"),
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(6)  # six visibility timeouts of the queue's own
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    retried = [r for r in logs(out) if r["message"] == "message will be retried"]
    assert len(retried) == 1, "the retry delay should have kept the message back"
