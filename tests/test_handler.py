"""The Lambda handler against moto (S3, SQS) and a real MariaDB: every shape and failure path.

Events come from the bucket notification itself wherever they can (an object
is put, S3 notifies the queue, the messages are received and handed to the
handler as Lambda's event source mapping would); hand-made bodies only for
the shapes S3 would not produce here (EventBridge, several records, malformed).
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import pytest

from loader.pipeline.events import s3_notification
from loader.pipeline.sqs import SqsMessage, lambda_event
from loader.sources import S3Object
from tests.conftest import csv_bytes, query, table

pytestmark = [pytest.mark.aws, pytest.mark.db]

GOOD = csv_bytes("2025-12-09,KF,KF-A,NAV,10.1234", '2025-12-09,KF,KF-A,AUM,"1,234,567.89"')
OTHER = csv_bytes("2025-12-10,KF,KF-A,NAV,10.5", "2025-12-10,KF,KF-A,STATUS,Open")
BROKEN = csv_bytes("2025-12-09,KF,KF-A,NAV,10.1", "2025-12-32,KF,KF-A,BID,1.0")


def ledger(db) -> list[tuple]:
    return query(
        db, "SELECT source_key, status, object_version, error FROM fund_data_loads ORDER BY id"
    )


def dead_letters(lake) -> list[dict]:
    return lake.receive(lake.dlq_url)


def test_the_entry_point_is_the_library_handler():
    path = Path(__file__).resolve().parent.parent / "lambda" / "handler.py"
    spec = importlib.util.spec_from_file_location("handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import loader.pipeline.handler

    assert module.lambda_handler is loader.pipeline.handler.lambda_handler


def test_all_good_loads_every_file_and_records_the_etag(handler, lake, db):
    lake.put("2025-12-09/fund_data_2025-12-09.csv", GOOD)
    lake.put("2025-12-10/fund_data_2025-12-10.csv", OTHER)
    mapping = handler.drain()
    assert [r["batchItemFailures"] for r in mapping.responses] == [[]]
    assert table(db) == [
        (*k, v, t, f"raw/sql_server/fund_data/{k[0]}/fund_data_{k[0]}.csv")
        for k, v, t in [
            ((_d(9), "KF", "KF-A", "AUM"), Decimal("1234567.890000000000"), None),
            ((_d(9), "KF", "KF-A", "NAV"), Decimal("10.123400000000"), None),
            ((_d(10), "KF", "KF-A", "NAV"), Decimal("10.500000000000"), None),
            ((_d(10), "KF", "KF-A", "STATUS"), None, "Open"),
        ]
    ]
    rows = ledger(db)
    assert [r[1] for r in rows] == ["loaded", "loaded"]
    etags = {lake.s3.head_object(Bucket=lake.bucket, Key=r[0])["ETag"].strip('"') for r in rows}
    assert {r[2] for r in rows} == etags
    assert dead_letters(lake) == []
    assert lake.receive() == []


def test_one_poison_among_good_goes_to_the_dlq_with_its_reason(handler, lake, db):
    lake.put("a.csv", GOOD)
    broken = lake.put("b_broken.csv", BROKEN)
    lake.put("c.csv", OTHER)
    mapping = handler.drain()
    assert all(r["batchItemFailures"] == [] for r in mapping.responses)
    assert len(table(db)) == 4  # a and c
    statuses = {r[0]: r[1] for r in ledger(db)}
    assert statuses[broken] == "rejected"
    assert "line 3" in next(r[3] for r in ledger(db) if r[0] == broken)
    [letter] = dead_letters(lake)
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["fundsync.error_type"] == "FileRejected"
    assert "line 3" in attributes["fundsync.error"] and "d_trade" in attributes["fundsync.error"]
    assert attributes["fundsync.sources"] == broken
    report_uri = attributes["fundsync.rejects_report"]
    assert report_uri == f"s3://lake/rejects/{broken}.rejects.json"
    report = lake.object_json(f"rejects/{broken}.rejects.json")
    assert report["errors"] == [
        {"line": 3, "column": "d_trade", "reason": report["errors"][0]["reason"]}
    ]
    assert report["status"] == "rejected" and report["object"]["key"] == broken
    assert json.loads(letter["Body"])["Records"][0]["s3"]["object"]["key"].endswith("b_broken.csv")
    assert lake.receive() == []


def test_all_poison_loads_nothing_and_parks_every_message(handler, lake, db):
    lake.put("x.csv", BROKEN)
    lake.put("y.csv", b"d_trade,stock,ticker\n2025-12-09,A,B\n")  # a column missing
    mapping = handler.drain()
    assert all(r["batchItemFailures"] == [] for r in mapping.responses)
    assert table(db) == []
    letters = dead_letters(lake)
    assert len(letters) == 2
    reasons = sorted(m["MessageAttributes"]["fundsync.error"]["StringValue"] for m in letters)
    assert "col_code" in reasons[0] + reasons[1] and "value" in reasons[0] + reasons[1]
    assert [r[1] for r in ledger(db)] == ["rejected", "rejected"]
    assert len(lake.list_keys("rejects/")) == 2


def test_without_a_dlq_a_poison_message_is_acknowledged_not_retried(handler, lake, db, monkeypatch):
    monkeypatch.delenv("FUNDSYNC_DLQ_URL")
    key = lake.put("x.csv", BROKEN)
    mapping = handler.drain()
    assert all(r["batchItemFailures"] == [] for r in mapping.responses)
    assert dead_letters(lake) == [] and lake.receive() == []
    assert [r[:2] for r in ledger(db)] == [(key, "rejected")]
    assert lake.list_keys("rejects/") == [f"rejects/{key}.rejects.json"]


def test_a_redelivered_message_is_skipped_at_once_without_reading_the_object(handler, lake, db):
    key = lake.put("day.csv", GOOD)
    [message] = [m for m in lake.receive() if "Records" in m["Body"]]
    event = lambda_event([SqsMessage.from_api(message)], lake.queue_arn, "us-east-1")
    assert handler(event) == []
    before = query(
        db,
        "SELECT d_trade, stock, ticker, col_code, synced_at, s3_source_key FROM fund_data ORDER BY col_code",
    )
    lake.s3.delete_object(Bucket=lake.bucket, Key=key)  # a download now would fail
    assert handler(event) == []
    assert (
        query(
            db,
            "SELECT d_trade, stock, ticker, col_code, synced_at, s3_source_key FROM fund_data ORDER BY col_code",
        )
        == before
    )
    rows = ledger(db)
    assert [r[1] for r in rows] == ["loaded", "skipped"]
    assert rows[0][2] == rows[1][2]  # the same ETag
    assert dead_letters(lake) == []


def test_the_test_event_is_acknowledged(handler, lake, db):
    [message] = lake.receive()  # S3 sent it when the notification was configured
    assert json.loads(message["Body"])["Event"] == "s3:TestEvent"
    event = lambda_event([SqsMessage.from_api(message)], lake.queue_arn, "us-east-1")
    assert handler(event) == []
    assert ledger(db) == [] and dead_letters(lake) == []
    assert any(r.get("test_event") for r in handler.log_records())


def test_encoded_keys_are_decoded_once(handler, lake, db):
    key = lake.put("2025-12-09/fund data+extra (1) ä.csv", GOOD)
    body = next(m["Body"] for m in lake.receive() if "Records" in m["Body"])
    assert "fund+data%2Bextra" in body  # S3 encodes: space as +, + as %2B
    event = lambda_event(
        [SqsMessage(message_id="m-1", body=body, receipt_handle="h")], lake.queue_arn, "us-east-1"
    )
    assert handler(event) == []
    assert {r[6] for r in table(db)} == {key}
    assert [r[:2] for r in ledger(db)] == [(key, "loaded")]


def test_eventbridge_object_created_is_accepted(handler, lake, db):
    key = lake.put("eb/day one.csv", GOOD)
    etag = lake.s3.head_object(Bucket=lake.bucket, Key=key)["ETag"].strip('"')
    body = json.dumps(
        {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{lake.bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": lake.bucket},
                "object": {"key": key, "size": len(GOOD), "etag": etag, "sequencer": "00"},
                "reason": "PutObject",
            },
        }
    )
    assert handler(handler.event(body)) == []
    assert [r[:3] for r in ledger(db)] == [(key, "loaded", etag)]
    assert len(table(db)) == 2


def test_several_records_in_one_message_load_each(handler, lake, db):
    first = lake.put("one.csv", GOOD)
    second = lake.put("two.csv", OTHER)
    body = s3_notification([S3Object(lake.bucket, first), S3Object(lake.bucket, second)])
    assert handler(handler.event(body)) == []
    assert sorted(r[:2] for r in ledger(db)) == [(first, "loaded"), (second, "loaded")]
    assert len(table(db)) == 4


def test_one_bad_record_parks_the_message_and_a_replay_skips_the_good_one(handler, lake, db):
    good = lake.put("one.csv", GOOD)
    bad = lake.put("two.csv", BROKEN)
    body = s3_notification([S3Object(lake.bucket, good), S3Object(lake.bucket, bad)])
    assert handler(handler.event(body)) == []
    [letter] = dead_letters(lake)
    assert letter["MessageAttributes"]["fundsync.sources"]["StringValue"] == bad
    assert handler(handler.event(letter["Body"])) == []  # replayed as is
    assert [r[:2] for r in ledger(db)] == [
        (good, "loaded"),
        (bad, "rejected"),
        (good, "skipped"),
        (bad, "rejected"),
    ]


def test_database_down_fails_exactly_those_messages_for_sqs_to_retry(
    handler, lake, db, monkeypatch
):
    monkeypatch.setenv("FUNDSYNC_DB_URL", "mysql://root@127.0.0.1:1/nowhere?connect_timeout=2")
    lake.put("a.csv", GOOD)
    lake.put("b.csv", OTHER)
    messages = [SqsMessage.from_api(m) for m in lake.receive()]
    event = lambda_event(messages, lake.queue_arn, "us-east-1")
    loads = [m.message_id for m in messages if "Records" in m.body]
    assert sorted(handler(event)) == sorted(loads)  # the TestEvent needs no database
    assert dead_letters(lake) == []
    assert ledger(db) == []
    retried = [r for r in handler.log_records() if r["message"] == "message will be retried"]
    assert len(retried) == 2 and all(r["error"]["type"] == "DatabaseError" for r in retried)


@pytest.mark.parametrize("delay", [None, "0"])
def test_a_retried_message_comes_back_after_the_retry_delay(handler, lake, db, monkeypatch, delay):
    monkeypatch.setenv("FUNDSYNC_DB_URL", "mysql://root@127.0.0.1:1/nowhere?connect_timeout=2")
    if delay is not None:
        monkeypatch.setenv("FUNDSYNC_RETRY_DELAY_SECONDS", delay)
    lake.clear()
    lake.put("a.csv", GOOD)
    messages = [SqsMessage.from_api(m) for m in lake.receive()]
    assert len(messages) == 1
    assert handler(lambda_event(messages, lake.queue_arn, "us-east-1")) == [messages[0].message_id]
    back = lake.receive()
    if delay is None:  # left to the queue's visibility timeout: still in flight
        assert back == []
    else:  # shortened to 0 s: at once, a second receive
        assert [m["MessageId"] for m in back] == [messages[0].message_id]
        assert back[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_message_that_cannot_finish_in_time_is_not_started(handler, lake, db, monkeypatch):
    monkeypatch.setenv("FUNDSYNC_RESERVE_MS", "20000")
    lake.put("late.csv", GOOD)
    messages = [SqsMessage.from_api(m) for m in lake.receive() if "Records" in m["Body"]]
    event = lambda_event(messages, lake.queue_arn, "us-east-1")
    assert handler(event, remaining_ms=15_000) == [messages[0].message_id]
    assert ledger(db) == [] and table(db) == []
    assert handler(event, remaining_ms=60_000) == []
    assert [r[1] for r in ledger(db)] == ["loaded"]


def test_tmp_holds_no_file_after_each_message(handler, lake, db, tmp_path):
    lake.put("a.csv", GOOD)
    lake.put("b.csv", BROKEN)
    handler.drain()
    assert [p for p in (tmp_path / "work").rglob("*") if p.is_file()] == []
    assert len(ledger(db)) == 2


def test_a_malformed_body_goes_to_the_dlq(handler, lake, db):
    assert handler(handler.event("not json at all", '{"hello": "world"}')) == []
    letters = dead_letters(lake)
    assert sorted(
        m["MessageAttributes"]["fundsync.error_type"]["StringValue"] for m in letters
    ) == [
        "MalformedMessage",
        "MalformedMessage",
    ]
    assert ledger(db) == []


def test_an_object_over_the_size_guard_is_rejected_before_download(handler, lake, db, monkeypatch):
    monkeypatch.setenv("FUNDSYNC_MAX_OBJECT_BYTES", "20")
    key = lake.put("big.csv", GOOD)
    handler.drain()
    [letter] = dead_letters(lake)
    assert "over the 20-byte limit" in letter["MessageAttributes"]["fundsync.error"]["StringValue"]
    assert lake.list_keys("rejects/") == [f"rejects/{key}.rejects.json"]
    assert table(db) == []


def test_an_object_that_is_gone_goes_to_the_dlq(handler, lake, db):
    body = s3_notification(S3Object(lake.bucket, "raw/sql_server/fund_data/never.csv"))
    assert handler(handler.event(body)) == []
    [letter] = dead_letters(lake)
    assert letter["MessageAttributes"]["fundsync.error_type"]["StringValue"] == "SourceMissing"


def test_bad_rows_within_the_allowance_load_and_the_rejects_go_to_s3(
    handler, lake, db, monkeypatch
):
    monkeypatch.setenv("FUNDSYNC_MAX_BAD_ROWS", "1")
    key = lake.put("partly.csv", BROKEN)
    handler.drain()
    assert [r[:2] for r in ledger(db)] == [(key, "loaded")]
    assert len(table(db)) == 1
    rejects = (
        lake.s3.get_object(Bucket=lake.bucket, Key=f"rejects/{key}.rejects.csv")["Body"]
        .read()
        .decode()
    )
    lines = rejects.splitlines()
    assert lines[0] == "line,d_trade,stock,ticker,col_code,value,reason"
    assert lines[1].startswith("3,2025-12-32,KF,KF-A,BID,1.0,")
    assert dead_letters(lake) == []


def test_rejects_reports_never_trigger_a_load(handler, lake, db, monkeypatch):
    monkeypatch.setenv("FUNDSYNC_REJECTS_PREFIX", "raw/sql_server/fund_data/rejects/")
    monkeypatch.setenv("FUNDSYNC_MAX_BAD_ROWS", "1")
    lake.put("partly.csv", BROKEN)
    handler.drain()  # the .rejects.csv lands under the notified prefix: notified, ignored
    handler.drain()
    assert [r[1] for r in ledger(db)] == ["loaded"]
    assert any("rejects report" in str(r.get("ignored")) for r in handler.log_records())


def test_logs_carry_the_report_and_metrics_the_counts(handler, lake, db, capsys):
    lake.put("a.csv", GOOD)
    handler.drain()
    [loaded] = [r for r in handler.log_records() if r["message"] == "load loaded"]
    assert loaded["load_report"]["inserted"] == 2 and loaded["load_report"]["rows_read"] == 2
    assert loaded["source"].startswith("s3://lake/raw/")
    assert "download" in loaded["load_report"]["stage_seconds"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no embedded-metric-format document was written"
    [document] = [d for d in emf if "RowsInserted" in d]
    names = {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {
        "RowsInserted",
        "RowsMerged",
        "FilesLoaded",
        "Bytes",
        "Duration_parse",
        "Duration_merge",
    } <= names
    assert document["RowsInserted"] in (2, [2]) and document["Bytes"] in (len(GOOD), [len(GOOD)])
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FundDataSync"


def _d(day: int):
    from datetime import date

    return date(2025, 12, day)


def test_the_database_connection_is_reused_across_invocations(handler, lake, db):
    lake.put("a.csv", GOOD)
    handler.drain()
    loader = handler.module.pipeline().session
    first = loader.connection()
    [(first_id,)] = _connection_id(first)
    lake.put("b.csv", OTHER)
    handler.drain()
    assert handler.module.pipeline().session is loader
    second = loader.connection()
    assert second is first and _connection_id(second) == [(first_id,)]
    assert [r[1] for r in ledger(db)] == ["loaded", "loaded"]


def _connection_id(conn) -> list[tuple]:
    cur = conn.cursor()
    cur.execute("SELECT CONNECTION_ID()")
    rows = cur.fetchall()
    cur.close()
    conn.commit()
    return rows


def test_aws_region_alone_is_honoured_as_the_aws_sdks_do(handler, lake, db, monkeypatch):
    """Only AWS_DEFAULT_REGION worked, while the error asked for AWS_REGION (issue 21.19)."""
    from loader import aws

    key = lake.put("2025-12-09/day.csv", csv_bytes("2025-12-09,S,T,C,1"))
    lake.clear()
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    aws.client.cache_clear()
    handler.module.reset()
    assert handler(handler.event(s3_notification(S3Object(lake.bucket, key)))) == []
    assert len(table(db)) == 1


def test_no_region_at_all_is_a_retry_that_says_why(handler, lake, db, monkeypatch):
    from loader import aws

    key = lake.put("2025-12-09/day.csv", csv_bytes("2025-12-09,S,T,C,1"))
    lake.clear()
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    aws.client.cache_clear()
    handler.module.reset()
    assert handler(handler.event(s3_notification(S3Object(lake.bucket, key)))) == ["m-0"]
    [retried] = [r for r in handler.log_records() if r.get("message") == "message will be retried"]
    assert "no AWS region" in json.dumps(retried)


def test_a_quiet_pipeline_in_the_same_process_does_not_silence_the_handler(handler, lake, db):
    """A worker's pipeline (quiet telemetry: warnings only, to stderr) made in the same
    process before the handler runs left the handler's info logs unwritten."""
    from loader.pipeline.telemetry import quiet

    quiet()
    lake.put("a.csv", GOOD)
    handler.drain()
    assert [r["message"] for r in handler.log_records()].count("load loaded") == 1
