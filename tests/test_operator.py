"""The operator's day, run as an operator runs it: the real ``fundsync`` against a real MariaDB
(and moto's server for AWS): status, history, show, query; connections the mysql way and AWS
the aws way; every mistake one line and an exit status; quiet, verbose and readable logs."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from loader.mysql.connection import connect
from tests.conftest import SECRET, csv_bytes, query, read_until_closed
from tests.helpers import fundsync, fundsync_command, plain_url

pytestmark = pytest.mark.db


def day_file(folder: Path, day: date, rows: int, prefix: str = "day") -> Path:
    path = folder / f"{prefix}_{day}.csv"
    path.write_bytes(csv_bytes(*(f"{day},S{i},T,C,{i}.25" for i in range(rows))))
    return path


@pytest.fixture
def loaded(db, tmp_path):
    """A week of loads: Mon-Tue full, Wed short, Thu missing, Fri full; a rejected file."""
    monday = date(2025, 12, 8)
    paths = [
        day_file(tmp_path, monday + timedelta(days=offset), rows)
        for offset, rows in ((0, 100), (1, 100), (2, 20), (4, 100))
    ]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("2025-12-12,S,T,C,1", "2025-12-40,S,T,D,1"))
    run = fundsync(  # the short day is a status flag here, not the quality gate's hold
        "load", "--quality", "all=off", "--db", plain_url(db), *map(str, paths), str(bad)
    )
    assert run.returncode == 1
    return paths, bad


# -- 1. status -------------------------------------------------------------------------------


def test_status_shows_loads_problems_stuck_attempts_and_flagged_days(db, loaded, tmp_path):
    _paths, bad = loaded
    conn = connect(db)  # an attempt whose process is gone: a 'loading' row nobody holds
    conn.cursor().execute(
        "INSERT INTO fund_data_loads (source_key, source_key_hash, content_hash, size_bytes, "
        "status, started_at) VALUES ('gone.csv', SHA2('gone.csv', 256), '', 0, 'loading', NOW(6))"
    )
    conn.commit()
    conn.close()
    chart = tmp_path / "status.png"
    run = fundsync("status", "--json", "--chart", str(chart), "--db", plain_url(db))
    assert run.returncode == 1  # something needs a look
    state = json.loads(run.stdout)
    assert [a["status"] for a in state["recent"]][:2] == ["loading", "rejected"]
    [problem] = state["problems"]
    assert problem["source"] == str(bad) and "line 3" in problem["reason"]
    [stuck] = state["stuck"]
    assert stuck["source"] == "gone.csv" and stuck["stuck"]
    flags = {d["d_trade"]: (d["rows"], d["flag"]) for d in state["days"]}
    assert flags["2025-12-10"] == (20, "short") and flags["2025-12-11"] == (0, "missing")
    assert flags["2025-12-08"] == (100, None) and "2025-12-13" not in flags  # a Saturday
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = fundsync("status", "--db", plain_url(db)).stdout
    assert "stuck in 'loading'" in text and "fundsync status --mark-abandoned" in text
    assert "2025-12-11 Thu            0  <- missing" in text
    marked = fundsync("status", "--mark-abandoned", "--json", "--db", plain_url(db))
    assert json.loads(marked.stdout)["stuck"] == []
    assert query(db, "SELECT status FROM fund_data_loads WHERE source_key = 'gone.csv'") == [
        ("abandoned",)
    ]


def test_status_filters_by_source_prefix_and_day(db, loaded):
    paths, _ = loaded
    prefix = str(paths[0].parent / "day_2025-12-1")
    run = fundsync(
        "status", "--json", "--source", prefix, "--since", "2025-12-10", "--db", plain_url(db)
    )
    state = json.loads(run.stdout)
    assert {a["source"] for a in state["recent"]} == {str(paths[2]), str(paths[3])}
    assert state["problems"] == [] and state["days"][0]["d_trade"] == "2025-12-10"


# -- 2. history and show ------------------------------------------------------------------


def test_history_lists_every_attempt_and_show_what_the_last_load_changed(db, tmp_path):
    path = day_file(tmp_path, date(2025, 12, 8), 10)
    url = plain_url(db)
    fundsync("load", str(path), "--db", url)
    fundsync("load", str(path), "--db", url)
    path.write_bytes(csv_bytes(*(f"2025-12-08,S{i},T,C,{i}.5" for i in range(4))))
    fundsync("load", str(path), "--db", url)
    history = json.loads(fundsync("history", str(path), "--json", "--db", url).stdout)
    assert [a["status"] for a in history["attempts"]] == ["loaded", "skipped", "loaded"]
    show = json.loads(fundsync("show", str(path), "--json", "--db", url).stdout)
    assert (show["load"]["updated"], show["load"]["unchanged"]) == (4, 0)
    assert show["days"] == [{"d_trade": "2025-12-08", "rows_in_file": 4, "rows_held": None}]
    held = json.loads(fundsync("show", str(path), "--held", "--json", "--db", url).stdout)
    assert held["days"] == [{"d_trade": "2025-12-08", "rows_in_file": 4, "rows_held": 10}]
    missing = fundsync("show", "never.csv", "--db", url)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1


# -- 3. reading data back ---------------------------------------------------------------------


def test_query_by_ticker_and_by_source_with_exact_decimals(db, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(
        csv_bytes(
            "2025-12-08,S,T,C,-99999999999999999999999999.999999999999",
            "2025-12-09,S,T,C,0.000000000001",
            "2025-12-09,S,U,C,text, with a comma",
        ).replace(b"text, with a comma", b'"text, with a comma"')
    )
    url = plain_url(db)
    assert fundsync("load", str(path), "--db", url).returncode == 0
    as_csv = fundsync(
        "query", "--ticker", "T", "--since", "2025-12-09", "--format", "csv", "--db", url
    )
    lines = as_csv.stdout.splitlines()
    assert lines[0].startswith("d_trade,stock,ticker,col_code,value_numeric,value_text")
    assert lines[1].startswith("2025-12-09,S,T,C,0.000000000001,")  # never 1E-12
    everything = fundsync("query", "--source", str(path), "--format", "json", "--db", url)
    rows = [json.loads(line) for line in everything.stdout.splitlines()]
    assert next(r["value_numeric"] for r in rows) == "-99999999999999999999999999.999999999999"
    assert rows[1]["value_numeric"] == "0.000000000001"
    assert rows[2]["value_text"] == "text, with a comma"
    table = fundsync("query", "--ticker", "U", "--db", url)
    assert "text, with a comma" in table.stdout


def test_by_source_reads_only_the_days_its_loads_touched(db, tmp_path):
    """The plan of the source query: a range of the primary key per day, not a scan."""
    from loader.mysql import sql

    url = plain_url(db)
    for offset in range(3):
        fundsync(
            "load",
            str(day_file(tmp_path, date(2025, 12, 8) + timedelta(days=offset), 50)),
            "--db",
            url,
        )
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("EXPLAIN " + sql.select_by_source_days(1), (date(2025, 12, 9), "x"))
    plan = cur.fetchall()
    conn.close()
    [row] = plan
    names = [d[0] for d in cur.description]
    assert dict(zip(names, row, strict=True))["key"] == "PRIMARY"


# -- 4. connections the mysql way --------------------------------------------------------


def test_the_mysql_client_flags_option_files_and_a_password_off_the_command_line(
    user_url, db, tmp_path
):
    path = day_file(tmp_path, date(2025, 12, 8), 3)
    socket_ = db.unix_socket
    base = ["-u", "loader", "-D", db.database, "-S", socket_]
    home = tmp_path / "home"
    home.mkdir()
    clean = {"HOME": str(home), "FUNDSYNC_DB_URL": "", "AURORA_HOST": ""}
    by_env = fundsync("load", str(path), *base, env={**clean, "FUNDSYNC_DB_PASSWORD": SECRET})
    assert by_env.returncode == 0 and "visible" not in by_env.stderr, by_env.stderr
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n")
    by_file = fundsync(
        "load", "--force", str(path), *base, "--password-file", str(secret_file), env=clean
    )
    assert by_file.returncode == 0, by_file.stderr
    (home / ".my.cnf").write_text(
        f'[client]\nuser = loader\npassword = "{SECRET}"\nsocket = {socket_}\n'
        f"database = {db.database}\n"
    )
    by_option_file = fundsync("load", "--force", str(path), env=clean)
    assert by_option_file.returncode == 0, by_option_file.stderr
    # a flag beats the option file: the wrong database named on the command line wins
    wrong = fundsync("load", "--force", str(path), "-D", "no_such_database", env=clean)
    assert wrong.returncode == 1 and "no_such_database" in wrong.stderr
    defaults = tmp_path / "other.cnf"
    defaults.write_text((home / ".my.cnf").read_text())
    (home / ".my.cnf").unlink()
    by_defaults = fundsync(
        "load", "--force", str(path), "--defaults-file", str(defaults), env=clean
    )
    assert by_defaults.returncode == 0, by_defaults.stderr
    on_line = fundsync("load", "--force", str(path), *base, f"-p{SECRET}", env=clean)
    assert on_line.returncode == 0 and "visible to every user" in on_line.stderr
    assert SECRET not in on_line.stdout + on_line.stderr


def test_p_alone_prompts_without_echo(user_url, db, tmp_path):
    path = day_file(tmp_path, date(2025, 12, 8), 3)
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [fundsync_command(), "load", str(path), "-u", "loader", "-D", db.database, "-S",
         db.unix_socket, "-p"],
        stdin=secondary, stdout=secondary, stderr=secondary, start_new_session=True,
        env={**os.environ, "FUNDSYNC_DB_URL": "", "HOME": str(tmp_path)},
    )  # fmt: skip
    os.close(secondary)
    screen = b""
    while b"password" not in screen.lower():
        screen += os.read(main, 1024)
    os.write(main, SECRET.encode() + b"\n")
    screen = read_until_closed(main, screen)
    process.wait(60)
    assert process.returncode == 0, screen.decode()
    assert SECRET.encode() not in screen  # never echoed
    assert b"loaded" in screen


@pytest.mark.parametrize("password", ["p@ss/w:rd#1"])
def test_a_percent_encoded_password_works(db, password):
    from urllib.parse import quote

    admin = connect(db)
    cur = admin.cursor()
    cur.execute("CREATE USER IF NOT EXISTS 'odd'@'localhost' IDENTIFIED BY %s", (password,))
    cur.execute(f"GRANT ALL ON {db.database}.* TO 'odd'@'localhost'")
    admin.commit()
    admin.close()
    url = f"mysql://odd:{quote(password, safe='')}@localhost/{db.database}?unix_socket={db.unix_socket}"
    run = fundsync("migrate", "--db", url)
    assert run.returncode == 0, run.stderr
    assert password not in run.stdout + run.stderr


# -- 5. AWS the aws way ------------------------------------------------------------------------


@pytest.mark.aws
def test_aws_options_and_missing_region_or_credentials(aws_endpoint, db, tmp_path):
    from tests.conftest import aws_clients

    s3, _ = aws_clients(aws_endpoint)
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="x.csv", Body=csv_bytes("2025-12-08,S,T,C,1"))
    no_aws = {"AWS_ENDPOINT_URL": "", "AWS_DEFAULT_REGION": "", "AWS_REGION": ""}
    run = fundsync("load", "s3://lake/x.csv", "--db", plain_url(db), "--endpoint-url",
                   aws_endpoint, "--region", "us-east-1", env=no_aws)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    region = fundsync("dlq", "inspect", "--dlq-url", "http://127.0.0.1:1/q", env=no_aws)
    assert region.returncode == 2 and region.stderr.strip() == (
        "fundsync: no AWS region: give --region or set AWS_REGION (or AWS_DEFAULT_REGION)"
    )
    no_keys = {**no_aws, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
               "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "HOME": str(tmp_path),
               "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    creds = fundsync("dlq", "inspect", "--dlq-url", f"{aws_endpoint}/123456789012/q",
                     "--region", "us-east-1", env=no_keys)  # fmt: skip
    assert creds.returncode == 2 and creds.stderr.count("\n") == 1
    assert "no AWS credentials" in creds.stderr
    wrong_queue = fundsync("dlq", "inspect", "--dlq-url", f"{aws_endpoint}/123456789012/none",
                           "--region", "us-east-1", "--endpoint-url", aws_endpoint)  # fmt: skip
    assert wrong_queue.returncode == 1 and wrong_queue.stderr.count("\n") == 1
    assert "NonExistentQueue" in wrong_queue.stderr or "QueueDoesNotExist" in wrong_queue.stderr


# -- 6. every mistake one line, with its exit status ---------------------------------------


def _silent_server() -> tuple[socket.socket, int]:
    """A port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("missing file", 1, "no such file"),
        ("directory", 1, "is a directory"),
        ("xlsx", 1, "this is an Excel workbook (xlsx), not a CSV: export the sheet as CSV"),
        ("zip", 1, "this is a zip archive"),
        ("parquet", 1, "this is a Parquet file"),
        ("db unreachable", 1, "cannot reach the database at 127.0.0.1:1"),
        ("db silent", 1, "did not answer within 2 s (connect_timeout)"),
        ("empty folder", 1, "no export under"),
        ("glob matches nothing", 1, "no export under"),
        ("max 0", 2, "0 is not a positive number"),
        ("generate -5", 2, "-5 is not a positive number"),
        ("unknown command", 2, "invalid choice"),
        ("bad date", 2, "is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_mistake_is_one_line_and_an_exit_status(db, tmp_path, case, status, says):
    import zipfile

    url = plain_url(db)
    folder = tmp_path / "empty"
    folder.mkdir()
    book = tmp_path / "book.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("[Content_Types].xml", "x")
        z.writestr("xl/workbook.xml", "x")
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("day.csv", "d_trade,stock\n")
    parquet = tmp_path / "day.parquet"
    parquet.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    silent, port = _silent_server()
    commands = {
        "missing file": ["load", str(tmp_path / "nope.csv"), "--db", url],
        "directory": ["load", str(folder), "--db", url],
        "xlsx": ["load", str(book), "--db", url],
        "zip": ["parse", str(archive)],
        "parquet": ["parse", str(parquet)],
        "db unreachable": ["load", "x.csv", "-h", "127.0.0.1", "-P", "1", "-u", "u"],
        "db silent": ["load", "x.csv", "--db", f"mysql://u@127.0.0.1:{port}/d?connect_timeout=2"],
        "empty folder": ["backfill", str(folder), "--db", url],
        "glob matches nothing": ["backfill", str(tmp_path), "--glob", "*.nothing", "--db", url],
        "max 0": ["dlq", "inspect", "--dlq-url", "x", "--max", "0"],
        "generate -5": ["generate", str(tmp_path / "g.csv"), "--rows", "-5"],
        "unknown command": ["frobnicate"],
        "bad date": ["backfill", str(folder), "--since", "2025-13-01", "--db", url],
    }
    run = fundsync(*commands[case], env={"FUNDSYNC_DB_URL": ""})
    silent.close()
    out = run.stdout + run.stderr
    assert run.returncode == status, out
    assert says in out and "Traceback" not in out
    problem_lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(problem_lines) <= 1, run.stderr


def test_every_subcommand_has_help():
    top = fundsync("--help")
    listed = top.stdout.split("COMMAND\n", 1)[1].split("\noptions:", 1)[0]
    commands = [
        line.split()[0]
        for line in listed.splitlines()
        if line.startswith("    ") and line[4] != " "
    ]
    assert {"status", "history", "show", "query", "load", "backfill", "worker"} <= set(commands)
    for name in commands:
        run = fundsync(name, "--help")
        assert run.returncode == 0 and f"usage: fundsync {name}" in run.stdout, name
        assert "-q, --quiet" in run.stdout and "-v, --verbose" in run.stdout


# -- 7. output modes ----------------------------------------------------------------------------


def test_quiet_verbose_and_one_json_document(db, tmp_path):
    path = day_file(tmp_path, date(2025, 12, 8), 3)
    url = plain_url(db)
    quiet = fundsync("load", "-q", str(path), "--db", url)
    assert quiet.returncode == 0 and quiet.stdout == ""
    verbose = fundsync("load", "-v", "--force", str(path), "--db", url)
    assert "stage seconds: start" in verbose.stdout
    folder = tmp_path / "f"
    folder.mkdir()
    day_file(folder, date(2025, 12, 9), 3)
    dry = fundsync("backfill", str(folder), "--dry-run", "--db", url)
    assert dry.stdout.splitlines()[0].split() == ["trade", "date", "bytes", "ledger", "source"]
    document = json.loads(
        fundsync("backfill", str(folder), "--dry-run", "--json", "--db", url).stdout
    )
    assert [e["ledger"] for e in document["exports"]] == ["new"]


@pytest.mark.aws
def test_worker_logs_read_as_text_lines(aws_endpoint, db, tmp_path):
    from tests.conftest import aws_clients, make_lake

    s3, sqs = aws_clients(aws_endpoint)
    lake = make_lake(s3, sqs)
    lake.put("2025-12-08/day.csv", csv_bytes("2025-12-08,S,T,C,1"))
    run = fundsync("worker", "--queue-url", lake.queue_url, "--until-empty", "--wait", "1",
                   "--log-format", "text", "--db", plain_url(db),
                   env={"FUNDSYNC_WORK_DIR": str(tmp_path)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(" INFO    load loaded  status=loaded rows_read=1" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)


@pytest.mark.aws
def test_until_empty_ends_without_a_last_long_poll(lake, db, tmp_path):
    """Once the queue is drained the worker asks SQS how many messages are left (an instant
    answer) instead of waiting out one more long poll for nothing."""
    from loader.pipeline.process import Pipeline
    from loader.pipeline.worker import Worker
    from loader.settings import PipelineSettings

    lake.put("2025-12-08/day.csv", csv_bytes("2025-12-08,S,T,C,1"))
    polls: list[int] = []

    def count(params, **_):
        polls.append(params.get("WaitTimeSeconds", 0))

    lake.sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", count)
    settings_ = PipelineSettings(dlq_url=lake.dlq_url, work_dir=str(tmp_path))
    with Pipeline(settings_, db=db, s3=lake.s3, sqs=lake.sqs) as pipeline:
        worker = Worker(pipeline, lake.queue_url, sqs=lake.sqs, wait_seconds=20, until_empty=True)
        summary = worker.run()
    assert summary.files == {"loaded": 1}
    assert polls == [20]  # the poll that found the message, and no other


# -- 9. ./dev costs nothing when set up -----------------------------------------------------------


def _dev_copy(tmp_path: Path) -> Path:
    """``./dev`` beside a copy of the lock and the project, an environment whose ``fundsync``
    says it ran, and a stand-in uv of the pinned version that records every ``sync``."""
    import hashlib
    import re
    import shutil

    root = Path(__file__).resolve().parents[1]
    for name in ("dev", "uv.lock", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)
    version = re.search(r'UV_VERSION="([^"]+)"', (root / "dev").read_text()).group(1)
    uv = f'[ "$1" = --version ] && echo "uv {version}" || echo "$*" >> "$(dirname "$0")/../../synced"'
    for tool, body in ((".venv/bin/fundsync", 'echo "fundsync ran: $*"'), (".tools/bin/uv", uv)):
        path = tmp_path / tool
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    (tmp_path / ".venv/bin/python").symlink_to(os.path.realpath(sys.executable))
    made_from = (tmp_path / "uv.lock").read_bytes() + (tmp_path / "pyproject.toml").read_bytes()
    stamp = f"{hashlib.sha256(made_from).hexdigest()} uv={version}\n"
    (tmp_path / ".venv/.dev-stamp").write_text(stamp)
    return tmp_path


def test_dev_runs_at_once_when_the_environment_is_up_to_date(tmp_path):
    dev = _dev_copy(tmp_path)
    run = subprocess.run(
        ["./dev", "fundsync", "--version"], cwd=dev, capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout == "fundsync ran: --version\n", run.stderr
    assert not (dev / "synced").exists()  # no uv sync on a call with nothing to do
    with (dev / "pyproject.toml").open("a") as project:  # the project changed: sync once
        project.write("\n# changed\n")
    for _ in range(2):
        assert subprocess.run(["./dev", "fundsync"], cwd=dev, capture_output=True).returncode == 0
    assert (dev / "synced").read_text().splitlines() == ["sync --frozen --quiet"]


def test_dev_help_lists_its_commands_and_just():
    dev = Path(__file__).resolve().parents[1] / "dev"
    run = subprocess.run([str(dev)], capture_output=True, text=True)
    assert run.returncode == 0
    assert all(f"./dev {c}" in run.stdout for c in ("demo", "test", "bench", "fundsync", "just"))
    wrong = subprocess.run([str(dev), "nonsense"], capture_output=True, text=True)
    assert wrong.returncode == 2


def test_a_control_character_in_a_file_name_is_escaped_in_every_table(db, tmp_path):
    """A newline in a file name broke the status table into two rows (issue 21.17)."""
    odd = tmp_path / "evil\nname\x1b[31m\u202e.csv"
    odd.write_bytes(csv_bytes("2025-12-09,S,T,C,1"))
    url = plain_url(db)
    load = fundsync("load", str(odd), "--db", url)
    assert load.returncode == 0, load.stderr
    escaped = f"{tmp_path}/evil\\nname\\x1b[31m\\u202e.csv"
    assert escaped in load.stdout and "\x1b" not in load.stdout
    for command in (("status",), ("history", str(odd)), ("show", str(odd))):
        run = fundsync(*command, "--db", url)
        assert escaped in run.stdout, (command, run.stdout)
        assert "\x1b" not in run.stdout and "\u202e" not in run.stdout, command
        lines = [line for line in run.stdout.splitlines() if "evil" in line]
        assert len(lines) == 1 and "name" in lines[0], (command, run.stdout)

    from loader.display import shown

    assert shown("Crédit กสิกร") == "Crédit กสิกร"
