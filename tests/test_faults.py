"""Faults against a real server: a killed connection, a killed process, concurrent loads."""

import itertools
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from loader.mysql.connection import connect
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query, table
from tests.helpers import plain_url

pytestmark = pytest.mark.db


def export(path: Path, rows: list[str]) -> Path:
    path.write_bytes(csv_bytes(*rows))
    return path


def hold_row_lock(config, key: tuple[str, str, str, str]):
    """A second connection that locks one existing row until released."""
    conn = connect(config)
    cur = conn.cursor()
    conn.start_transaction()
    cur.execute(
        "SELECT * FROM fund_data WHERE d_trade = %s AND stock = %s AND ticker = %s AND "
        "col_code = %s FOR UPDATE",
        key,
    )
    cur.fetchall()
    return conn


def wait_for_blocked_merge(config, timeout: float = 30.0) -> int:
    """The connection id of a merge transaction waiting on a lock (in its digest read, its
    diff read, its unchanged-row pre-pass, the INSERT ... ON DUPLICATE KEY UPDATE or the
    LOAD DATA into fund_data itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(
            config,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND "
            "(INFO LIKE 'INSERT INTO fund_data%%' OR INFO LIKE 'DELETE s FROM fund_data_stage%%' "
            "OR INFO LIKE 'SELECT d_trade, stock, COUNT(*), MD5(%%' "
            "OR INFO LIKE 'SELECT d_trade, stock, COUNT(*), GROUP_CONCAT(%%' "
            "OR INFO LIKE 'LOAD DATA LOCAL INFILE %% INTO TABLE fund_data %%')",
        )
        if rows:
            return int(rows[0][0])
        time.sleep(0.05)
    raise AssertionError("no merge became blocked")


BASE = [f"2025-12-09,S{i},T,C,{i}" for i in range(200)]
UPDATE = [f"2025-12-09,S{i},T,C,{i}.5" for i in range(200)] + ["2025-12-09,NEW,T,C,1"]


def test_a_connection_killed_mid_merge_leaves_nothing_and_a_retry_completes(db, tmp_path):
    with Session(db) as loader:
        assert load_file(loader, export(tmp_path / "base.csv", BASE)).status == "loaded"
    before = table(db)
    update = export(tmp_path / "update.csv", UPDATE)
    locker = hold_row_lock(db, ("2025-12-09", "S100", "T", "C"))
    reports = []
    loader = Session(db)
    worker = threading.Thread(target=lambda: reports.append(load_file(loader, update)))
    worker.start()
    victim = wait_for_blocked_merge(db)
    killer = connect(db)
    killer.cursor().execute(f"KILL {victim}")
    worker.join(60)
    locker.rollback()
    locker.close()
    killer.close()
    assert reports[0].status == "failed"
    assert table(db) == before  # nothing of that file is visible
    retry = load_file(loader, update)
    loader.close()
    assert (retry.status, retry.inserted, retry.updated) == ("loaded", 1, 200)
    assert [r[4] for r in table(db)][:3] == [Decimal("1"), Decimal("0.5"), Decimal("1.5")]
    statuses = [s for (s,) in query(db, "SELECT status FROM fund_data_loads ORDER BY id")]
    assert statuses[0] == "loaded" and statuses[-1] == "loaded" and len(statuses) == 3


def test_a_process_killed_mid_load_reruns_to_the_exact_state(db, tmp_path):
    with Session(db) as loader:
        load_file(loader, export(tmp_path / "base.csv", BASE))
    before = table(db)
    update = export(tmp_path / "update.csv", UPDATE)
    locker = hold_row_lock(db, ("2025-12-09", "S5", "T", "C"))
    exe = shutil.which("fundsync", path=str(Path(sys.executable).parent))
    proc = subprocess.Popen(
        [exe, "load", "--db", plain_url(db), str(update)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_blocked_merge(db)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    locker.rollback()
    locker.close()
    time.sleep(0.5)  # the server notices the dead client and rolls back
    deadline = time.monotonic() + 30
    while table(db) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert table(db) == before
    rerun = subprocess.run(
        [exe, "load", "--json", "--db", plain_url(db), str(update)], capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert '"status": "loaded"' in rerun.stdout
    final = table(db)
    assert {(r[1], r[4], r[6]) for r in final} == {
        (line.split(",")[1], Decimal(line.split(",")[4]), str(update)) for line in UPDATE
    }


def _apply(state: dict, rows: list[str], source: str) -> None:
    """The contract's merge, in Python: changed values take the new lineage."""
    for line in rows:
        _day, s, _ticker, c, v = line.split(",")
        key = (s, c)
        value = Decimal(v)
        if key not in state or state[key][0] != value:
            state[key] = (value, source)


def _replace_day(state: dict, rows: list[str], source: str) -> None:
    """replace-days in Python: the day becomes the file's keys; unchanged values keep their
    lineage."""
    keys = {(line.split(",")[1], line.split(",")[3]) for line in rows}
    for key in set(state) - keys:
        del state[key]
    _apply(state, rows, source)


@pytest.mark.parametrize("mode", ["upsert", "replace-days"])
def test_concurrent_overlapping_loads_end_in_some_serial_order(db, tmp_path, mode):
    settings = {"mode": mode, "allow_mass_delete": True}
    apply = _apply if mode == "upsert" else _replace_day
    files = []
    for n in range(4):
        rows = [
            f"2025-12-10,S{i},T,C{i % 3},{(i * 7 + n) % 5}" for i in range(n * 50, n * 50 + 300)
        ]
        files.append(export(tmp_path / f"f{n}.csv", rows))
    reports = []

    def run(path):
        with Session(db) as loader:
            reports.append(load_file(loader, path, **settings))

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(r.status for r in reports) == ["loaded"] * 4
    final = {(r[1], r[3]): (r[4], r[6]) for r in table(db)}
    contents = {str(f): f.read_text().splitlines()[1:] for f in files}
    orders = []
    for order in itertools.permutations(contents):
        state: dict = {}
        for source in order:
            apply(state, contents[source], source)
        orders.append(state)
    assert final in orders
