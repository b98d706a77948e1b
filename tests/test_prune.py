"""Retention (issue 23.3): ``fundsync prune --before DATE`` removes older trade dates, one
recorded transaction each, refuses a large prune without the plan of a dry-run, and a crash
mid-prune leaves whole dates removed or kept; ``status`` shows the oldest and newest date."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db
FIRST = date(2025, 12, 1)


def load_days(db, tmp_path, days: int = 8, funds: int = 5) -> None:
    with Session(db) as session:
        for i in range(days):
            day = FIRST + timedelta(days=i)
            path = tmp_path / f"{day}.csv"
            path.write_bytes(csv_bytes(*(f"{day},F{f},T,C{c},{f}.{c}" for f in range(funds)
                                         for c in range(4))))  # fmt: skip
            assert load_file(session, path).status == "loaded"


def held_days(db) -> list[date]:
    return [d for (d,) in query(db, "SELECT DISTINCT d_trade FROM fund_data ORDER BY 1")]


def test_a_small_prune_removes_the_older_dates_and_records_each(db, tmp_path):
    load_days(db, tmp_path)
    url = plain_url(db)
    run = fundsync("prune", "--before", "2025-12-02", "--json", "--db", url)
    assert run.returncode == 0, run.stderr
    done = json.loads(run.stdout)
    assert (done["removed"], [d["d_trade"] for d in done["days"]]) == (20, ["2025-12-01"])
    assert held_days(db)[0] == date(2025, 12, 2)
    assert query(db, "SELECT status, deleted FROM fund_data_loads WHERE status = 'pruned'") == [
        ("pruned", 20)
    ]
    status = json.loads(fundsync("status", "--json", "--db", url).stdout)
    assert (status["held"]["oldest"], status["held"]["newest"]) == ("2025-12-02", "2025-12-08")
    assert status["held"]["rows"] == 7 * 20
    history = fundsync("history", "fundsync prune --before 2025-12-02", "--db", url)
    assert "pruned" in history.stdout


def test_a_large_prune_needs_the_plan_of_a_dry_run(db, tmp_path):
    load_days(db, tmp_path)
    url = plain_url(db)
    refused = fundsync("prune", "--before", "2025-12-05", "--db", url)
    assert refused.returncode == 1 and "--dry-run first" in refused.stderr
    assert len(held_days(db)) == 8
    dry = json.loads(fundsync("prune", "--before", "2025-12-05", "--dry-run", "--json",
                              "--db", url).stdout)  # fmt: skip
    assert (dry["rows"], len(held_days(db))) == (80, 8)
    wrong = fundsync("prune", "--before", "2025-12-06", "--plan", str(dry["plan"]), "--db", url)
    assert wrong.returncode == 1  # a plan of another date is no evidence
    done = fundsync("prune", "--before", "2025-12-05", "--plan", str(dry["plan"]), "--db", url)
    assert done.returncode == 0, done.stderr
    assert held_days(db)[0] == date(2025, 12, 5)


def test_a_crash_mid_prune_leaves_whole_dates_and_the_same_command_finishes(
    db, tmp_path, monkeypatch
):
    from loader.mysql import prune
    from loader.mysql.connection import connect

    load_days(db, tmp_path)
    planned = prune.plan(conn := connect(db), date(2025, 12, 4))
    real, calls = prune.lock_days, []

    def crash_on_the_third(cur, days):
        calls.append(days)
        if len(calls) == 3:
            cur.execute("DELETE FROM fund_data WHERE d_trade = %s", (days[0],))
            raise KeyboardInterrupt  # the process dies mid-transaction
        return real(cur, days)

    monkeypatch.setattr(prune, "lock_days", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        for day, _ in planned.days:
            prune.prune_day(conn, planned, day)
    conn.close()
    assert held_days(db)[0] == date(2025, 12, 3)  # the third date is whole, the first two gone
    assert query(db, "SELECT COUNT(*) FROM fund_data WHERE d_trade = '2025-12-03'") == [(20,)]
    pruned = query(db, "SELECT COUNT(*) FROM fund_data_loads WHERE status = 'pruned'")
    assert pruned == [(2,)]
    monkeypatch.undo()
    again = fundsync("prune", "--before", "2025-12-04", "--db", plain_url(db))
    assert again.returncode == 0, again.stderr
    assert held_days(db)[0] == date(2025, 12, 4)
    counts = dict(query(db, "SELECT d_trade, row_count FROM fund_data_days"))
    assert min(counts) == date(2025, 12, 4) and set(counts.values()) == {20}


def test_verify_says_pruned_keys_are_superseded_not_missing(db, tmp_path):
    load_days(db, tmp_path, days=5)
    url = plain_url(db)
    assert fundsync("prune", "--before", "2025-12-02", "--db", url).returncode == 0
    found = json.loads(fundsync("verify", "--json", str(tmp_path / "2025-12-01.csv"),
                                "--db", url).stdout)  # fmt: skip
    assert (found["verdict"], found["deleted_by_later_loads"]) == ("superseded", 20)
