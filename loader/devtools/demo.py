"""``fundsync demo``: the production path end to end, with no AWS account and nothing to set up.

moto provides S3 and SQS in-process; the bucket notification, the queue and
its dead-letter queue are configured exactly as in production
(:mod:`loader.pipeline.infra`: prefix ``raw/sql_server/fund_data/``, suffix ``.csv``,
redrive after 3 receives). A throwaway MariaDB is started unless ``--db`` is
given. The demo uploads a generated day's export, a cp1252 export with
accented fund names and a broken export, drains the queue through the real
Lambda handler (as Lambda's event source mapping would: batches of 10,
failures left on the queue), then redelivers the day's notification (skipped
at once) and uploads a correction (only the changed values are updated). It
prints the load reports from the ledger, the rows in ``fund_data``, the
dead-letter queue and the rejects reports. The handler's JSON logs and
metrics go to ``handler-log.jsonl`` beside the samples.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from loader.devtools.dbserver import ThrowawayServer
from loader.devtools.samples import ExportSpec, changed_copy, write_export
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.mysql.migrate import migrate
from loader.pipeline.infra import RAW_PREFIX, notification_configuration, queue_attributes

BUCKET = "fund-data-lake-demo"
BROKEN_EXPORT = (
    "d_trade,stock,ticker,col_code,value\r\n"
    "2025-12-09,KF-FIXED,KF-FIXED-A,NAV,10.1234\r\n"
    "2025-12-09,KF-FIXED,KF-FIXED-A,AUM\r\n"  # a field missing
    "2025-12-32,KF-FIXED,KF-FIXED-A,BID,10.12\r\n"  # no such day
    "2025-12-09,,KF-FIXED-A,OFFER,10.13\r\n"  # no stock
)
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_SESSION_TOKEN": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def sample_files(folder: Path, rows: int) -> dict[str, Path]:
    """The demo's exports by object key (under the production prefix), written into ``folder``."""
    day = write_export(folder / "fund_data_2025-12-09.csv", ExportSpec(rows=rows))
    western = write_export(
        folder / "fund_data_2025-12-10_eu.csv",
        ExportSpec(
            rows=max(rows // 20, 100),
            encoding="cp1252",
            seed=7,
            start=ExportSpec().start.replace(day=10),
        ),
    )
    broken = folder / "fund_data_2025-12-11.csv"
    broken.write_bytes(BROKEN_EXPORT.encode("utf-8"))
    return {
        f"{RAW_PREFIX}2025-12-09/fund_data_2025-12-09.csv": day,
        f"{RAW_PREFIX}2025-12-10/eu/fund_data_2025-12-10.csv": western,
        f"{RAW_PREFIX}2025-12-11/fund_data_2025-12-11.csv": broken,
    }


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


DEMO_DATABASE = "fundsync_demo"


def _demo_database(db_url: str, own_server: bool) -> str:
    """The URL of the demo's own database on the server, made afresh (dropped if a run before
    left it) and migrated: a second run starts from a clean slate, and nothing else on the
    server is touched. It is left behind for a look (the throwaway server is not)."""
    parts = urlsplit(db_url)
    url = urlunsplit(parts._replace(path=f"/{DEMO_DATABASE}"))
    server = DbConfig.from_url(db_url)
    admin = connect(server.with_database("mysql" if own_server else server.database))
    cur = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DEMO_DATABASE}")
    cur.execute(f"CREATE DATABASE {DEMO_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.commit()
    admin.close()
    conn = connect(DbConfig.from_url(url))
    applied = migrate(conn)
    conn.close()
    where = "the throwaway server" if own_server else server.address
    print(f"database {DEMO_DATABASE} on {where}, made afresh (a run before is cleared; "
          "the other databases of the server are not touched)")  # fmt: skip
    print(f"migrate: applied {', '.join(m.name for m in applied) or 'nothing'}")
    if not own_server:
        print(f"  (left behind for a look: DROP DATABASE {DEMO_DATABASE} removes it)")
    return url


def run_demo(rows: int = 200_000, keep: Path | None = None, db_url: str | None = None) -> int:
    """Run the pipeline end to end; returns the exit status (0: everything went as expected)."""
    try:
        from moto import mock_aws
    except ImportError:
        print("fundsync demo needs moto (installed by ./dev; or pip install 'moto[s3,sqs]')")
        return 2
    with tempfile.TemporaryDirectory(prefix="fundsync-demo-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        server = None
        if db_url is None:
            print("fund-data-sync demo: starting a throwaway MariaDB ...")
            server = ThrowawayServer().start()
            db_url = server.url
        try:
            db_url = _demo_database(db_url, own_server=server is not None)
            config = DbConfig.from_url(db_url)
            with _environment({**FAKE_AWS, "AWS_ENDPOINT_URL": ""}), mock_aws():
                os.environ.pop("AWS_ENDPOINT_URL", None)
                return _run(folder, rows, db_url, config, kept=keep is not None)
        finally:
            if server is not None:
                server.stop()


def _run(folder: Path, rows: int, db_url: str, config: DbConfig, kept: bool) -> int:
    import boto3

    from loader import aws
    from loader.pipeline import dlq

    aws.client.cache_clear()
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    queue_url, dlq_url = _wire_lake(s3, sqs)
    files = sample_files(folder, rows)
    for key, path in files.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        print(f"uploaded s3://{BUCKET}/{key} ({path.stat().st_size:,} bytes)")
    log_path = folder / "handler-log.jsonl"
    work = folder / "work"
    work.mkdir(exist_ok=True)
    settings = {
        "FUNDSYNC_DB_URL": db_url,
        "FUNDSYNC_DLQ_URL": dlq_url,
        "FUNDSYNC_WORK_DIR": str(work),
        # the EU desk's export is a few funds of another day: the quality gate would hold it
        # (funds missing against the day before); here it loads with a warning
        "FUNDSYNC_QUALITY": "funds_missing=warn",
    }
    with _environment(settings), open(log_path, "w", encoding="utf-8") as log:
        _drain_through_the_handler(s3, sqs, queue_url, files, folder, log)
        letters = dlq.inspect(dlq_url, sqs=sqs)
        rejects = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="rejects/").get("Contents", [])
        ]
    statuses = _print_results(config, letters, rejects, log_path, sqs, queue_url)
    if not kept:
        print("  (a temporary folder, removed at exit: --keep DIR keeps the samples and the logs)")
    expected = ["loaded", "loaded", "rejected", "skipped", "loaded"]
    ok = statuses == expected and len(letters) == 1 and len(rejects) == 1
    print("\n" + ("The demo ran as expected." if ok else f"UNEXPECTED: statuses {statuses}"))
    return 0 if ok else 1


