"""``fundsync migrate`` and ``fundsync load`` run as a user runs them, against a real server."""

import json
from decimal import Decimal

import pytest

from tests.conftest import SECRET, csv_bytes, query, table
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db


def test_migrate_then_load_with_json_and_exit_codes(user_url, db, tmp_path):
    migrated = fundsync("migrate", "--db", user_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout and SECRET not in migrated.stdout
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes("2025-12-09,S,T,C,1.25", "2025-12-09,S,T,D,x"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("2025-12-09,S,T,C"))
    run = fundsync("load", "--json", "--db", user_url, str(good), str(bad))
    assert run.returncode == 1
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert (first["status"], first["inserted"], first["method"]) == (
        "loaded",
        2,
        "load_data_local_direct",
    )
    assert second["status"] == "rejected" and second["errors"][0]["line"] == 2
    assert SECRET not in run.stdout + run.stderr
    again = fundsync("load", "--db", user_url, str(good))
    assert again.returncode == 0 and "skipped" in again.stdout
    forced = fundsync("load", "--force", "--db", user_url, str(good))
    assert forced.returncode == 0 and "loaded" in forced.stdout
    assert [r[4:6] for r in table(db)] == [(Decimal("1.25"), None), (None, "x")]
    assert query(db, "SELECT COUNT(*) FROM fund_data_loads") == [(4,)]


def test_every_source_is_attempted_and_a_bad_one_is_one_line(db, tmp_path):
    """A missing file, a directory or a path through a file is reported, the rest still load."""
    first, last = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(csv_bytes("2025-12-09,S,T,C,1"))
    last.write_bytes(csv_bytes("2025-12-09,S,T,D,2"))
    folder = tmp_path / "a-folder"
    folder.mkdir()
    sources = [first, tmp_path / "missing.csv", folder, first / "inside.csv", last]
    run = fundsync("load", "--db", plain_url(db), *map(str, sources))
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines()[1:] if not line.startswith("    ")]
    assert [line.split()[0] for line in lines] == [
        "loaded",
        "rejected",
        "rejected",
        "rejected",
        "loaded",
    ]
    assert f"    file: {tmp_path / 'missing.csv'}: no such file" in run.stdout
    assert f"    file: {folder}: is a directory, not an export file" in run.stdout
    assert f"    file: {first / 'inside.csv'}: cannot be read (Not a directory)" in run.stdout
    assert [r[3] for r in table(db)] == ["C", "D"]
    statuses = query(db, "SELECT source_key, status FROM fund_data_loads ORDER BY id")
    expected = ["loaded", "rejected", "rejected", "rejected", "loaded"]
    assert statuses == [(str(s), st) for s, st in zip(sources, expected, strict=True)]
    parsed = fundsync("parse", *map(str, sources[1:4]))
    assert parsed.returncode == 1 and "Traceback" not in parsed.stdout + parsed.stderr
    assert parsed.stdout.count("REJECTED") == 3 and "no such file" in parsed.stdout


def test_a_wrong_password_never_shows_the_password(db, tmp_path):
    wrong = f"mysql://root:{SECRET}@127.0.0.1:{db.port}/{db.database}"
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes("2025-12-09,S,T,C,1"))
    run = fundsync("load", "--db", wrong, str(path))
    assert run.returncode != 0
    assert SECRET not in run.stdout + run.stderr


def test_no_database_is_a_usage_error(tmp_path):
    run = fundsync("load", str(tmp_path / "a.csv"), env={"FUNDSYNC_DB_URL": "", "AURORA_HOST": ""})
    assert run.returncode == 2 and "no database given" in run.stderr
