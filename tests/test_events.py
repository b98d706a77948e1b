"""Reading SQS message bodies: S3 notifications, the TestEvent, EventBridge, SNS, and junk."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loader.errors import MalformedMessage
from loader.outcome import outcome_of
from loader.pipeline.events import parse_body, s3_notification
from loader.pipeline.sqs import SqsMessage, error_attributes
from loader.sources import S3Object

EVENTS_DIR = __import__("pathlib").Path(__file__).parent / "events"


def fixture(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


def test_an_s3_notification_as_s3_writes_it():
    note = parse_body(fixture("s3_put.json"))
    assert note.objects == (
        S3Object(
            bucket="fund-data-lake",
            key="raw/sql_server/fund_data/2025-12-09/fund data+v2 (1).csv",
            version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
            etag="0123456789abcdef0123456789abcdef",
            size=1024,
            event_name="ObjectCreated:Put",
        ),
    )
    assert not note.test_event and note.ignored == ()


def test_several_records_and_removals():
    note = parse_body(fixture("s3_several.json"))
    assert [o.key for o in note.objects] == ["raw/a.csv", "raw/b.csv"]
    assert note.ignored == ("ObjectRemoved:Delete",)


def test_the_test_event_is_nothing_to_load():
    note = parse_body(fixture("s3_test_event.json"))
    assert note.test_event and note.objects == ()


def test_eventbridge_keys_are_taken_as_written():
    note = parse_body(fixture("eventbridge_object_created.json"))
    [ref] = note.objects
    assert ref.key == "raw/sql_server/fund_data/2025-12-09/fund+data 1.csv"
    assert (
        ref.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
        and ref.etag == "b1946ac92492d2347c6235b4d2611184"
    )
    assert ref.size == 5 and ref.event_name == "ObjectCreated:PutObject"


def test_other_eventbridge_events_are_ignored():
    body = json.loads(fixture("eventbridge_object_created.json"))
    body["detail-type"] = "Object Deleted"
    assert parse_body(json.dumps(body)).ignored == ("Object Deleted",)


def test_an_sns_wrapped_notification_is_unwrapped():
    inner = fixture("s3_put.json")
    body = json.dumps({"Type": "Notification", "MessageId": "x", "Message": inner})
    assert parse_body(body) == parse_body(inner)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[1, 2]",
        '{"hello": "world"}',
        '{"Records": []}',
        '{"Records": [{"eventSource": "aws:sqs"}]}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}',
        '{"source": "aws.s3", "detail-type": "Object Created", "detail": {}}',
    ],
)
def test_anything_else_is_a_malformed_message(body):
    with pytest.raises(MalformedMessage) as caught:
        parse_body(body)
    assert outcome_of(caught.value).status == "rejected"  # dead-lettered at once


keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=60,
)


@given(keys, st.none() | st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
def test_any_key_survives_the_notification_encoding(key, etag):
    ref = S3Object("b", key, etag=etag, size=3)
    [back] = parse_body(s3_notification(ref)).objects
    assert back == ref


def test_lambda_and_api_shapes_agree():
    api = {
        "MessageId": "id-1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {"trace": {"DataType": "String", "StringValue": "abc"}},
    }
    from_api = SqsMessage.from_api(api)
    record = from_api.to_lambda_record("arn:aws:sqs:us-east-1:1:q", "us-east-1")
    assert SqsMessage.from_lambda_record(record) == from_api
    assert from_api.receive_count == 3


def test_error_attributes_keep_the_message_own_and_fit_the_limit():
    own = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(8)}
    message = SqsMessage(
        message_id="m",
        body="{}",
        attributes={**own, "fundsync.error": {"DataType": "String", "StringValue": "old"}},
    )
    out = error_attributes(
        message, {"error_type": "FileRejected", "error": "x" * 5000, "receive_count": 2}
    )
    assert len(out) == 10
    assert {k: v for k, v in out.items() if not k.startswith("fundsync.")} == own
    assert out["fundsync.error_type"]["StringValue"] == "FileRejected"
    assert len(out["fundsync.error"]["StringValue"]) == 4096
