"""The Lambda image without Docker: the Dockerfile's install step into a fresh directory,
then the handler invoked from there in a fresh process, as Lambda would.

The process sees only the installed directory and the standard library of a
Python of the image's version (3.12): not this test environment's packages.
It loads a real S3 object from moto's server into MariaDB and sends its
X-Ray subsegments to a UDP socket standing in for the X-Ray daemon.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from loader.pipeline.sqs import SqsMessage, lambda_event
from tests.conftest import FAKE_AWS_ENV, aws_clients, csv_bytes, db_url, make_lake, query

pytestmark = [pytest.mark.aws, pytest.mark.db, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
IMAGE_PYTHON = "3.12"


def image_python() -> str:
    """A CPython of the image's version: on PATH, or where pyenv keeps it."""
    candidates = [shutil.which(f"python{IMAGE_PYTHON}")]
    candidates += sorted(
        glob.glob(f"/root/.pyenv/versions/{IMAGE_PYTHON}*/bin/python{IMAGE_PYTHON}")
    )
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{IMAGE_PYTHON}*/bin/python{IMAGE_PYTHON}"))
    )
    for candidate in candidates:
        if candidate and _is_version(candidate):
            return candidate
    pytest.fail(
        f"the Lambda image test needs a Python {IMAGE_PYTHON} interpreter (the image's), "
        f"as python{IMAGE_PYTHON} on PATH or under ~/.pyenv/versions",
        pytrace=False,
    )


def _is_version(python: str) -> bool:
    """True when ``python`` really runs and is the image's version (pyenv shims may not run)."""
    try:
        run = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return False
    return run.returncode == 0 and run.stdout.strip() == IMAGE_PYTHON


def uv_binary() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.fail(
            "uv is needed for the install step (./dev installs it into .tools/)", pytrace=False
        )
    return found


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("lambda-task-root")
    run = subprocess.run(
        [str(ROOT / "lambda" / "install.sh"), str(target)],
        env={**os.environ, "UV": uv_binary(), "PYTHON": image_python()},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return target


def test_the_dockerfile_installs_with_the_tested_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^FROM public\.ecr\.aws/lambda/python:{IMAGE_PYTHON}$", dockerfile, re.M)
    assert re.search(r'^CMD \["handler\.lambda_handler"\]$', dockerfile, re.M)
    run_step = dockerfile[dockerfile.index("RUN ") :]
    assert 'lambda/install.sh "${LAMBDA_TASK_ROOT}"' in run_step
    assert "x86_64-manylinux_2_34" in dockerfile  # Amazon Linux 2023's glibc


INVOKE = r"""
import json, sys, time
started = time.perf_counter()
import handler
imported = time.perf_counter() - started

class Context:
    aws_request_id = "req-1"
    function_name = "fundsync-loader"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:fundsync-loader"
    def get_remaining_time_in_millis(self):
        return 600_000

event = json.load(open(sys.argv[1]))
response = handler.lambda_handler(event, Context())
invoked = time.perf_counter() - started
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print("RESULT " + json.dumps({"response": response, "import_seconds": imported,
                              "first_invocation_seconds": invoked, "files": files}))
"""


def test_the_image_holds_the_library_but_not_the_development_helpers(image_root):
    assert (image_root / "loader" / "pipeline" / "handler.py").exists()
    assert (image_root / "handler.py").exists()
    assert sorted((image_root / "loader" / "mysql" / "migrations").glob("0*.sql"))
    assert not (image_root / "loader" / "devtools").exists()
    assert not (image_root / "loader" / "cli").exists()


def test_the_installed_handler_loads_an_object_in_a_fresh_process(
    image_root, aws_endpoint, db, tmp_path
):
    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs)
    key = lake.put(
        "2025-12-09/fund_data.csv",
        csv_bytes("2025-12-09,KF,KF-A,NAV,10.25", "2025-12-09,KF,KF-A,ST,Open"),
    )
    messages = [SqsMessage.from_api(m) for m in lake.receive()]
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(lambda_event(messages, lake.queue_arn, "us-east-1")))
    work = tmp_path / "tmp"
    work.mkdir()
    stale = work / "fundsync-work-left-by-a-killed-invocation"
    stale.mkdir()
    (stale / "object.part").write_bytes(b"x")

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(image_root),
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only on Lambda
        **FAKE_AWS_ENV,
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": "fundsync-loader",
        "LAMBDA_TASK_ROOT": str(image_root),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "FUNDSYNC_DB_URL": db_url(db),
        "FUNDSYNC_DLQ_URL": lake.dlq_url,
        "FUNDSYNC_WORK_DIR": str(work),
        "POWERTOOLS_SERVICE_NAME": "fundsync",
    }
    run = subprocess.run(
        [image_python(), "-s", "-c", INVOKE, str(event_file)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [line] = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line[len("RESULT ") :])
    assert result["response"] == {"batchItemFailures": []}
    assert query(
        db,
        "SELECT col_code, value_numeric, value_text, s3_source_key FROM fund_data ORDER BY col_code",
    ) == [
        ("NAV", pytest.approx(10.25), None, key),
        ("ST", None, "Open", key),
    ]
    # nothing came from this test environment: only the image and the standard library
    outside = [
        f
        for f in result["files"]
        if f
        and not f.startswith(str(image_root))
        and "/lib/python3.12/" not in f
        and not f.startswith(str(tmp_path))
    ]
    assert outside == []
    assert not any(".venv" in f for f in result["files"])
    assert not stale.exists(), "a stale work directory from a killed invocation survived"
    assert [p for p in work.rglob("*") if p.is_file()] == []

    segments = []
    while True:
        try:
            datagram = daemon.recv(65536)
        except TimeoutError:
            break
        _header, _, document = datagram.decode().partition("\n")
        segments.append(json.loads(document))
    daemon.close()
    names = {s.get("name") for s in segments}
    assert {"## batch", "## load", "## download", "## parse", "## write"} <= names, names
    assert "## load_direct" in names or {"## stage", "## merge"} <= names
    [load] = [s for s in segments if s.get("name") == "## load"]
    assert load["annotations"]["source"] == f"s3://lake/{key}"
    print(
        f"\ncold import {result['import_seconds']:.3f} s; "
        f"import + first invocation {result['first_invocation_seconds']:.3f} s"
    )
