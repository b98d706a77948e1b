"""AWS clients and the one place where AWS errors become loader errors.

Clients are created once per process and reused (a warm Lambda keeps them).
``AWS_ENDPOINT_URL`` (and the per-service ``AWS_ENDPOINT_URL_S3`` ...) point
them at moto's server or LocalStack; boto3 reads those itself.

Classification: an object that does not exist (any more) is an input error,
since the message can never succeed; everything else (throttling, 5xx,
timeouts, connection errors, access denied) is the environment and is
retried, because fixing a policy or waiting out a throttle makes the same
message succeed.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from loader.errors import InputError, TransientError

if TYPE_CHECKING:
    from loader.db import DbConfig

GONE = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound", "InvalidObjectState"}
_lock = threading.Lock()


class SourceMissing(InputError):
    """The object the message names does not exist (deleted, or a wrong key)."""


class AwsError(TransientError):
    """An AWS call failed in a way that may pass (throttling, 5xx, network, permissions)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@cache
def client(service: str, region: str | None = None) -> Any:
    """A boto3 client with bounded timeouts and standard retries, made once per process."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 5},
    )
    with _lock:  # boto3's default session is not thread-safe while it creates clients
        return boto3.session.Session().client(service, region_name=region, config=config)


def queue_url_from_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> the queue's URL (the event names only the ARN).

    The client sends the request to its own endpoint; SQS (and moto) read the account and
    the name from the URL's path.
    """
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    partition, region, account, name = parts[1], parts[3], parts[4], parts[5]
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


def classify(error: BaseException, what: str) -> Exception:
    """Map a botocore error to :class:`SourceMissing` (permanent) or :class:`AwsError`."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(info.get("Code") or status)
        message = info.get("Message") or code
        if code in GONE:
            return SourceMissing(f"{what}: {code}: {message}")
        return AwsError(f"{what}: {code}: {message}", code)
    if isinstance(error, BotoCoreError):
        return AwsError(f"{what}: {type(error).__name__}: {error}", type(error).__name__)
    return error if isinstance(error, Exception) else RuntimeError(str(error))


def db_config_from_secret(secret_id: str, time_zone: str | None = None) -> DbConfig:
    """The database from a Secrets Manager secret in the RDS format.

    The secret holds ``username``, ``password``, ``host``, ``port`` and
    ``dbname`` (as RDS and Aurora write them on rotation). The password goes
    into :class:`DbConfig`, which never prints it.
    """
    from loader.db import DEFAULT_TIME_ZONE, DbConfig
    from loader.errors import ConfigError

    try:
        value = client("secretsmanager").get_secret_value(SecretId=secret_id)
    except Exception as error:
        raise classify(error, "reading the database secret") from None
    try:
        secret = json.loads(value["SecretString"])
        return DbConfig(
            host=str(secret["host"]),
            port=int(secret.get("port", 3306)),
            user=str(secret["username"]),
            password=str(secret["password"]),
            database=str(secret.get("dbname") or secret.get("database") or "fundsync"),
            time_zone=time_zone or DEFAULT_TIME_ZONE,
        )
    except (KeyError, ValueError, TypeError):
        raise ConfigError(
            "the database secret must be JSON with username, password, host, port and dbname"
        ) from None
