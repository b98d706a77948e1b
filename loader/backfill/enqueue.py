"""``backfill --enqueue``: the exports as S3 notifications on the pipeline's queue."""

from __future__ import annotations

from typing import Any

from loader import aws
from loader.backfill.discover import Export
from loader.errors import AwsError, ConfigError
from loader.pipeline.events import s3_notification
from loader.sources import S3Object


def enqueue(exports: list[Export], queue_url: str, sqs: Any = None) -> int:
    """One S3-event-shaped message per object, in load order; returns how many were sent.

    The messages are exactly what S3 would have sent for these objects, so the
    pipeline (Lambda or ``fundsync worker``) loads them as it loads the nightly
    files: its event source mapping's maximum concurrency throttles the database.
    """
    if any(not e.is_s3 for e in exports):
        raise ConfigError("--enqueue needs an s3:// source: the pipeline reads objects from S3")
    sqs = sqs or aws.client("sqs")
    sent = 0
    for start in range(0, len(exports), 10):
        batch = exports[start : start + 10]
        entries = []
        for i, export in enumerate(batch):
            spec = export.spec
            assert isinstance(spec, S3Object)
            body = s3_notification(spec)
            entries.append({"Id": str(i), "MessageBody": body})
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as error:
            raise aws.classify(error, "sending to the queue") from None
        if failed := response.get("Failed"):
            raise AwsError(f"{len(failed)} message(s) not sent: {failed[0].get('Message')}")
        sent += len(entries)
    return sent