def _wire_lake(s3: Any, sqs: Any) -> tuple[str, str]:
    """The bucket, its notification, the queue and its DLQ, as in production; the queue URLs."""
    s3.create_bucket(Bucket=BUCKET)
    dlq_url = sqs.create_queue(QueueName="fundsync-dlq-demo")["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName="fundsync-queue-demo", Attributes=queue_attributes(dlq_arn, visibility_timeout=60)
    )["QueueUrl"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration=notification_configuration(_arn(sqs, queue_url))
    )
    print(f"moto: bucket s3://{BUCKET}, notification {RAW_PREFIX}*.csv -> {queue_url}")
    print(f"      dead-letter queue {dlq_url} (after 3 receives)\n")
    return queue_url, dlq_url


def _drain_through_the_handler(
    s3: Any, sqs: Any, queue_url: str, files: dict[str, Path], folder: Path, log: IO[str]
) -> None:
    """Everything on the queue through the real handler; then a redelivery and a correction."""
    from loader.pipeline import handler
    from loader.pipeline.events import s3_notification
    from loader.pipeline.sqs import LocalEventSourceMapping
    from loader.sources import S3Object

    handler.telemetry.logger.registered_handler.setStream(log)  # type: ignore[attr-defined]
    handler.reset()
    mapping = LocalEventSourceMapping(sqs, queue_url, handler.lambda_handler)
    try:
        with contextlib.redirect_stdout(log):  # the metrics (EMF) print to stdout
            drained = mapping.drain()
        exports = len(files)
        print(
            f"\nhandler: {drained} message(s) ({exports} exports + the S3 test event) "
            f"in {len(mapping.responses)} batch(es)"
        )
        day_key = next(iter(files))
        head = s3.head_object(Bucket=BUCKET, Key=day_key)
        etag, size = head["ETag"].strip('"'), head["ContentLength"]
        again = s3_notification(S3Object(BUCKET, day_key, etag=etag, size=size))
        sqs.send_message(QueueUrl=queue_url, MessageBody=again)
        correction_key = day_key.replace(".csv", "_correction.csv")
        correction = changed_copy(files[day_key], folder / Path(correction_key).name)
        s3.put_object(Bucket=BUCKET, Key=correction_key, Body=correction.read_bytes())
        print("redelivered the day's notification; uploaded a correction (1% changed)")
        with contextlib.redirect_stdout(log):
            mapping.drain()
    finally:
        handler.reset()
        handler.telemetry.logger.registered_handler.setStream(sys.stdout)  # type: ignore[attr-defined]


