"""The production wiring in one place: what the bucket notification and the queues look like.

The demo, the tests and ``infra/terraform`` use the same names and values:
exports land under :data:`RAW_PREFIX` with the suffix :data:`SUFFIX`; S3
notifies the queue of every ``s3:ObjectCreated:*`` on those keys; the queue
hands a message to the dead-letter queue after :data:`MAX_RECEIVE_COUNT`
receives.
"""

from __future__ import annotations

import json
from typing import Any

RAW_PREFIX = "raw/sql_server/fund_data/"
SUFFIX = ".csv"
MAX_RECEIVE_COUNT = 3
EVENTS = ["s3:ObjectCreated:*"]


def notification_configuration(queue_arn: str) -> dict[str, Any]:
    """The bucket's NotificationConfiguration: created objects under the prefix, to the queue."""
    return {
        "QueueConfigurations": [
            {
                "Id": "fund-data-exports",
                "QueueArn": queue_arn,
                "Events": EVENTS,
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": RAW_PREFIX},
                            {"Name": "suffix", "Value": SUFFIX},
                        ]
                    }
                },
            }
        ]
    }


def queue_attributes(
    dlq_arn: str, visibility_timeout: int = 5400, max_receive_count: int = MAX_RECEIVE_COUNT
) -> dict[str, str]:
    """The main queue's attributes: redrive to the DLQ, long polling, SQS-managed encryption."""
    return {
        "VisibilityTimeout": str(visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": "20",
        "MessageRetentionPeriod": str(4 * 24 * 3600),
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        ),
    }
