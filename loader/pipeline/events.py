"""Typed, read-only views of what arrives on the queue: S3 notifications in SQS message bodies.

One SQS message body may hold:

- an S3 event notification (``{"Records": [...]}``, one or more records), the
  production shape. Object keys in it are URL-encoded (``+`` is a space,
  ``%2B`` a plus) and are decoded here, once;
- the ``s3:TestEvent`` S3 sends when a notification is configured: nothing to load;
- an EventBridge "Object Created" event (``detail-type``/``detail``), when the
  bucket routes through EventBridge. Its keys arrive as written, not encoded;
- either of the above wrapped in an SNS notification (``"Type": "Notification"``),
  for buckets that fan out through a topic.

Anything else is a :class:`MalformedMessage`: an input error, so the message
goes to the dead-letter queue at once rather than being retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from loader.errors import MalformedMessage
from loader.sources import S3Object


@dataclass(frozen=True, slots=True)
class Notification:
    """What one message asks for: objects to load, and events acknowledged without work."""

    objects: tuple[S3Object, ...] = ()
    test_event: bool = False
    ignored: tuple[str, ...] = ()
    """Event names that need no load (ObjectRemoved, say), as they arrived."""


MAX_WRAPPING = 3
"""SNS envelopes unwrapped at most (one is what S3 -> SNS -> SQS makes)."""


def parse_body(body: str | bytes | dict[str, Any], wrapped: int = 0) -> Notification:
    """Read one SQS message body; raises :class:`MalformedMessage` for anything unknown.

    Any body at all ends here or in a :class:`MalformedMessage`: deeply nested
    JSON (which makes the JSON reader recurse too deep) included.
    """
    if isinstance(body, dict):
        document: Any = body
    else:
        try:
            document = json.loads(body)
        except (ValueError, TypeError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else "not JSON"
            raise MalformedMessage(f"message body is {reason}: {_preview(body)}") from None
    if not isinstance(document, dict):
        raise MalformedMessage(f"message body is not a JSON object: {_preview(body)}")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        if wrapped >= MAX_WRAPPING:
            raise MalformedMessage(f"message body is wrapped {wrapped} times: {_preview(body)}")
        return parse_body(document["Message"], wrapped + 1)  # S3 -> SNS -> SQS
    if document.get("Event") == "s3:TestEvent":
        return Notification(test_event=True)
    if isinstance(document.get("Records"), list):
        return _from_records(document["Records"])
    if document.get("source") == "aws.s3" and "detail-type" in document:
        return _from_eventbridge(document)
    raise MalformedMessage(f"message body is not an S3 notification: {_preview(body)}")


def _from_records(records: list[Any]) -> Notification:
    if not records:
        raise MalformedMessage("S3 notification with no records")
    objects: list[S3Object] = []
    ignored: list[str] = []
    for index, record in enumerate(records):
        try:
            name = str(record.get("eventName", ""))
            if record.get("eventSource") != "aws:s3":
                raise MalformedMessage(
                    f"record {index}: eventSource {record.get('eventSource')!r} is not aws:s3"
                )
            if not isinstance(record.get("eventName"), str) or ":" not in name:
                raise MalformedMessage(f"record {index} has no S3 event name ({name!r})")
            if not name.startswith("ObjectCreated:"):
                ignored.append(name)  # ObjectRemoved:Delete, ObjectRestore:Post, ...
                continue
            s3 = record["s3"]
            obj = s3["object"]
            objects.append(
                S3Object(
                    bucket=str(s3["bucket"]["name"]),
                    key=unquote_plus(str(obj["key"])),
                    version_id=obj.get("versionId") or None,
                    etag=_etag(obj.get("eTag")),
                    size=_size(obj.get("size")),
                    event_name=name,
                )
            )
        except (KeyError, TypeError, AttributeError):
            raise MalformedMessage(f"record {index} is not an S3 event record") from None
    return Notification(objects=tuple(objects), ignored=tuple(ignored))


def _from_eventbridge(document: dict[str, Any]) -> Notification:
    kind = str(document.get("detail-type"))
    if kind != "Object Created":
        return Notification(ignored=(kind,))
    try:
        detail = document["detail"]
        obj = detail["object"]
        ref = S3Object(
            bucket=str(detail["bucket"]["name"]),
            key=str(obj["key"]),
            version_id=obj.get("version-id") or None,
            etag=_etag(obj.get("etag")),
            size=_size(obj.get("size")),
            event_name=f"ObjectCreated:{detail.get('reason', 'PutObject')}",
        )
    except (KeyError, TypeError, AttributeError):
        raise MalformedMessage("EventBridge event without detail.bucket/detail.object") from None
    return Notification(objects=(ref,))


def _etag(value: Any) -> str | None:
    if not value:
        return None
    return str(value).strip('"') or None


def _size(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _preview(body: object, limit: int = 120) -> str:
    if isinstance(body, bytes):
        text = body[: limit * 4].decode("utf-8", "replace")
    else:
        text = str(body)[: limit + 1] if not isinstance(body, str) else body
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def s3_notification(objects: list[S3Object] | S3Object, region: str = "us-east-1") -> str:
    """An S3 event notification body for these objects, exactly as S3 writes it.

    Used by ``backfill --enqueue``, the demo and the tests: what this returns
    is what :func:`parse_body` reads back, keys included (encoded with ``+``
    for spaces, as S3 does).
    """
    from urllib.parse import quote_plus

    refs = [objects] if isinstance(objects, S3Object) else objects
    records = []
    for ref in refs:
        obj: dict[str, Any] = {"key": quote_plus(ref.key, safe="/"), "size": ref.size or 0}
        if ref.etag:
            obj["eTag"] = ref.etag
        if ref.version_id:
            obj["versionId"] = ref.version_id
        records.append(
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventName": ref.event_name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": ref.bucket, "arn": f"arn:aws:s3:::{ref.bucket}"},
                    "object": obj,
                },
            }
        )
    return json.dumps({"Records": records})
