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
import os
import threading
from functools import cache
from typing import Any

from loader.errors import AwsError, ConfigError, SourceMissing

NO_REGION = "no AWS region: give --region or set AWS_REGION (or AWS_DEFAULT_REGION)"
GONE = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound", "InvalidObjectState"}
_lock = threading.Lock()


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
        try:
            session = boto3.session.Session()
            # AWS_REGION as the other AWS SDKs (and Lambda) read it; botocore reads only
            # AWS_DEFAULT_REGION and the profile
            region = region or session.region_name or os.environ.get("AWS_REGION") or None
            if not region:  # unset or set empty: botocore would
                # build "https://sqs..amazonaws.com" and fail later with a puzzling message
                raise ConfigError(NO_REGION)
            return session.client(service, region_name=region, config=config)
        except ConfigError:
            raise
        except Exception as error:  # no region, an unknown profile: say what to set
            raise classify(error, f"an AWS {service} client") from None


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
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(info.get("Code") or status)
        message = info.get("Message") or code
        if code in GONE:
            return SourceMissing(f"{what}: {code}: {message}")
        return AwsError(f"{what}: {code}: {message}", code)
    if isinstance(error, NoRegionError):
        return ConfigError(NO_REGION)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            "no AWS credentials: give --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run with a role"
        )
    if isinstance(error, ProfileNotFound):
        return ConfigError(f"{error}: see ~/.aws/config, or give another --profile")
    if isinstance(error, BotoCoreError):
        return AwsError(f"{what}: {type(error).__name__}: {error}", type(error).__name__)
    return error if isinstance(error, Exception) else RuntimeError(str(error))


def secret_json(secret_id: str) -> dict[str, Any]:
    """A Secrets Manager secret's JSON document (the database's, in the RDS format)."""
    try:
        value = client("secretsmanager").get_secret_value(SecretId=secret_id)
    except Exception as error:
        raise classify(error, "reading the database secret") from None
    try:
        document = json.loads(value["SecretString"])
    except (KeyError, ValueError, TypeError):
        document = None
    if not isinstance(document, dict):
        raise ConfigError(
            "the database secret must be JSON with username, password, host, port and dbname"
        )
    return document
