"""``fundsync revert``: undo one load from its change log, all or nothing.

Every key the load changed goes back to the state it held before: keys it inserted are
deleted, keys it updated get their old value and lineage back, keys it deleted (a
replace-days snapshot) come back. What it changed is read from the change log
(:mod:`loader.mysql.changes`: the before-images) and from its lineage (the keys that still
carry the load's ``s3_source_key`` and ``synced_at`` and have no before-image are its
inserts). The revert is a load of its own: a ledger row (status ``reverted``, ``reverts``
the load undone, which gets ``reverted_by``), its own change log (so a revert of the revert
applies the load again), the day counts, all in one transaction under the locks of the
load's trade dates: a crash leaves the state before the revert or after it.

A key that a later load changed since (it logged the key, or the key holds a later load's
lineage) is a conflict: the revert is refused, nothing changed, and the report says how
many keys and which loads own them; ``--force`` reverts them too. Loads in the revert's own
chain (a revert of this load, and a revert of that revert) are not "later" loads.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import RevertRefused
from loader.mysql import changes, days, ledger, sql
from loader.sources import SourceIdentity, key_hash

WORK = "fundsync_revert"
KEY = changes.KEY
_CREATE = f"""CREATE TEMPORARY TABLE IF NOT EXISTS {WORK} (
    d_trade       DATE            NOT NULL,
    stock         VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    ticker        VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    col_code      VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    action        ENUM('restore', 'delete') NOT NULL,
    value_numeric DECIMAL(38, 12) NULL,
    value_text    TEXT            CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    s3_source_key VARCHAR(1024)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    synced_at     DATETIME(6)     NULL,
    owner         BIGINT UNSIGNED NULL,
    PRIMARY KEY (d_trade, stock, ticker, col_code)
) ENGINE = InnoDB"""
_TARGET = (
    "SELECT id, source_key, status, synced_at, reverts, reverted_by, changes_pruned_at, "
    "content_hash, size_bytes, object_version, source_bucket FROM fund_data_loads WHERE id = %s"
)


@dataclass(frozen=True)
class Target:
    """The load to undo, as the ledger holds it."""

    ledger_id: int
    source: str
    synced_at: Any
    reverts: int | None
    identity: SourceIdentity
    days: tuple[date, ...]


@dataclass
class Reverted:
    """What a revert did (or, dry, would do)."""

    target: int
    source: str
    days: list[date]
    restored: int = 0
    deleted: int = 0
    conflicts: int = 0
    owners: dict[int, int] = field(default_factory=dict)
    """Per later load, the keys of this load it changed since."""
    sample: list[dict[str, Any]] = field(default_factory=list)
    """A few of the conflicting keys, for the report."""
    ledger_id: int | None = None
    dry_run: bool = False
    forced: bool = False
    reapplies: int | None = None
    """When the load undone is a revert: the load it brings back."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "source": self.source,
            "days": [d.isoformat() for d in self.days],
            "restored": self.restored,
            "deleted": self.deleted,
            "conflicts": self.conflicts,
            "conflicting_loads": {str(k): v for k, v in sorted(self.owners.items())},
            "conflicting_keys": self.sample,
            "ledger_id": self.ledger_id,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "reapplies": self.reapplies,
        }


def target_of_source(conn: MySQLConnectionAbstract, source: str) -> int:
    """The load ``fundsync revert SOURCE`` undoes: the source's latest load or revert that
    no revert undid."""
    cur: Any = conn.cursor()
    cur.execute(
        "SELECT id FROM fund_data_loads WHERE source_key_hash = %s AND status IN "
        "('loaded', 'reverted') AND reverted_by IS NULL ORDER BY id DESC LIMIT 1",
        (key_hash(source),),
    )
    row = cur.fetchone()
    cur.close()
    conn.commit()
    if row is None:
        raise RevertRefused(f"{source}: no load of this source to revert")
    return int(row[0])


def find(conn: MySQLConnectionAbstract, ledger_id: int) -> Target:
    """The load ``ledger_id``, checked revertible."""
    cur: Any = conn.cursor()
    cur.execute(_TARGET, (ledger_id,))
    row = cur.fetchone()
    if row is None:
        cur.close()
        raise RevertRefused(f"load #{ledger_id}: no such ledger row")
    lid, source, status, synced, reverts, reverted_by, pruned, content, size, version, bucket = row
    name = f"load #{lid} ({source})"
    if status not in ("loaded", "reverted"):
        raise RevertRefused(f"{name} is '{status}': only a load or a revert can be reverted")
    if reverted_by is not None:
        raise RevertRefused(
            f"{name} was already reverted by #{reverted_by}: "
            f"revert #{reverted_by} to apply it again"
        )
    if synced is None:
        raise RevertRefused(f"{name} was loaded before the change log existed (migration 007)")
    if pruned is not None:
        raise RevertRefused(f"{name}: its change log was pruned on {pruned:%Y-%m-%d} (retention)")
    cur.execute(f"SELECT d_trade FROM {ledger.DAYS_TABLE} WHERE load_id = %s ORDER BY 1", (lid,))
    dates = tuple(d for (d,) in cur.fetchall())
    cur.close()
    conn.commit()
    identity = SourceIdentity(
        str(source), str(content), int(size), None if version is None else str(version),
        bucket=None if bucket is None else str(bucket),
    )  # fmt: skip
    return Target(int(lid), str(source), synced, reverts, identity, dates)


