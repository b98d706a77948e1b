"""Secrets: the database password, from a URL or from Secrets Manager, never leaves the process.

The handler runs good, broken and failing loads with a real password, and
every place a person or a program could read afterwards is searched for it:
the JSON logs, the metrics, the dead-letter messages, the rejects reports in
S3 and the ledger.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from loader.pipeline.events import s3_notification
from loader.sources import S3Object
from tests.conftest import SECRET, csv_bytes, query, table
from tests.test_handler import BROKEN, GOOD

pytestmark = [pytest.mark.aws, pytest.mark.db]


def everything_readable(handler, lake, db, out: str) -> str:
    parts = [handler.logs.getvalue(), out]
    for message in lake.receive(lake.dlq_url):
        parts.append(json.dumps(message))
    for key in lake.list_keys():
        parts.append(
            lake.s3.get_object(Bucket=lake.bucket, Key=key)["Body"]
            .read()
            .decode("utf-8", "replace")
        )
    parts += [str(row) for row in query(db, "SELECT * FROM fund_data_loads")]
    return "\n".join(parts)


def test_the_password_from_the_url_is_never_written(
    handler, lake, db, user_url, monkeypatch, capsys
):
    monkeypatch.setenv("FUNDSYNC_DB_URL", user_url)
    lake.put("good.csv", GOOD)
    lake.put("broken.csv", BROKEN)
    handler.drain()
    assert len(table(db)) == 2
    # a database that refuses this user: the error is logged, the message retried
    monkeypatch.setenv("FUNDSYNC_DB_URL", user_url.replace(f"/{db.database}", "/not_granted"))
    handler.module.reset()
    lake.put("other.csv", csv_bytes("2025-12-10,KF,KF-A,NAV,1"))
    mapping = handler.drain()
    assert mapping.responses[-1]["batchItemFailures"], "the refused load should be retried"
    readable = everything_readable(handler, lake, db, capsys.readouterr().out)
    assert "not_granted" in readable  # the failure is there to read ...
    assert (
        SECRET not in readable and quote(SECRET, safe="") not in readable
    )  # ... the password is not


def test_the_database_comes_from_a_secrets_manager_secret(
    handler, lake, db, user_url, monkeypatch, capsys
):
    import boto3

    secret = {
        "engine": "mysql",
        "host": "127.0.0.1",
        "port": db.port,
        "username": "loader",
        "password": SECRET,
        "dbname": db.database,
    }
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="fundsync/aurora", SecretString=json.dumps(secret)
    )["ARN"]
    monkeypatch.delenv("FUNDSYNC_DB_URL")
    monkeypatch.setenv("FUNDSYNC_DB_SECRET_ARN", arn)
    key = lake.put("good.csv", GOOD)
    lake.put("broken.csv", BROKEN)
    handler.drain()
    assert {r[6] for r in table(db)} == {key}
    assert query(db, "SELECT CURRENT_USER()")  # the admin connection still works
    loads = query(db, "SELECT status FROM fund_data_loads ORDER BY id")
    assert loads == [("loaded",), ("rejected",)]
    readable = everything_readable(handler, lake, db, capsys.readouterr().out)
    assert SECRET not in readable


def test_a_secret_in_the_wrong_shape_is_a_clear_configuration_error(moto, monkeypatch):
    import boto3

    from loader.errors import ConfigError
    from loader.mysql.config import DbConfig

    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="bad", SecretString=json.dumps({"user": "x", "password": SECRET})
    )["ARN"]
    with pytest.raises(ConfigError) as caught:
        DbConfig.from_env(environ={"FUNDSYNC_DB_SECRET_ARN": arn})
    assert "username, password, host" in str(caught.value) and SECRET not in str(caught.value)


def test_a_missing_secret_is_retried_not_rejected(handler, lake, db, monkeypatch):
    monkeypatch.delenv("FUNDSYNC_DB_URL")
    monkeypatch.setenv(
        "FUNDSYNC_DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone"
    )
    body = s3_notification(S3Object(lake.bucket, lake.put("a.csv", GOOD)))
    event = handler.event(body)
    assert handler(event) == [event["Records"][0]["messageId"]]
    assert lake.receive(lake.dlq_url) == []
