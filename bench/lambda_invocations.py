"""The Lambda path end to end: a first and a second invocation of the installed handler.

    python bench/lambda_invocations.py [--rows 200000 1000000] [--history-days 10] [--db URL]

Installs the function with the Dockerfile's own step (lambda/install.sh) into a fresh
directory, starts moto's S3 on a loopback port and a throwaway MariaDB (unless --db) whose
fund_data already holds --history-days days of 200k rows, uploads two fresh days per size,
then, in one fresh Python process of the image's version that sees only the installed
directory (as a Lambda execution environment): ``import handler``, a first invocation (the
SQS record of the first object: download, parse, load), a second one (the second object).
A fresh process per size. The first invocation pays what a cold environment pays beyond the
import (lazy imports, the connection, the first Polars and Arrow calls); the second is a warm
one. Prints a table and writes bench/results/lambda_invocations.{md,json}. Nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import loader  # noqa: E402,F401
from bench.backfill_bench import url_of  # noqa: E402
from bench.scenarios import history_exports  # noqa: E402
from bench.server import SERVER_OPTIONS, machine  # noqa: E402
from loader.devtools.dbserver import ThrowawayServer, free_port  # noqa: E402
from loader.devtools.samples import ExportSpec, write_export  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.mysql.connection import connect  # noqa: E402
from loader.mysql.migrate import migrate  # noqa: E402

BUCKET = "fund-data-lake"
PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import handler
t1 = time.perf_counter()
class Context:
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 900_000
out = {"import": t1 - t0, "invocations": []}
for i, record in enumerate(json.loads(sys.argv[1])):
    event = {"Records": [{"messageId": f"m-{i}", "receiptHandle": "h", "eventSource": "aws:sqs",
              "body": json.dumps({"Records": [record]}),
              "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}]}
    started = time.perf_counter()
    answer = handler.lambda_handler(event, Context())
    out["invocations"].append({"seconds": time.perf_counter() - started, "answer": answer})
print(json.dumps(out))
"""


def fresh(base: str, database: str) -> str:
    """The URL of a database made afresh and migrated on the server."""
    admin = connect(DbConfig.from_url(base))
    cur: Any = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {database}")
    cur.execute(f"CREATE DATABASE {database}")
    admin.close()
    url = url_of(base, database)
    conn = connect(DbConfig.from_url(url))
    migrate(conn)
    conn.close()
    return url


def s3_record(key: str, size: int, etag: str) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-12-09T18:01:02.345Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
            "object": {"key": key, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"},
        },
    }


# size: a script's measurements in the order they run (set-up, first and second invocation); to be split as bench/compare.py was
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--history-days", type=int, default=10)
    parser.add_argument("--db", help="an admin URL (default: a throwaway MariaDB)")
    args = parser.parse_args()

    import boto3

    from tests.test_lambda_image import image_python, uv_binary

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    history = history_exports(data, args.history_days, 200_000, 20251209)
    python = image_python()
    scratch = Path(tempfile.mkdtemp(prefix="fundsync-lambda-invocations-"))
    target = scratch / "task"
    print("installing the function (lambda/install.sh) ...", flush=True)
    subprocess.run(
        [str(ROOT / "lambda" / "install.sh"), str(target)],
        env={**os.environ, "UV": uv_binary(), "PYTHON": python},
        check=True,
        capture_output=True,
    )
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    aws_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    server = None if args.db else ThrowawayServer(options=SERVER_OPTIONS).start()
    base = args.db or server.url  # type: ignore[union-attr]
    results: list[dict[str, Any]] = []
    try:
        described = machine(DbConfig.from_url(base))
        for _ in range(100):
            try:
                s3 = boto3.client("s3", endpoint_url=endpoint, **{
                    "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                    "region_name": "us-east-1"})  # fmt: skip
                s3.create_bucket(Bucket=BUCKET)
                break
            except Exception:  # moto's server still starting
                time.sleep(0.1)
        for rows in args.rows:
            url = fresh(base, f"bench_lambda_{rows}")
            fundsync = str(Path(sys.executable).parent / "fundsync")
            folder = scratch / f"history_{rows}"
            folder.mkdir()
            for day in history:
                shutil.copy(day.path, folder / day.path.name)
            print(f"{rows:,} rows: history of {len(history)} days ...", flush=True)
            subprocess.run(
                [fundsync, "backfill", str(folder), "--progress", "none", "--db", url],
                check=True,
                capture_output=True,
            )
            records = []
            for i in range(2):
                day = date(2025, 12, 9) + timedelta(days=i)
                path = data / f"lambda_{rows}_{day}.csv"
                if not path.exists():
                    write_export(path, ExportSpec(rows=rows, seed=77 + i, start=day, days=1))
                key = f"raw/sql_server/fund_data/{day}/fund_data_{day}.csv"
                put = s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
                records.append(s3_record(key, path.stat().st_size, put["ETag"].strip('"')))
            work = scratch / f"work_{rows}"
            work.mkdir()
            env = {
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(target),
                "PYTHONDONTWRITEBYTECODE": "1",
                "FUNDSYNC_WORK_DIR": str(work),
                "FUNDSYNC_DB_URL": url,
                "POWERTOOLS_METRICS_DISABLED": "true",
                **aws_env,
            }
            run = subprocess.run(
                [python, "-s", "-c", PROBE, json.dumps(records)],
                env=env,
                capture_output=True,
                text=True,
                cwd=work,
            )
            if run.returncode != 0:
                raise RuntimeError(run.stderr[-3000:])
            figures = json.loads(run.stdout.strip().splitlines()[-1])
            first, second = figures["invocations"]
            for invocation in (first, second):
                if invocation["answer"] != {"batchItemFailures": []}:
                    raise RuntimeError(f"an invocation failed: {invocation['answer']}")
            row = {
                "rows": rows,
                "import": round(figures["import"], 3),
                "first": round(first["seconds"], 3),
                "second": round(second["seconds"], 3),
                "first_over_second": round(first["seconds"] / second["seconds"], 2),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        moto.terminate()
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": described,
        "python": Path(python).name,
        "history_days": len(history),
        "results": results,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "lambda_invocations.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"The installed handler ({record['python']}), one fresh process per size, fund_data "
        f"holding {len(history)} days x 200,000 rows; moto's S3 on loopback "
        f"({described}; {record['when']}).",
        "",
        "| object rows | cold import s | first invocation s | second invocation s | first / second |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['import']:.2f} | {r['first']:.2f} | {r['second']:.2f} | "
            f"{r['first_over_second']:.2f} |"
        )
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "lambda_invocations.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