def revert(
    conn: MySQLConnectionAbstract, target: Target, *, dry_run: bool = False, force: bool = False
) -> Reverted:
    """Undo ``target`` (see the module docstring); raises :class:`RevertRefused` (nothing
    changed) when keys a later load changed stand in the way and ``force`` is not given."""
    cur: Any = conn.cursor()
    cur.execute(_CREATE)  # before the transaction: a DDL statement may commit
    cur.execute(f"TRUNCATE TABLE {WORK}")
    done = Reverted(
        target.ledger_id, target.source, list(target.days), dry_run=dry_run, forced=force,
        reapplies=target.reverts,
    )  # fmt: skip
    try:
        conn.start_transaction(isolation_level="READ COMMITTED")
        days.lock_days(cur, target.days)
        _collect(cur, target)
        _conflicts(cur, target, done)
        if done.conflicts and not force:
            raise RevertRefused(
                f"load #{target.ledger_id} ({target.source}): {done.conflicts:,} key(s) changed "
                f"since by later load(s) {_owners(done.owners)}: nothing reverted; --force "
                "reverts them too"
            )
        if dry_run:
            _count(cur, done)
            conn.rollback()
            return done
        # the revert's ledger row, in the same transaction: a crash leaves no trace of it
        report = {"status": "reverted", "method": "revert"}
        revert_id = ledger.record(conn, target.identity, report, None, 0.0, commit=False)
        changes.set_load(cur, revert_id)
        inserted, deleted = _apply(cur, done)
        days.count_changes(cur, revert_id, inserted, deleted)
        _record(conn, cur, target, done, revert_id)
        conn.commit()
        done.ledger_id = revert_id
        return done
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def _collect(cur: Any, target: Target) -> None:
    """The keys the load changed, each with what it goes back to, into the work table."""
    cur.execute(
        f"INSERT INTO {WORK} ({KEY}, action, {changes.IMAGE}) SELECT {KEY}, "
        f"IF(op = 'insert', 'delete', 'restore'), {changes.IMAGE} FROM {changes.CHANGES_TABLE} "
        "WHERE load_id = %s",
        (target.ledger_id,),
    )
    if target.reverts is not None or not target.days:
        return  # a revert logs its inserts: nothing carries its lineage
    marks = ", ".join(["%s"] * len(target.days))
    lineage = (target.synced_at, target.source)
    # its inserts: the keys that still hold its lineage, and those a later load changed since
    cur.execute(
        f"INSERT INTO {WORK} ({KEY}, action) SELECT {KEY}, 'delete' FROM {sql.TARGET_TABLE} "
        f"WHERE d_trade IN ({marks}) AND synced_at = %s AND s3_source_key = %s "
        "ON DUPLICATE KEY UPDATE action = action",
        (*target.days, *lineage),
    )
    cur.execute(
        f"INSERT INTO {WORK} ({KEY}, action) SELECT {KEY}, 'delete' FROM "
        f"{changes.CHANGES_TABLE} WHERE load_id > %s AND synced_at = %s AND s3_source_key = %s "
        "ON DUPLICATE KEY UPDATE action = action",
        (target.ledger_id, *lineage),
    )


def _chain(cur: Any, ledger_id: int) -> list[int]:
    """This load and the reverts that undid it, and their reverts (not 'later' loads)."""
    chain, frontier = [ledger_id], [ledger_id]
    while frontier:
        marks = ", ".join(["%s"] * len(frontier))
        cur.execute(f"SELECT id FROM fund_data_loads WHERE reverts IN ({marks})", frontier)
        frontier = [int(i) for (i,) in cur.fetchall()]
        chain.extend(frontier)
    return chain


def _conflicts(cur: Any, target: Target, done: Reverted) -> None:
    """Mark the keys a later load changed (logged them, or holds them with its lineage)."""
    chain = _chain(cur, target.ledger_id)
    marks = ", ".join(["%s"] * len(chain))
    cur.execute(
        f"UPDATE {WORK} t JOIN {changes.CHANGES_TABLE} c USING ({KEY}) SET t.owner = c.load_id "
        f"WHERE c.load_id > %s AND c.load_id NOT IN ({marks})",
        (target.ledger_id, *chain),
    )
    cur.execute(
        f"UPDATE {WORK} t JOIN {sql.TARGET_TABLE} f USING ({KEY}) JOIN fund_data_loads l "
        "ON l.synced_at = f.synced_at AND l.source_key = f.s3_source_key SET t.owner = l.id "
        f"WHERE t.owner IS NULL AND l.id > %s AND l.id NOT IN ({marks})",
        (target.ledger_id, *chain),
    )
    cur.execute(f"SELECT owner, COUNT(*) FROM {WORK} WHERE owner IS NOT NULL GROUP BY owner")
    done.owners = {int(o): int(n) for o, n in cur.fetchall()}
    done.conflicts = sum(done.owners.values())
    cur.execute(f"SELECT {KEY}, owner FROM {WORK} WHERE owner IS NOT NULL ORDER BY {KEY} LIMIT 20")
    done.sample = [
        {"d_trade": d.isoformat(), "stock": s, "ticker": t, "col_code": c, "load": int(o)}
        for d, s, t, c, o in cur.fetchall()
    ]


