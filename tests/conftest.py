"""Shared helpers. Tests without a ``db`` or ``aws`` marker are the fast ``unit`` tier."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from loader.errors import FileRejected
from loader.parse import parse_file
from loader.parse.result import ParseResult
from loader.settings import ParseSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(m) for m in ("db", "aws")):
            item.add_marker(pytest.mark.unit)


HEADER = "d_trade,stock,ticker,col_code,value"


def csv_bytes(
    *rows: str, header: str = HEADER, newline: str = "\n", encoding: str = "utf-8"
) -> bytes:
    """An export from text lines (header first unless ``header`` is empty)."""
    lines = ([header] if header else []) + list(rows)
    return (newline.join(lines) + newline).encode(encoding)


def parse(data: bytes, name: str = "test.csv", **settings: Any) -> ParseResult:
    return parse_file(data, name=name, settings=ParseSettings(**settings))


def reject(data: bytes, name: str = "test.csv", **settings: Any) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse(data, name=name, **settings)
    return caught.value


Row = tuple[Any, str, str, str, Decimal | None, str | None]


def rows_of(result: ParseResult) -> list[Row]:
    """Rows as plain Python values, in the result's order."""
    frame = result.to_arrow()
    out = []
    for r in frame.to_pylist():
        numeric = r["value_numeric"]
        out.append(
            (
                r["d_trade"],
                r["stock"],
                r["ticker"],
                r["col_code"],
                None if numeric is None else Decimal(numeric),
                r["value_text"],
            )
        )
    return out


def values_of(result: ParseResult) -> list[tuple[Decimal | None, str | None]]:
    return [(r[4], r[5]) for r in rows_of(result)]


def one_value(value: str, **settings: Any) -> tuple[Decimal | None, str | None]:
    """Parse a single value through a whole file; (value_numeric, value_text)."""
    quoted = '"' + value.replace('"', '""') + '"'
    result = parse(csv_bytes(f"2025-12-09,S,T,C,{quoted}"), **settings)
    [pair] = values_of(result)
    return pair


# -- a real database for the ``db`` tier -------------------------------------------

import os  # noqa: E402
from collections.abc import Iterator  # noqa: E402


@pytest.fixture(scope="session")
def db_server_url() -> Iterator[str]:
    """FUNDSYNC_TEST_DB_URL, else a private throwaway server for this test session."""
    if url := os.environ.get("FUNDSYNC_TEST_DB_URL"):
        yield url
        return
    from loader.devtools.dbserver import ThrowawayServer
    from loader.errors import ConfigError

    try:
        server = ThrowawayServer().start()
    except ConfigError as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["composite-pk", "surrogate-id"])
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(db_server_url: str, request: pytest.FixtureRequest):
    """A fresh, migrated database of its own; the layout parameter when the test asks for it."""
    from loader.devtools.dbserver import fresh_database

    layout = "composite-pk"
    if "layout" in request.fixturenames:
        layout = request.getfixturevalue("layout")
    with fresh_database(db_server_url, layout=layout) as config:
        yield config


def load_file(session, path, key: str | None = None, force: bool = False, **settings: Any):
    """One local file through the load path (prepare, then merge), as ``fundsync load`` does."""
    from loader.load import load_source
    from loader.prepare.prepare import PrepareOptions
    from loader.sources import LocalFile

    options = PrepareOptions(parse=ParseSettings(**settings))
    from loader.mysql.merge_options import MergeOptions

    merging = MergeOptions.of(session.config, force=force)
    return load_source(LocalFile(str(path), key), session, options, merging)


def query(config, statement: str, params: tuple = ()) -> list[tuple]:
    from loader.mysql.connection import connect

    conn = connect(config)
    try:
        cur = conn.cursor()
        cur.execute(statement, params)
        rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def table(config) -> list[tuple]:
    """fund_data as (d_trade, stock, ticker, col_code, value_numeric, value_text, source), key order."""
    return query(
        config,
        "SELECT d_trade, stock, ticker, col_code, value_numeric, value_text, s3_source_key "
        "FROM fund_data ORDER BY d_trade, stock, ticker, col_code",
    )


# -- AWS through moto for the ``aws`` tier --------------------------------------

import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from urllib.parse import quote  # noqa: E402

from loader.pipeline.infra import RAW_PREFIX  # noqa: E402

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def db_url(config) -> str:
    """A URL for a test database config (tests only: it carries the password)."""
    auth = quote(config.user, safe="") + (
        ":" + quote(config.password, safe="") if config.password else ""
    )
    socket = f"?unix_socket={config.unix_socket}" if config.unix_socket else ""
    return f"mysql://{auth}@{config.host}:{config.port}/{config.database}{socket}"


@dataclass
class Lake:
    """A data-lake bucket wired to a queue with a DLQ, as production is."""

    s3: object
    sqs: object
    bucket: str
    queue_url: str
    dlq_url: str
    queue_arn: str

    def put(self, name: str, data: bytes) -> str:
        key = name if name.startswith(RAW_PREFIX) else RAW_PREFIX + name
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def receive(self, queue_url: str | None = None, wait: int = 0) -> list[dict]:
        out = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=queue_url or self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)

    def clear(self) -> None:
        """Delete what is on the main queue now (the TestEvent S3 sent, say)."""
        for message in self.receive():
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def object_json(self, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def list_keys(self, prefix: str = "") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))


