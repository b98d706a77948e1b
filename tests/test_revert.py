"""Undo a bad load (issue 24): the change log each load writes in its own transaction, and
``fundsync revert``, which puts every key the load changed back as it was (values and
lineage), all or nothing, refuses keys later loads changed unless --force, and can itself be
reverted; ``query --history`` lists the values a key held."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from loader.errors import RevertRefused
from loader.mysql import revert
from loader.mysql.connection import connect
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db

DAY = "2025-12-09"


def state(config) -> list[tuple]:
    """fund_data with its lineage (source and time): what a revert must give back exactly."""
    return query(
        config,
        "SELECT d_trade, stock, ticker, col_code, value_numeric, value_text, s3_source_key, "
        "synced_at FROM fund_data ORDER BY d_trade, stock, ticker, col_code",
    )


def day_counts(config) -> list[tuple]:
    return query(config, "SELECT d_trade, row_count FROM fund_data_days WHERE row_count > 0 "
                         "ORDER BY 1")  # fmt: skip


def counted(config) -> list[tuple]:
    return query(config, "SELECT d_trade, COUNT(*) FROM fund_data GROUP BY 1 ORDER BY 1")


def write(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_bytes(csv_bytes(*lines))
    return path


def original(day: str = DAY) -> list[str]:
    return [f"{day},F{f},T{f},C{c},{f}.{c}5" for f in range(6) for c in range(5)]


def load(config, path, **settings):
    with Session(config) as session:
        report = load_file(session, path, **settings)
    assert report.status == "loaded", report.failure
    return report


def last_id(config) -> int:
    return int(query(config, "SELECT MAX(id) FROM fund_data_loads")[0][0])


def undo(config, ledger_id: int, **kwargs):
    conn = connect(config)
    try:
        return revert.revert(conn, revert.find(conn, ledger_id), **kwargs)
    finally:
        conn.close()


def test_revert_of_a_new_day_deletes_its_keys_and_the_source_loads_again(db, tmp_path):
    before = state(db)
    path = write(tmp_path, "d9.csv", original())
    load(db, path)
    done = undo(db, last_id(db))
    assert (done.deleted, done.restored, state(db)) == (30, 0, before)
    assert day_counts(db) == counted(db) == []
    statuses = query(db, "SELECT id, status, reverts, reverted_by FROM fund_data_loads ORDER BY id")
    assert statuses == [(1, "loaded", None, 2), (2, "reverted", 1, None)]
    # a reverted source is not "already loaded": given again, it loads
    assert load(db, path).inserted == 30


@pytest.mark.parametrize("layout", ["composite-pk", "surrogate-id"], indirect=True)
def test_revert_of_a_correction_gives_back_every_old_value_and_lineage(db, layout, tmp_path):
    load(db, write(tmp_path, "d9.csv", original()))
    before = state(db)
    fixed = [line.replace(",F2,T2,C1,2.15", ",F2,T2,C1,99.000000000001") for line in original()]
    fixed = [line for line in fixed if ",F5," not in line] + [f"{DAY},F9,T9,C0,=new"]
    fixed[0] = fixed[0].rsplit(",", 1)[0] + ",=text now"
    report = load(db, write(tmp_path, "d9-fix.csv", fixed))
    assert (report.inserted, report.updated) == (1, 2)
    done = undo(db, last_id(db))
    assert (done.restored, done.deleted) == (2, 1)
    assert state(db) == before
    assert day_counts(db) == counted(db)


@pytest.mark.parametrize("untouched", [None, "F5"])
@pytest.mark.parametrize("mode", ["upsert", "replace-days"])
def test_a_correction_of_most_values_logs_exactly_what_it_changed_and_reverts(
    db, tmp_path, mode, untouched
):
    """A correction that rewrites most values of most funds: the change log holds exactly
    the rows changed (not the value kept, not the key the file lacks, which replace-days
    logs as a delete), with their old values, and the revert gives back the day exactly."""
    load(db, write(tmp_path, "d9.csv", original()))
    before = state(db)
    fixed = [
        line if ",C4," in line or (untouched and f",{untouched}," in line) else line + "1"
        for line in original()
        if ",F0,T0,C3," not in line
    ]
    report = load(db, write(tmp_path, "d9-fix.csv", fixed), mode=mode)
    funds = [f for f in range(6) if f"F{f}" != untouched]
    changed = [(f"F{f}", f"C{c}") for f in funds for c in range(4) if (f, c) != (0, 3)]
    assert (report.inserted, report.updated) == (0, len(changed))
    logged = query(db, "SELECT stock, col_code, op, value_numeric FROM fund_data_changes "
                       "ORDER BY stock, col_code")  # fmt: skip
    expected = [(s, c, "update") for s, c in changed]
    if mode == "replace-days":
        expected.append(("F0", "C3", "delete"))
    assert sorted(row[:3] for row in logged) == sorted(expected)
    old = {(r[1], r[3]): r[4] for r in before}
    assert all(value == old[(stock, code)] for stock, code, _, value in logged)
    done = undo(db, last_id(db))
    assert state(db) == before
    assert done.restored == len(expected)


def test_revert_of_replace_days_brings_the_deleted_keys_back(db, tmp_path):
    load(db, write(tmp_path, "d9.csv", original()))
    before = state(db)
    snapshot = [line for line in original() if ",F1,T1,C0," not in line and ",T1,C1," not in line]
    report = load(db, write(tmp_path, "d9-snap.csv", snapshot), mode="replace-days")
    assert report.to_dict()["deleted"] == 2
    done = undo(db, last_id(db))
    assert (done.restored, state(db)) == (2, before)
    assert day_counts(db) == counted(db) == [(before[0][0], 30)]


def test_a_later_overlapping_load_refuses_the_revert_unless_forced(db, tmp_path):
    load(db, write(tmp_path, "d9.csv", original()))
    first = state(db)
    bad = [line.replace(",T3,C0,3.05", ",T3,C0,7") for line in original()]
    bad = [line.replace(",T4,C4,4.45", ",T4,C4,8") for line in bad]
    load(db, write(tmp_path, "d9-bad.csv", bad))
    bad_id = last_id(db)
    later = [line.replace(",T3,C0,7", ",T3,C0,9") for line in bad]
    load(db, write(tmp_path, "d9-later.csv", later))
    later_id = last_id(db)
    after_later = state(db)
    with pytest.raises(
        RevertRefused, match=rf"1 key\(s\) changed since by later load\(s\) #{later_id}"
    ):
        undo(db, bad_id)
    assert state(db) == after_later  # nothing touched
    assert query(db, "SELECT COUNT(*) FROM fund_data_loads WHERE status = 'reverted'") == [(0,)]
    run = fundsync("revert", "--load-id", str(bad_id), "--db", plain_url(db))
    assert run.returncode == 1 and f"#{later_id} (1)" in run.stderr
    forced = undo(db, bad_id, force=True)
    assert (forced.conflicts, forced.owners, forced.restored) == (1, {later_id: 1}, 2)
    assert state(db) == first  # the forced revert restores the key the later load changed too


def test_reverting_a_revert_applies_the_load_again(db, tmp_path):
    load(db, write(tmp_path, "d9.csv", original()))
    extra = [*original(), f"{DAY},F7,T7,C0,1"]
    fixed = [
        line.replace(",F0,T0,C0,0.05", ",F0,T0,C0,5") for line in extra if ",T3,C0," not in line
    ]
    load(db, write(tmp_path, "d9-fix.csv", fixed), mode="replace-days")
    applied = state(db)
    undone = undo(db, last_id(db))
    assert state(db) != applied
    again = undo(db, undone.ledger_id)
    assert (again.reapplies, state(db)) == (2, applied)
    assert query(db, "SELECT id, reverted_by FROM fund_data_loads ORDER BY id") == [
        (1, None), (2, None), (3, 4), (4, None)
    ]  # fmt: skip
    assert day_counts(db) == counted(db)
    # and the load, applied again, can be reverted again (its reverts are not "later" loads)
    undo(db, 2)
    assert len(state(db)) == 30


def test_a_crash_mid_revert_leaves_the_state_before_it(db, tmp_path, monkeypatch):
    load(db, write(tmp_path, "d9.csv", original()))
    fixed = [line[:-1] + "6" for line in original()]
    load(db, write(tmp_path, "d9-fix.csv", fixed))
    before, ledger = state(db), query(db, "SELECT * FROM fund_data_loads ORDER BY id")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # after every key was written, before the day counts

    monkeypatch.setattr(revert.days, "count_changes", crash)
    with pytest.raises(KeyboardInterrupt):
        undo(db, 2)
    assert state(db) == before
    assert query(db, "SELECT * FROM fund_data_loads ORDER BY id") == ledger
    assert query(db, "SELECT COUNT(*) FROM fund_data_changes WHERE load_id > 2") == [(0,)]
    monkeypatch.undo()
    assert undo(db, 2).restored == 30  # and it can be done afterwards


def test_a_fresh_day_writes_no_change_log_and_a_correction_only_its_changes(db, tmp_path):
    load(db, write(tmp_path, "d9.csv", original()))
    assert query(db, "SELECT COUNT(*) FROM fund_data_changes") == [(0,)]
    fixed = [line.replace(",F1,T1,C2,1.25", ",F1,T1,C2,1.26") for line in original()]
    load(db, write(tmp_path, "d9-fix.csv", fixed))
    logged = query(db, "SELECT load_id, stock, col_code, op, value_numeric, s3_source_key "
                       "FROM fund_data_changes")  # fmt: skip
    assert [row[:4] for row in logged] == [(2, "F1", "C2", "update")]
    assert (str(logged[0][4]), logged[0][5].endswith("d9.csv")) == ("1.250000000000", True)


def test_retention_prunes_the_change_log_and_a_pruned_load_cannot_be_reverted(db, tmp_path):
    load(db, write(tmp_path, "d9.csv", original()))
    load(db, write(tmp_path, "d9-fix.csv", [line[:-1] + "6" for line in original()]))
    url = plain_url(db)
    kept = fundsync("prune", "--changes", "--keep-days", "1", "--json", "--db", url)
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["change_log"]["rows"] == 0  # a load of today is kept
    query(db, "UPDATE fund_data_loads SET finished_at = %s", (datetime.now() - timedelta(days=3),))
    run = fundsync("prune", "--changes", "--keep-days", "1", "--json", "--db", url)
    assert json.loads(run.stdout)["change_log"] == {"loads": 2, "rows": 30}
    assert query(db, "SELECT COUNT(*) FROM fund_data_changes") == [(0,)]
    refused = fundsync("revert", "--load-id", "2", "--db", url)
    assert refused.returncode == 1 and "change log was pruned" in refused.stderr


def test_the_cli_reverts_a_source_dry_run_first_and_history_lists_each_value(db, tmp_path):
    url = plain_url(db)
    path = write(tmp_path, "d9.csv", original())
    assert fundsync("load", str(path), "--db", url).returncode == 0
    fix = write(tmp_path, "d9-fix.csv", [line.replace(",T2,C3,2.35", ",T2,C3,3") for line in
                                         original()])  # fmt: skip
    assert fundsync("load", str(fix), "--db", url).returncode == 0
    before = state(db)
    dry = fundsync("revert", str(fix), "--dry-run", "--json", "--db", url)
    assert dry.returncode == 0, dry.stderr
    assert (json.loads(dry.stdout)["restored"], state(db)) == (1, before)
    history = fundsync("query", "--ticker", "T2", "--col-code", "C3", "--history", "--format",
                       "json", "--db", url)  # fmt: skip
    values = [json.loads(line) for line in history.stdout.splitlines()]
    assert [(v["value_numeric"], v["written_by"], v["replaced_by"]) for v in values] == [
        ("2.350000000000", 1, 2), ("3.000000000000", 2, None)
    ]  # fmt: skip
    done = fundsync("revert", str(fix), "--db", url)
    assert done.returncode == 0, done.stderr
    assert "restored 1 key(s)" in done.stdout and "recorded as #3" in done.stdout
    assert query(db, "SELECT value_numeric FROM fund_data WHERE ticker = 'T2' AND "
                     "col_code = 'C3'")[0][0] == Decimal("2.35")  # fmt: skip
    shown = fundsync("history", str(fix), "--db", url)
    assert "reverted" in shown.stdout, shown.stdout
    again = fundsync("load", str(fix), "--json", "--db", url)  # not skipped: it was reverted
    assert json.loads(again.stdout.splitlines()[0])["status"] == "loaded", again.stdout


def test_verify_after_a_revert_says_the_load_was_reverted(db, tmp_path):
    url = plain_url(db)
    path = write(tmp_path, "d9.csv", original())
    assert fundsync("load", str(path), "--db", url).returncode == 0
    assert fundsync("revert", str(path), "--db", url).returncode == 0
    run = fundsync("verify", str(path), "--json", "--db", url)
    assert run.returncode == 0, run.stdout + run.stderr
    found = json.loads(run.stdout.splitlines()[0])
    assert (found["verdict"], found["load_id"]) == ("reverted", 1), found
    assert "reverted by #2" in found["note"]
    # applied again (a revert of the revert), the file matches again
    assert fundsync("revert", "--load-id", "2", "--db", url).returncode == 0
    again = json.loads(fundsync("verify", str(path), "--json", "--db", url).stdout.splitlines()[0])
    assert again["verdict"] == "match", again


def test_status_and_show_display_a_revert(db, tmp_path):
    url = plain_url(db)
    path = write(tmp_path, "d9.csv", original())
    assert fundsync("load", str(path), "--db", url).returncode == 0
    assert fundsync("revert", str(path), "--db", url).returncode == 0
    status = fundsync("status", "--db", url)
    assert "reverted" in status.stdout, status.stdout
    show = fundsync("show", str(path), "--db", url)
    assert "reverted load #1" in show.stdout, show.stdout + show.stderr


@pytest.mark.aws
def test_a_verified_correction_through_the_lambda_is_reverted_and_loads_again(
    handler, lake, db, tmp_path, monkeypatch
):
    """The Lambda writes the change log too (every entry point merges the same way), with
    --verify on; after the revert the same object, sent again, is loaded, not skipped."""
    monkeypatch.setenv("FUNDSYNC_VERIFY", "1")
    key = f"{DAY}/fund_data_{DAY}.csv"
    lake.put(key, csv_bytes(*original()))
    handler.drain()
    before = state(db)
    lake.put(key, csv_bytes(*[line[:-1] + "7" for line in original()]))
    handler.drain()
    loads = query(db, "SELECT id, status, digest IS NOT NULL FROM fund_data_loads ORDER BY id")
    assert [row[1:] for row in loads] == [("loaded", 1), ("loaded", 1)], loads
    assert undo(db, loads[-1][0]).restored == 30
    assert state(db) == before
    lake.put(key, csv_bytes(*[line[:-1] + "7" for line in original()]))
    handler.drain()
    assert query(db, "SELECT status FROM fund_data_loads ORDER BY id DESC LIMIT 1") == [("loaded",)]
    assert {row[4] for row in state(db)} != {row[4] for row in before}


def test_a_backfill_load_is_reverted(db, tmp_path):
    from tests.helpers import backfill

    folder = tmp_path / "lake"
    folder.mkdir()
    (folder / f"fund_data_{DAY}.csv").write_bytes(csv_bytes(*original()))
    run = backfill(plain_url(db), str(folder))
    assert run.returncode == 0, run.stderr
    done = fundsync("revert", str(folder / f"fund_data_{DAY}.csv"), "--json", "--db", plain_url(db))
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["deleted"], state(db)) == (30, [])