def _count(cur: Any, done: Reverted) -> None:
    cur.execute(
        f"SELECT SUM(t.action = 'restore'), SUM(t.action = 'delete' AND f.d_trade IS NOT NULL) "
        f"FROM {WORK} t LEFT JOIN {sql.TARGET_TABLE} f USING ({KEY})"
    )
    restored, deleted = cur.fetchone()
    done.restored, done.deleted = int(restored or 0), int(deleted or 0)


def _apply(cur: Any, done: Reverted) -> tuple[dict[date, int], dict[date, int]]:
    """Log the revert's own before-images, then put every key back; per trade date the rows
    inserted and deleted (the day counts)."""
    log = changes.CHANGES_TABLE
    cur.execute(
        f"INSERT INTO {log} (load_id, {KEY}, op, {changes.IMAGE}) SELECT @fundsync_load, "
        "f.d_trade, f.stock, f.ticker, f.col_code, IF(t.action = 'delete', 'delete', 'update'), "
        f"f.value_numeric, f.value_text, f.s3_source_key, f.synced_at FROM {WORK} t "
        f"JOIN {sql.TARGET_TABLE} f USING ({KEY})"
    )
    cur.execute(
        f"INSERT INTO {log} (load_id, {KEY}, op) SELECT @fundsync_load, t.d_trade, t.stock, "
        f"t.ticker, t.col_code, 'insert' FROM {WORK} t LEFT JOIN {sql.TARGET_TABLE} f "
        f"USING ({KEY}) WHERE t.action = 'restore' AND f.d_trade IS NULL"
    )
    cur.execute(
        f"SELECT d_trade, SUM(op = 'insert'), SUM(op = 'delete') FROM {log} "
        "WHERE load_id = @fundsync_load GROUP BY d_trade"
    )
    per_day = [(d, int(i), int(x)) for d, i, x in cur.fetchall()]
    cur.execute(
        f"DELETE f FROM {sql.TARGET_TABLE} f JOIN {WORK} t USING ({KEY}) WHERE t.action = 'delete'"
    )
    done.deleted = int(cur.rowcount)
    cur.execute(
        f"INSERT INTO {sql.TARGET_TABLE} ({KEY}, {changes.IMAGE}) SELECT {KEY}, "
        f"{changes.IMAGE} FROM {WORK} WHERE action = 'restore' ON DUPLICATE KEY UPDATE "
        "value_numeric = VALUES(value_numeric), value_text = VALUES(value_text), "
        "s3_source_key = VALUES(s3_source_key), synced_at = VALUES(synced_at)"
    )
    cur.execute(f"SELECT COUNT(*) FROM {WORK} WHERE action = 'restore'")
    (done.restored,) = cur.fetchone()
    done.restored = int(done.restored)
    return {d: i for d, i, _ in per_day if i}, {d: x for d, _, x in per_day if x}


def _record(
    conn: MySQLConnectionAbstract, cur: Any, target: Target, done: Reverted, revert_id: int
) -> None:
    """The revert's ledger row, and the marks on the load it undid (and, for a revert of a
    revert, on the load that comes back)."""
    report = {
        "status": "reverted",
        "method": "revert",
        "mode": "revert",
        "request": f"revert #{target.ledger_id}",
        "updated": done.restored,
        "deleted": done.deleted,
    }
    note = f"reverted load #{target.ledger_id}"
    if done.conflicts:
        note += f" (forced over {done.conflicts:,} key(s) of later loads {_owners(done.owners)})"
    ledger.finish(conn, revert_id, report, note, [(d, 0) for d in target.days])

    cur.execute(
        "UPDATE fund_data_loads SET reverts = %s, synced_at = NOW(6) WHERE id = %s",
        (target.ledger_id, revert_id),
    )
    cur.execute(
        "UPDATE fund_data_loads SET reverted_by = %s WHERE id = %s", (revert_id, target.ledger_id)
    )
    if target.reverts is not None:  # the load that revert undid applies again
        cur.execute(
            "UPDATE fund_data_loads SET reverted_by = NULL WHERE id = %s", (target.reverts,)
        )


def _owners(owners: dict[int, int]) -> str:
    return ", ".join(f"#{k} ({n:,})" for k, n in sorted(owners.items()))
