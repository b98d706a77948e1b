"""Least privileges (issue 21.10): a user without a grant a command needs gets, per source, a
failed load that names the missing privilege (never "unexpected error"), JSON as usual, the
other sources attempted; verify and status need SELECT only (docs/operations.md)."""

from __future__ import annotations

import json

import pytest

from loader.mysql.connection import connect
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query
from tests.helpers import fundsync

pytestmark = pytest.mark.db
GRANTS = {
    "notemp": "SELECT, INSERT, UPDATE, DELETE",
    "readonly": "SELECT",
    "leastpriv": "SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES",
}


@pytest.fixture
def users(db):
    admin = connect(db)
    cur = admin.cursor()
    for user, grants in GRANTS.items():
        for host in ("localhost", "127.0.0.1"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY 'pw'")
            cur.execute(f"GRANT {grants} ON {db.database}.* TO '{user}'@'{host}'")
    admin.commit()
    admin.close()
    return {u: f"mysql://{u}@127.0.0.1:{db.port}/{db.database}" for u in GRANTS}


def run(url: str, *args: str):
    done = fundsync(*args, "--db", url, env={"FUNDSYNC_DB_PASSWORD": "pw"})
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    return done


def exports(tmp_path):
    paths = []
    for name, day in (("a.csv", "2025-12-09"), ("b.csv", "2025-12-10")):
        path = tmp_path / name
        path.write_bytes(csv_bytes(f"{day},S,T,C,1"))
        paths.append(str(path))
    return paths


def test_a_user_without_temporary_tables_gets_one_failed_report_per_source(users, tmp_path, db):
    done = run(users["notemp"], "load", "--json", *exports(tmp_path))
    assert done.returncode == 1
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["status"], r["error_type"]) for r in reports] == [("failed", "PrivilegeMissing")] * 2
    assert all("CREATE TEMPORARY TABLES" in r["errors"][0]["reason"] for r in reports)
    assert query(db, "SELECT status FROM fund_data_loads") == [("failed",), ("failed",)]


def test_a_read_only_user_cannot_load_but_reads_status_and_verifies(users, tmp_path, db):
    paths = exports(tmp_path)
    with Session(db) as session:
        for path in paths:
            assert load_file(session, path).status == "loaded"
    done = run(users["readonly"], "load", "--json", "--force", *paths)
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1 and len(reports) == 2
    assert {r["error_type"] for r in reports} == {"PrivilegeMissing"}
    assert "INSERT command denied" in reports[0]["errors"][0]["reason"]
    status = run(users["readonly"], "status", "--json")
    assert json.loads(status.stdout)["recent"], status.stderr
    verified = run(users["readonly"], "verify", "--json", *paths)
    assert verified.returncode == 0, verified.stdout
    assert [json.loads(line)["verdict"] for line in verified.stdout.splitlines()] == ["match"] * 2
    migrate = run(users["readonly"], "migrate")
    assert migrate.returncode == 1 and "CREATE command denied" in migrate.stderr
    assert migrate.stderr.count("\n") == 1


def test_the_documented_least_privileges_load_and_verify(users, tmp_path):
    done = run(users["leastpriv"], "load", "--json", "--verify", *exports(tmp_path))
    assert done.returncode == 0, done.stdout
    assert {json.loads(line)["status"] for line in done.stdout.splitlines()} == {"loaded"}
