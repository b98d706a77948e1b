"""The Lambda image's cold start and size, measured without Docker.

Installs the function with the Dockerfile's own step (lambda/install.sh: the
locked wheels for Lambda's platform, precompiled) into a fresh directory,
then starts fresh Python processes of the image's version that see only
that directory and the standard library, with bytecode writing off as on
Lambda's read-only /var/task, and times:

- ``import handler`` (the cold import: what Lambda's init phase pays);
- import plus a first invocation with an ``s3:TestEvent`` (the handler's own
  set-up: pipeline, work directory, logger, metrics; no network).

It prints the median and best of N runs, and the installed size by package.

    .venv/bin/python bench/lambda_cold_start.py [--runs 15] [--target DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import handler
t1 = time.perf_counter()
if sys.argv[1] == "invoke":
    class Context:
        aws_request_id = "bench"
        def get_remaining_time_in_millis(self):
            return 900_000
    event = {"Records": [{"messageId": "m-1", "receiptHandle": "h", "eventSource": "aws:sqs",
              "body": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}),
              "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}]}
    assert handler.lambda_handler(event, Context()) == {"batchItemFailures": []}
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "total": t2 - t0}))
"""


def sizes(target: Path) -> list[tuple[str, int]]:
    out = []
    for entry in target.iterdir():
        if entry.name.endswith(".dist-info"):
            continue
        if entry.is_dir():
            total = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        else:
            total = entry.stat().st_size
        out.append((entry.name, total))
    return sorted(out, key=lambda item: -item[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--target", help="reuse an installed directory instead of installing")
    args = parser.parse_args()

    from tests.test_lambda_image import image_python, uv_binary

    python = image_python()
    scratch = None
    if args.target:
        target = Path(args.target)
    else:
        scratch = tempfile.mkdtemp(prefix="fundsync-lambda-bench-")
        target = Path(scratch) / "task"
        subprocess.run(
            [str(ROOT / "lambda" / "install.sh"), str(target)],
            env={**os.environ, "UV": uv_binary(), "PYTHON": python},
            check=True,
        )
    try:
        work = Path(tempfile.mkdtemp(prefix="fundsync-lambda-bench-tmp-"))
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(target),
            "PYTHONDONTWRITEBYTECODE": "1",
            "FUNDSYNC_WORK_DIR": str(work),
            "FUNDSYNC_DB_URL": "mysql://unused@127.0.0.1:1/unused",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        results: dict[str, list[float]] = {"import": [], "invoke": []}
        for mode in ("import", "invoke"):
            for _ in range(args.runs):
                run = subprocess.run(
                    [python, "-s", "-c", PROBE, mode],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=work,
                )
                figures = json.loads(run.stdout.strip().splitlines()[-1])
                results[mode].append(figures["import" if mode == "import" else "total"])
        shutil.rmtree(work, ignore_errors=True)
        total = sum(size for _, size in sizes(target))
        print(f"Lambda image (Python {Path(python).name}, {args.runs} fresh processes each)")
        print("| measure | median s | best s |\n|---|---:|---:|")
        for mode, label in (
            ("import", "cold import of handler"),
            ("invoke", "import + first invocation (TestEvent)"),
        ):
            values = results[mode]
            print(f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} |")
        print(f"\ninstalled size: {total / 1e6:,.0f} MB")
        for name, size in sizes(target)[:10]:
            print(f"  {name:<45} {size / 1e6:8.1f} MB")
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