def _arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _print_results(
    config: DbConfig,
    letters: list[Any],
    rejects: list[str],
    log_path: Path,
    sqs: Any,
    queue_url: str,
) -> list[str]:
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute(
        "SELECT source_key, status, rows_merged, inserted, updated, unchanged, encoding, method, "
        "duration_ms, error FROM fund_data_loads ORDER BY id"
    )
    ledger = cur.fetchall()
    print("\nload reports (fund_data_loads):")
    print(
        f"  {'status':<9}{'rows':>9}{'inserted':>10}{'updated':>9}{'unchanged':>10}  "
        f"{'encoding':<9}{'method':<24}{'ms':>6}  source"
    )
    for key, status, merged, ins, upd, unch, enc, method, ms, error in ledger:

        def n(value: Any) -> str:
            return "-" if value is None else f"{int(value):,}"

        name = str(key).removeprefix(RAW_PREFIX)
        print(
            f"  {status:<9}{n(merged):>9}{n(ins):>10}{n(upd):>9}{n(unch):>10}  "
            f"{enc or '-':<9}{method or '-':<24}{n(ms):>6}  {name}"
        )
        if error:
            print(f"             {str(error).splitlines()[0][:150]}")
    cur.execute(
        "SELECT d_trade, COUNT(*), SUM(value_numeric IS NOT NULL), SUM(value_text IS NOT NULL) "
        "FROM fund_data GROUP BY d_trade ORDER BY d_trade"
    )
    print("\nfund_data:")
    for day, count, numeric, text in cur.fetchall():
        print(f"  {day}: {count:,} rows ({int(numeric):,} numeric, {int(text):,} text)")
    conn.commit()
    conn.close()

    print(f"\ndead-letter queue: {len(letters)} message(s)")
    for letter in letters:
        print(f"  {', '.join(letter.sources)}")
        for line in letter.error.get("error", "").splitlines()[:5]:
            print(f"    {line}")
    print(f"rejects reports: {', '.join(f's3://{BUCKET}/{k}' for k in rejects) or 'none'}")
    left = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    print(f"main queue: {left} message(s) left")
    lines = log_path.read_text(encoding="utf-8").splitlines()
    documents = [json.loads(line) for line in lines if line.startswith("{")]
    metrics = sum(1 for d in documents if "_aws" in d)
    print(
        f"handler logs: {len(documents) - metrics} JSON log lines and {metrics} metric "
        f"document(s) in {log_path}"
    )
    return [str(row[1]) for row in ledger]