def make_lake(
    s3, sqs, name: str = "lake", max_receive_count: int = 3, visibility: int = 30
) -> Lake:
    """Bucket, queue, DLQ (redrive after max_receive_count) and the production notification."""
    s3.create_bucket(Bucket=name)
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{name}-queue",
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    from loader.pipeline.infra import notification_configuration

    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration=notification_configuration(queue_arn)
    )
    return Lake(s3, sqs, name, queue_url, dlq_url, queue_arn)


@pytest.fixture
def moto(monkeypatch):
    """moto in-process: S3, SQS and Secrets Manager, with fresh clients for the loader."""
    from moto import mock_aws

    from loader import aws

    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    aws.client.cache_clear()
    with mock_aws():
        yield
    aws.client.cache_clear()


@pytest.fixture
def lake(moto) -> Lake:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    return make_lake(s3, sqs)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on a loopback port, for end-to-end tests across processes."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("moto server did not start", pytrace=False)
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def aws_endpoint(moto_server, monkeypatch) -> str:
    """A reset moto server, and this process's (and its children's) AWS settings pointing at it."""
    import urllib.request

    from loader import aws

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"))
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    aws.client.cache_clear()
    yield moto_server
    aws.client.cache_clear()


def aws_clients(endpoint: str):
    import boto3

    return (
        boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint),
        boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint),
    )


# -- the Lambda handler, in-process ------------------------------------------------

import io  # noqa: E402

from loader.pipeline.sqs import (  # noqa: E402
    InvocationContext,
    LocalEventSourceMapping,
    SqsMessage,
    lambda_event,
)


class Lambda:
    """The real handler module, on a fresh pipeline, with its logs captured."""

    def __init__(self, module, lake, logs: io.StringIO) -> None:
        self.module, self.lake, self.logs = module, lake, logs

    def __call__(self, event: dict, remaining_ms: int = 900_000) -> list[str]:
        response = self.module.lambda_handler(event, InvocationContext(remaining_ms))
        failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
        ids = {r["messageId"] for r in event["Records"]}
        assert all(failed) and set(failed) <= ids, (failed, ids)
        assert len(failed) == len(set(failed))
        return failed

    def drain(self) -> LocalEventSourceMapping:
        mapping = LocalEventSourceMapping(
            self.lake.sqs, self.lake.queue_url, self.module.lambda_handler
        )
        mapping.drain()
        return mapping

    def event(self, *bodies: str) -> dict:
        messages = [
            SqsMessage(message_id=f"m-{i}", body=b, receipt_handle=f"h-{i}")
            for i, b in enumerate(bodies)
        ]
        return lambda_event(messages, self.lake.queue_arn, "us-east-1")

    def log_records(self) -> list[dict]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.strip()]


@pytest.fixture
def wired(aws_endpoint, db, tmp_path):
    """A lake on moto's server, and the environment of a worker that loads from it into
    this test's database."""
    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs, visibility=30)
    work = tmp_path / "work"
    work.mkdir()
    env = {"FUNDSYNC_DB_URL": db_url(db), "FUNDSYNC_WORK_DIR": str(work)}
    return lake, env


@pytest.fixture
def handler(db, lake, monkeypatch, tmp_path):
    """The real handler module on a fresh pipeline: this test's database, DLQ and work dir."""
    import loader.pipeline.handler as module

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("FUNDSYNC_DB_URL", db_url(db))
    monkeypatch.setenv("FUNDSYNC_DLQ_URL", lake.dlq_url)
    monkeypatch.setenv("FUNDSYNC_WORK_DIR", str(work))
    logs = io.StringIO()
    module.telemetry.logger.registered_handler.setStream(logs)
    module.reset()
    yield Lambda(module, lake, logs)
    module.reset()


SECRET = "S3cr3t-p@ss!"


@pytest.fixture
def user_url(db):
    """A user with a password, so the tests can look for the password in every output."""
    from loader.mysql.connection import connect

    admin = connect(db)
    cur = admin.cursor()
    cur.execute("CREATE USER IF NOT EXISTS 'loader'@'localhost' IDENTIFIED BY %s", (SECRET,))
    cur.execute("CREATE USER IF NOT EXISTS 'loader'@'127.0.0.1' IDENTIFIED BY %s", (SECRET,))
    cur.execute(f"GRANT ALL ON {db.database}.* TO 'loader'@'localhost'")
    cur.execute(f"GRANT ALL ON {db.database}.* TO 'loader'@'127.0.0.1'")
    admin.commit()
    admin.close()
    socket = f"?unix_socket={db.unix_socket}" if db.unix_socket else ""
    return f"mysql://loader:{quote(SECRET, safe='')}@{db.host}:{db.port}/{db.database}{socket}"


def read_until_closed(fd: int, screen: bytes = b"") -> bytes:
    """Everything a process writes to its pseudo-terminal until it closes it (after ``screen``,
    what was read already); closes ``fd``."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other side is gone
            break
        if not chunk:
            break
        screen += chunk
    os.close(fd)
    return screen
