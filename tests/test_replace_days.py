"""Whole-day snapshots (--mode replace-days): keys of the file's trade dates that the file
lacks are deleted in the load's transaction, guarded against mass deletes."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from loader.errors import ConfigError
from loader.mysql.digest import WHOLE_DAY_FUNDS
from loader.mysql.session import Session
from loader.settings import ParseSettings
from tests.conftest import csv_bytes, load_file, query, table
from tests.helpers import fundsync, original_after_its_correction, plain_url

pytestmark = pytest.mark.db


def day(d: str, funds: range = range(50), cols: int = 4) -> list[str]:
    return [f"{d},F{f},F{f}-A,C{c},{f}.{c}5" for f in funds for c in range(cols)]


def export(tmp_path, name: str, rows: list[str]):
    path = tmp_path / name
    path.write_bytes(csv_bytes(*rows))
    return path


def keys(config, d: str) -> set[tuple[str, str]]:
    return {(r[1], r[3]) for r in table(config) if str(r[0]) == d}


REPLACE = {"mode": "replace-days"}


def test_the_missing_keys_of_the_files_dates_go_and_nothing_else(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        load_file(session, export(tmp_path, "d10.csv", day("2025-12-10")))
        snapshot = [
            line
            for line in day("2025-12-09")
            if ",F4," not in line and not line.startswith("2025-12-09,F1,F1-A,C3,")
        ]
        snapshot.append("2025-12-09,F50,F50-A,C0,1")
        report = load_file(session, export(tmp_path, "d9-fix.csv", snapshot), **REPLACE)
    assert report.status == "loaded", report.failure
    assert (report.to_dict()["deleted"], report.inserted, report.updated) == (5, 1, 0)
    assert keys(db, "2025-12-09") == {(line.split(",")[1], line.split(",")[3]) for line in snapshot}
    assert len(keys(db, "2025-12-10")) == 200  # another date: untouched
    ledger = query(db, "SELECT deleted FROM fund_data_loads ORDER BY id")
    assert ledger == [(None,), (None,), (5,)]


def test_a_day_of_many_funds_counts_only_the_funds_the_merge_wrote(db, tmp_path):
    """With 1,000+ funds a day the digest pre-pass reads whole days, and replace-days takes
    the counts of the funds the merge did not write from it: a fund that went, one that
    lost a key, one changed and shorter, one that gained a key, a new one."""
    funds = range(WHOLE_DAY_FUNDS + 100)
    with Session(replace(db, quality="all=off")) as session:  # d10 is 3 funds: not the gate's
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09", funds, cols=2)))
        load_file(session, export(tmp_path, "d10.csv", day("2025-12-10", range(3), cols=2)))
        snapshot = [
            line
            for line in day("2025-12-09", funds, cols=2)
            if ",F4," not in line
            and not line.startswith(("2025-12-09,F1,F1-A,C1,", "2025-12-09,F2,F2-A,C1,"))
        ]
        snapshot = [line.replace(",F2-A,C0,2.05", ",F2-A,C0,7") for line in snapshot]
        snapshot += ["2025-12-09,F3,F3-A,C2,3.25", "2025-12-09,F9999,F9999-A,C0,1"]
        report = load_file(session, export(tmp_path, "d9-fix.csv", snapshot), **REPLACE)
    assert report.status == "loaded", report.failure
    assert (report.to_dict()["deleted"], report.inserted, report.updated) == (4, 2, 1)
    assert report.to_dict()["unstaged_rows"] > 2 * WHOLE_DAY_FUNDS - 10  # the narrow path ran
    stored = {(str(r[0]), r[1], r[2], r[3]): r[4] for r in table(db)}
    expected = {tuple(line.split(",")[:4]): line.split(",")[4] for line in snapshot}
    assert {k: stored[k] for k in stored if k[0] == "2025-12-09"}.keys() == expected.keys()
    assert stored[("2025-12-09", "F2", "F2-A", "C0")] == Decimal("7")
    assert len([k for k in stored if k[0] == "2025-12-10"]) == 6  # another date: untouched


def test_a_mass_delete_is_refused_with_its_numbers_unless_allowed(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        before = table(db)
        half = export(tmp_path, "half.csv", day("2025-12-09", range(25)))
        refused = load_file(session, half, **REPLACE)
        assert (refused.status, refused.error_type) == ("rejected", "MassDeleteRefused")
        assert (
            "2025-12-09 would lose 100 of the 200 rows it held (50.0%)" in refused.failure.message
        )
        assert table(db) == before
        allowed = load_file(session, half, force=True, allow_mass_delete=True, **REPLACE)
        assert (allowed.status, allowed.to_dict()["deleted"]) == ("loaded", 100)
        assert len(table(db)) == 100


def test_the_share_allowed_is_a_setting(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        part = export(tmp_path, "part.csv", day("2025-12-09", range(40)))  # 20% goes
        refused = load_file(session, part, **REPLACE)
        allowed = load_file(session, part, force=True, max_delete_share=0.25, **REPLACE)
    assert (refused.status, allowed.status, allowed.to_dict()["deleted"]) == (
        "rejected",
        "loaded",
        40,
    )


def test_an_empty_or_header_only_file_deletes_nothing(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        (tmp_path / "empty.csv").write_bytes(b"")
        for path in (export(tmp_path, "header.csv", []), tmp_path / "empty.csv"):
            report = load_file(session, path, allow_mass_delete=True, **REPLACE)
            assert report.status == "loaded" and not report.to_dict()["deleted"]
    assert len(table(db)) == 200


def test_an_upsert_deletes_nothing_and_says_so(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        report = load_file(session, export(tmp_path, "part.csv", day("2025-12-09", range(10))))
    assert (report.status, report.to_dict()["deleted"]) == ("loaded", None)
    assert len(table(db)) == 200


def test_replace_days_and_verify_together(db, tmp_path):
    with Session(replace(db, verify=True)) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        snapshot = [line for line in day("2025-12-09") if ",F7," not in line]
        report = load_file(session, export(tmp_path, "fix.csv", snapshot), **REPLACE)
    assert (report.status, report.to_dict()["deleted"], report.to_dict()["verified"]) == (
        "loaded",
        4,
        True,
    )


def test_the_cli_flag_and_the_prefix_setting(db, tmp_path):
    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
    path = export(tmp_path, "fix.csv", [line for line in day("2025-12-09") if ",F7," not in line])
    run = fundsync("load", "--json", "--mode", "replace-days", str(path), "--db", plain_url(db))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[0])["deleted"] == 4
    settings = ParseSettings(mode_by_prefix=(("raw/eu/", "replace-days"), ("raw/eu/x/", "upsert")))
    assert [settings.mode_for(k) for k in ("raw/eu/a.csv", "raw/eu/x/a.csv", "raw/th/a.csv")] == [
        "replace-days",
        "upsert",
        "upsert",
    ]
    with pytest.raises(ConfigError):
        ParseSettings(mode="replace")
    run = fundsync("load", "--mode", "replace", str(path), "--db", plain_url(db))
    assert run.returncode == 2 and "Traceback" not in run.stderr


@pytest.mark.aws
def test_an_original_replayed_after_its_snapshot_correction_puts_back_nothing(
    handler, lake, db, monkeypatch
):
    """Newer wins, deletions too (issue 21.4): the correction is the day's whole content, so
    the original, written earlier and replayed later, must not bring back the key C that the
    correction deleted, nor overwrite A and B."""
    monkeypatch.setenv("FUNDSYNC_MODE", "replace-days")
    monkeypatch.setenv("FUNDSYNC_ALLOW_MASS_DELETE", "1")
    handler.module.reset()
    original, _ = original_after_its_correction(handler, lake)
    assert [(r[3], r[4]) for r in table(db)] == [("A", 2), ("B", 2)]
    deleted = query(db, "SELECT deleted FROM fund_data_loads WHERE source_key = %s", (original,))
    assert deleted == [(0,)]  # the ledger, not the log: another test may turn the log down


# -- issue 21: every verdict true -------------------------------------------------------------


def test_the_mass_delete_share_is_of_the_rows_the_day_held_before(db, tmp_path):
    """A file of all-new keys would delete the whole day: 100% of what the day held, whatever
    its own new rows add to the day (issue 21.6)."""
    with Session(db) as session:
        load_file(session, export(tmp_path, "old.csv", day("2025-12-09", range(10))))
        new_funds = export(tmp_path, "new.csv", day("2025-12-09", range(100, 200)))
        refused = load_file(session, new_funds, **REPLACE)
        assert (refused.status, refused.error_type) == ("rejected", "MassDeleteRefused")
        assert "would lose 40 of the 40 rows it held (100.0%)" in refused.failure.message
        assert keys(db, "2025-12-09") == {(f"F{f}", f"C{c}") for f in range(10) for c in range(4)}


@pytest.mark.slow
def test_one_fund_day_of_200k_long_keys_is_deleted_in_statements_that_fit(tmp_path):
    """replace-days once sent one statement with every key of a group to keep: over
    max_allowed_packet (MariaDB's default 16 MiB here) for a fund with 200k long keys,
    failing on every retry (issue 21.7)."""
    from loader.devtools.dbserver import ThrowawayServer, fresh_database
    from loader.mysql.connection import connect

    long = "X" * 56
    rows = [f"2025-12-09,BIG,T{i % 40:030d},{long}{i:08d},{i}" for i in range(200_000)]
    with ThrowawayServer() as server, fresh_database(server.url) as config:
        admin = connect(config)
        admin.cursor().execute("SET GLOBAL max_allowed_packet = 16777216")
        admin.close()
        with Session(config) as session:
            assert load_file(session, export(tmp_path, "big.csv", rows)).status == "loaded"
            smaller = export(tmp_path, "smaller.csv", rows[:190_000])
            report = load_file(session, smaller, **REPLACE)
        assert (report.status, report.to_dict()["deleted"]) == ("loaded", 10_000), report.failure
        assert query(config, "SELECT COUNT(*) FROM fund_data") == [(190_000,)]


def test_a_concurrent_write_during_replace_days_is_a_conflict_retried(db, tmp_path, monkeypatch):
    """Another writer's row appearing in a fund the file lacks, between the count and the
    delete, is a conflict: rolled back and retried (it was a "count mismatch", a broken
    invariant; issue 21.15). The retry counts the row and deletes it with its fund."""
    import loader.mysql.write as write
    from loader.mysql.connection import connect

    real, writes = write.delete_lacking, []

    def another_writer_then_delete(*args, **kwargs):
        if not writes:
            other = connect(db)
            other.cursor().execute(
                "INSERT INTO fund_data VALUES ('2025-12-09', 'F49', 'F49-A', 'Z9', 1, NULL, "
                "'someone else', NOW(6))"
            )
            other.commit()
            other.close()
            writes.append(1)
        return real(*args, **kwargs)

    with Session(db) as session:
        load_file(session, export(tmp_path, "d9.csv", day("2025-12-09")))
        monkeypatch.setattr(write, "delete_lacking", another_writer_then_delete)
        fewer = export(tmp_path, "fewer.csv", day("2025-12-09", range(48)))
        report = load_file(session, fewer, **REPLACE)
    assert (report.status, report.retries) == ("loaded", 1), report.failure
    assert report.to_dict()["deleted"] == 9  # two funds of 4 keys, and the other writer's row
    assert keys(db, "2025-12-09") == {(f"F{f}", f"C{c}") for f in range(48) for c in range(4)}


def test_two_snapshots_of_one_new_date_at_once_leave_exactly_one(db, tmp_path):
    """Two replace-days loads of the same new trade date started together both took the
    direct path and the day kept both files' rows (issue 21.2). Loads of one date now run one
    after the other: the second sees the first and replaces it."""
    import threading

    first = export(tmp_path, "a.csv", day("2025-12-09", range(0, 2500), cols=8))
    second = export(tmp_path, "b.csv", day("2025-12-09", range(5000, 7500), cols=8))
    start, reports = threading.Barrier(2), {}

    def load(path):
        with Session(db) as session:
            start.wait()
            reports[path.name] = load_file(session, path, allow_mass_delete=True, **REPLACE)

    threads = [threading.Thread(target=load, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status for r in reports.values()} == {"loaded"}
    held = {stock for stock, _ in keys(db, "2025-12-09")}
    funds_a = {f"F{f}" for f in range(0, 2500)}
    funds_b = {f"F{f}" for f in range(5000, 7500)}
    assert held in (funds_a, funds_b), (len(held & funds_a), len(held & funds_b))
    methods = sorted(r.method for r in reports.values())
    assert methods[0] != methods[1] == "load_data_local_direct" or "digest" in methods
