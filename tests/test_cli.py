"""The real ``fundsync`` command, run as a user runs it."""

import json
import os
from pathlib import Path

import pytest

from loader.devtools.samples import ExportSpec, write_export
from tests.conftest import csv_bytes
from tests.helpers import fundsync

ROOT = Path(__file__).resolve().parent.parent


def test_parse_json_reports_each_source_and_exits_1_when_one_is_rejected(tmp_path):
    good = write_export(tmp_path / "good.csv", ExportSpec(rows=2000))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("2025-12-09,S,T,C,1", "2025-12-40,S,T,C,1"))
    run = fundsync("parse", "--json", str(good), str(bad))
    assert run.returncode == 1, run.stderr
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert first["status"] == "parsed" and first["rows_read"] == 2000
    for field in (
        "duplicates_in_file",
        "conflicting_duplicates",
        "rejected_rows",
        "encoding",
        "date_format",
        "date_order",
        "date_order_proven",
        "extra_columns",
        "seconds",
        "rows_per_second",
        "errors",
    ):
        assert field in first
    assert second["status"] == "rejected"
    assert second["errors"] == [
        {"line": 3, "column": "d_trade", "reason": second["errors"][0]["reason"]}
    ]


def test_parse_exits_0_when_every_source_parses(tmp_path):
    good = write_export(tmp_path / "good.csv.gz", ExportSpec(rows=500, gzip=True, encoding="cp874"))
    run = fundsync("parse", str(good))
    assert run.returncode == 0, run.stderr
    assert "500 read" in run.stdout and "cp874" in run.stdout


def test_usage_errors_exit_2(tmp_path):
    assert fundsync("parse").returncode == 2
    assert fundsync("parse", "--max-bad-rows", "lots", str(tmp_path / "x.csv")).returncode == 2
    assert fundsync("frobnicate").returncode == 2


def test_settings_come_from_flags_and_environment(tmp_path):
    export = tmp_path / "slash.csv"
    export.write_bytes(csv_bytes("03/04/2025,S,T,C,1"))
    by_env = fundsync("parse", "--json", str(export), env={"FUNDSYNC_DATE_ORDER": "day-first"})
    assert json.loads(by_env.stdout)["date_order"] == "day-first"
    by_flag = fundsync(
        "parse",
        "--json",
        "--date-order",
        "month-first",
        str(export),
        env={"FUNDSYNC_DATE_ORDER": "day-first"},
    )
    assert json.loads(by_flag.stdout)["date_order"] == "month-first"


def test_write_rejects_puts_the_rejects_file_beside_the_input(tmp_path):
    export = tmp_path / "some.csv"
    export.write_bytes(csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,,T,C,1"))
    run = fundsync("parse", "--json", "--max-bad-rows", "1", "--write-rejects", str(export))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["rejected_rows"] == 1
    rejects = Path(report["rejects_file"])
    assert rejects == tmp_path / "some.csv.rejects.csv"
    assert "stock: stock is empty" in rejects.read_text()


def test_generate_writes_a_deterministic_export(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert fundsync("generate", str(a), "--rows", "1000").returncode == 0
    assert fundsync("generate", str(b), "--rows", "1000").returncode == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.db
@pytest.mark.aws
def test_demo_runs_the_pipeline_end_to_end_and_again(tmp_path, db):
    """The demo writes to its own database (fundsync_demo), made afresh on every run: a second
    run against the same server works, and the database the URL names is not touched."""
    from tests.helpers import plain_url

    for run_number in (1, 2):
        keep = tmp_path / f"run{run_number}"
        run = fundsync("demo", "--rows", "20000", "--keep", str(keep), "--db", plain_url(db))
        assert run.returncode == 0, run.stdout + run.stderr
        out = run.stdout
        assert "database fundsync_demo on" in out and "made afresh" in out
        assert "notification raw/sql_server/fund_data/*.csv" in out
        assert "3 exports + the S3 test event" in out
        assert "The demo ran as expected." in out
        assert (
            "dead-letter queue: 1 message(s)" in out and "line 3: expected 5 fields, found 4" in out
        )
        assert (
            "rejects/raw/sql_server/fund_data/2025-12-11/fund_data_2025-12-11.csv.rejects.json"
            in out
        )
        assert "cp1252" in out and "main queue: 0 message(s) left" in out
        statuses = [
            line.split()[0]
            for line in out.split("load reports")[1].split("fund_data:")[0].splitlines()[2:]
            if line.startswith("  ") and not line.startswith("   ")
        ]
        assert statuses == ["loaded", "loaded", "rejected", "skipped", "loaded"]
    logs = [json.loads(line) for line in (keep / "handler-log.jsonl").read_text().splitlines()]
    loaded = [r for r in logs if r.get("message") == "load loaded"]
    assert len(loaded) == 3 and {r["load_report"]["status"] for r in loaded} == {"loaded"}
    assert any("_aws" in r for r in logs)  # metrics in embedded metric format
    from loader.parse import parse_file
    from tests.conftest import query

    expected = sum(
        parse_file(keep / name).row_count
        for name in ("fund_data_2025-12-09.csv", "fund_data_2025-12-10_eu.csv")
    )
    demo = db.with_database("fundsync_demo")
    assert query(demo, "SELECT COUNT(*) FROM fund_data") == [(expected,)]
    assert query(db, "SELECT COUNT(*) FROM information_schema.tables "
                     "WHERE table_schema = DATABASE() AND table_name = 'fund_data'") in (
        [(0,)], [(1,)])  # fmt: skip
    if query(db, "SHOW TABLES LIKE 'fund_data'"):
        assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]
    _the_readmes_python_example_returns_rows(db)


def _the_readmes_python_example_returns_rows(db):
    """The README's read-back example, run as written against the demo's database."""
    import contextlib
    import io
    import re

    from tests.helpers import plain_url

    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "get_by_source" in b]
    assert len(blocks) == 1, "the README has one read-back example"
    url = plain_url(db.with_database("fundsync_demo"))
    namespace: dict[str, object] = {}
    saved = os.environ.get("FUNDSYNC_DB_URL")
    os.environ["FUNDSYNC_DB_URL"] = url
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(compile(blocks[0], "README.md", "exec"), namespace)
    finally:
        if saved is None:
            del os.environ["FUNDSYNC_DB_URL"]
        else:
            os.environ["FUNDSYNC_DB_URL"] = saved
    frame, corrected = namespace["frame"], namespace["corrected"]
    assert frame.height > 0 and corrected.height > 0  # type: ignore[attr-defined]
    assert set(corrected["s3_source_key"]) == {namespace["key"]}  # type: ignore[index]
    assert printed.getvalue().split() == [str(frame.height), str(corrected.height)]  # type: ignore[attr-defined]


def test_generate_starts_where_told(tmp_path):
    path = tmp_path / "g.csv"
    run = fundsync("generate", str(path), "--rows", "50", "--start-date", "2024-02-28")
    assert run.returncode == 0, run.stderr
    days = {line.split(",")[0] for line in path.read_text().splitlines()[1:]}
    assert min(days) == "2024-02-28"
    bad = fundsync("generate", str(path), "--rows", "50", "--start-date", "28/02/2024")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
