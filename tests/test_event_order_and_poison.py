"""Hardening of the event pipeline, against moto and a real MariaDB: older events never
overwrite newer data, and no message body crashes a consumer."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.pipeline import dlq
from loader.pipeline.events import s3_notification
from loader.pipeline.process import Pipeline
from loader.pipeline.sqs import SqsMessage
from loader.pipeline.worker import Worker
from loader.settings import PipelineSettings
from loader.sources import S3Object
from tests.conftest import csv_bytes, query, table
from tests.helpers import original_after_its_correction

pytestmark = [pytest.mark.aws, pytest.mark.db]


def ledger(db) -> list[tuple]:
    return query(db, "SELECT source_key, status, error FROM fund_data_loads ORDER BY id")


def notification(lake, key: str, version: str) -> str:
    return s3_notification(S3Object(lake.bucket, key, version_id=version))


# -- an older event never overwrites newer data ---------------------------------------


@pytest.mark.parametrize("order", ["v2 first", "v1 first"])
def test_a_retried_event_of_an_older_version_is_superseded(handler, lake, db, order):
    lake.s3.put_bucket_versioning(Bucket=lake.bucket, VersioningConfiguration={"Status": "Enabled"})
    key = lake.put("day.csv", csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,S,T,D,1"))
    v1 = lake.s3.head_object(Bucket=lake.bucket, Key=key)["VersionId"]
    lake.put("day.csv", csv_bytes("2025-12-09,S,T,C,2", "2025-12-09,S,T,D,2"))
    v2 = lake.s3.head_object(Bucket=lake.bucket, Key=key)["VersionId"]
    lake.clear()
    events = [notification(lake, key, v2), notification(lake, key, v1)]
    if order == "v1 first":
        events.reverse()
    for body in events:
        assert handler(handler.event(body)) == []
    assert [r[4] for r in table(db)] == [2, 2]
    rows = {r[2] if r[1] == "skipped" else "loaded": r for r in ledger(db)}
    superseded = [r for r in ledger(db) if r[1] == "skipped"]
    assert len(superseded) == 1 and f"version {v1} is no longer" in superseded[0][2]
    assert "loaded" in rows and lake.receive(lake.dlq_url) == []


def test_an_original_retried_after_its_correction_fills_gaps_but_never_overwrites(
    handler, lake, db
):
    original, correction = original_after_its_correction(handler, lake)
    assert [(r[3], r[4], r[6]) for r in table(db)] == [
        ("A", 2, correction),
        ("B", 2, correction),
        ("C", 1, original),  # the gap it fills
    ]
    [report] = [
        r["load_report"] for r in handler.log_records() if r.get("source", "").endswith(original)
    ]
    assert (report["inserted"], report["superseded_rows"], report["unchanged"]) == (1, 2, 2)


# -- consumers survive any message -----------------------------------------------------


XML_TEXT = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in range(0x20) if c not in (9, 10, 13)),
    max_codepoint=0xFFFD,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(XML_TEXT, max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(XML_TEXT, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    st.text(XML_TEXT, min_size=1, max_size=200),
    JSON_VALUES.map(json.dumps),
    st.just("[" * 200_000),
    st.just(json.dumps({"Records": [{"eventSource": "aws:s3"}]})),
    st.just(json.dumps({"Type": "Notification", "Message": "{" * 10_000})),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(BODIES, min_size=1, max_size=6))
def test_no_message_body_crashes_the_worker_or_the_dlq_commands(lake, db, tmp_path, bodies):
    lake.clear()
    for body in bodies:
        lake.sqs.send_message(QueueUrl=lake.queue_url, MessageBody=body)
    settings_ = PipelineSettings(dlq_url=lake.dlq_url, work_dir=str(tmp_path))
    with Pipeline(settings_, db=db, s3=lake.s3, sqs=lake.sqs) as pipeline:
        worker = Worker(pipeline, lake.queue_url, sqs=lake.sqs, wait_seconds=0, until_empty=True)
        summary = worker.run()
    assert summary.messages == len(bodies) and summary.rejected == len(bodies)
    letters = dlq.inspect(lake.dlq_url, sqs=lake.sqs)
    assert len(letters) == len(bodies)
    assert all(letter.error.get("error_type") for letter in letters)
    assert {letter.error["error_type"] for letter in letters} <= {"MalformedMessage"}
    dropped = dlq.drop(
        lake.dlq_url, dlq.Selection(error_types=frozenset({"MalformedMessage"})), sqs=lake.sqs
    )
    assert len(dropped) == len(bodies)


def test_a_rejects_report_that_cannot_be_written_keeps_the_outcome(lake, db, tmp_path):
    lake.clear()
    lake.put("bad.csv", csv_bytes("2025-12-09,S,T,C,1", "2025-12-40,S,T,D,1"))
    lake.put("good.csv", csv_bytes("2025-12-09,S,T,C,1"))
    settings_ = PipelineSettings(
        dlq_url=lake.dlq_url, work_dir=str(tmp_path), rejects_bucket="no-such-bucket"
    )
    with Pipeline(settings_, db=db, s3=lake.s3, sqs=lake.sqs) as pipeline:
        worker = Worker(pipeline, lake.queue_url, sqs=lake.sqs, wait_seconds=0, until_empty=True)
        summary = worker.run()
    assert (summary.done, summary.rejected) == (1, 1)  # it went on, and dead-lettered the bad one
    [letter] = lake.receive(lake.dlq_url)
    assert letter["MessageAttributes"]["fundsync.error_type"]["StringValue"] == "FileRejected"
    assert sorted(r[1] for r in ledger(db)) == ["loaded", "rejected"]


def test_a_deeply_nested_body_is_dead_lettered_at_once_by_the_handler(handler, lake, db):
    assert handler(handler.event("[" * 200_000)) == []
    [letter] = lake.receive(lake.dlq_url)
    attributes = letter["MessageAttributes"]
    assert attributes["fundsync.error_type"]["StringValue"] == "MalformedMessage"
    assert "nested too deeply" in attributes["fundsync.error"]["StringValue"]
    described = dlq.describe(SqsMessage.from_api(letter))
    assert described.sources == []
