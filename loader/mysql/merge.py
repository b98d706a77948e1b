"""The merge half of every load: one prepared file into ``fund_data``, in one transaction.

:func:`merge` takes what the prepare half made (:class:`~loader.prepare.prepared.PreparedFile`)
and does the rest: the skip rule, the ledger row, the digest pre-pass (the
(trade date, fund) groups ``fund_data`` already holds exactly are not staged:
:mod:`loader.mysql.digest`), ``LOAD DATA LOCAL INFILE`` of the other groups
into a TEMPORARY staging table, the unchanged-row pre-pass, one
``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE`` with exact counts, with
``--mode replace-days`` the deletion of the keys of the file's dates that it
lacks (:mod:`loader.mysql.snapshot`), with ``--verify`` the proof that
``fund_data`` now holds the file, and the ledger's outcome, committed
together; deadlocks and lock-wait timeouts are retried. A file none of whose
trade dates exist yet in ``fund_data`` is loaded straight into it (same
semantics: every row is an insert; any duplicate turns into a warning, which
sends the file back the staging way).

It never raises for a bad or failed file: the outcome is the returned
report's ``status``, decided by :func:`loader.outcome.outcome_of`, and
recorded in the ledger (CONTRACT §2.2: every attempt).
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, replace
from typing import Any

import mysql.connector
import polars as pl

from loader.errors import DatabaseError, LedgerChanged, LoaderError
from loader.mysql import ledger, sql
from loader.mysql.connection import RETRYABLE_IN_TRANSACTION, classify
from loader.mysql.digest import Narrowed, unchanged_groups, verify_load
from loader.mysql.session import Session
from loader.mysql.snapshot import delete_missing
from loader.mysql.stage import any_day_exists, drop_unchanged, load_direct, merge_staged, stage_rows
from loader.outcome import Status, outcome_of
from loader.prepare.prepared import PreparedFile
from loader.report import LoadReport, MergeCounts, Merged
from loader.sources import SourceIdentity
from loader.timing import Span, Stopwatch, no_span

RETRIES = 5


def merge(
    session: Session,
    prepared: PreparedFile,
    *,
    force: bool = False,
    newer_wins: bool = True,
    span: Span = no_span,
) -> LoadReport:
    """Merge one prepared file, or record why not; never raises for a bad or failed file.

    ``newer_wins``: rows that a newer S3 object of the same trade dates wrote
    last are left as they are (an original retried after its correction
    loaded fills gaps, never overwrites); the backfill orders its files
    itself and turns this off. The staging text the file left on disk is
    removed whatever happened.
    """
    if not newer_wins:
        prepared = replace(prepared, newer_wins=False)
    try:
        return _merge(session, prepared, force, Stopwatch(span))
    finally:
        prepared.discard()


def _merge(session: Session, prepared: PreparedFile, force: bool, watch: Stopwatch) -> LoadReport:
    if prepared.failure is not None:
        return _recorded(session, prepared, prepared.failure.status, watch)
    ledger_id = None
    try:
        if not force and is_latest_load(session, prepared.identity):
            return _recorded(session, prepared, "skipped", watch)
        if prepared.already_loaded:
            raise LedgerChanged(
                f"{prepared.key}: the ledger changed while the file was prepared: run again"
            )
        session.check_target()  # every load: another session may have changed the table
        conn = session.connection()
        ledger.abandon_stale(conn, prepared.key)
        if session.config.staging_table == "regular":
            session.drop_leftover_stages()
        with watch.stage("ledger"):
            ledger_id = ledger.start(conn, prepared.identity)
        report = _merge_retrying(session, prepared, watch, ledger_id)
        _release(session, ledger_id)
        return report
    except mysql.connector.Error as error:
        return _failed(session, prepared, classify(error, session.config), watch, ledger_id)
    except Exception as error:
        return _failed(session, prepared, error, watch, ledger_id)


def is_latest_load(session: Session, identity: SourceIdentity) -> bool:
    """The skip rule (CONTRACT §1.2): the latest successful load of this source merged
    exactly this content."""
    with session.classified():
        latest = ledger.latest_load(session.connection(), identity.key)
    return (
        bool(identity.content_hash)
        and latest is not None
        and (latest.content_hash == identity.content_hash)
    )


def skip_known_version(session: Session, key: str, version: str | None) -> LoadReport | None:
    """Skip at once, before any download, when the latest load of the key was this version.

    The redelivered message's object (same key, same version id or ETag) is
    what the latest ``loaded`` row of the key recorded: record the skip and
    return its report. None when the version is unknown, or is not what the
    latest load merged.
    """
    if not version:
        return None
    watch = Stopwatch()
    with session.classified():
        latest = ledger.latest_load(session.connection(), key)
    if latest is None or latest.version != version:
        return None
    return _recorded(session, PreparedFile(latest, already_loaded=True), "skipped", watch)


def skip_superseded(session: Session, identity: SourceIdentity, note: str) -> LoadReport:
    """Record a source that is not loaded because a newer version of it exists (``note``)."""
    return _recorded(
        session, PreparedFile(identity, already_loaded=True), "skipped", Stopwatch(), note
    )


# -- the transaction ---------------------------------------------------------------


def _merge_retrying(
    session: Session, prepared: PreparedFile, watch: Stopwatch, ledger_id: int
) -> LoadReport:
    """:func:`_merge_once`, again after a deadlock or lock wait timeout (jittered backoff)."""
    for attempt in range(RETRIES + 1):
        try:
            return _merge_once(session, prepared, watch, ledger_id, attempt)
        except DatabaseError as error:
            session.rollback_quietly()
            if error.errno not in RETRYABLE_IN_TRANSACTION or attempt == RETRIES:
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def _merge_once(
    session: Session, prepared: PreparedFile, watch: Stopwatch, ledger_id: int, retries: int
) -> LoadReport:
    conn = session.connection()
    stage = session.empty_stage(ledger_id)  # DDL: commits, so before the transaction
    cur: Any = conn.cursor()
    try:
        _begin(conn, cur, prepared.key)
        proof = _Proof()
        merged = _merge_direct(session, cur, prepared, watch, stage)
        if merged is None:
            merged, proof = _merge_staged(session, cur, prepared, watch, stage)
        if session.config.verify:
            assert prepared.staging is not None
            with watch.stage("verify"):
                digest = verify_load(
                    cur, prepared.key, prepared.staging, proof.mine, proof.proven, proof.kept_newer
                )
            merged = replace(merged, digest=digest)
        report = LoadReport.of(
            prepared,
            "loaded",
            merged=replace(merged, retries=retries),
            ledger_id=ledger_id,
            merge_timings=watch.timings(),
            merge_seconds=watch.elapsed,
        )
        days = tuple(zip(prepared.days, prepared.day_rows, strict=True))
        ledger.finish(conn, ledger_id, report.to_dict(), None, days)
        conn.commit()
        return replace(report, seconds=prepared.seconds + watch.elapsed)
    except mysql.connector.Error as error:
        raise classify(error, session.config) from None
    except BaseException:  # a loader error, the staging writer's error, an interrupt
        session.rollback_quietly()
        raise
    finally:
        with contextlib.suppress(mysql.connector.Error):
            cur.close()
        session.drop_stage(stage)


def _begin(conn: Any, cur: Any, key: str) -> None:
    conn.start_transaction(isolation_level="READ COMMITTED")
    cur.execute(sql.SET_LINEAGE, (key,))


def _merge_direct(
    session: Session, cur: Any, prepared: PreparedFile, watch: Stopwatch, stage: str
) -> Merged | None:
    """A file none of whose trade dates fund_data holds: straight in; None if that failed."""
    staging = prepared.staging
    assert staging is not None
    if not staging.height or any_day_exists(cur, prepared.days):
        return None
    with watch.stage("merge", trace="load_direct"), staging.open(session.staging) as path:
        counts = load_direct(cur, path, staging.height)
    if counts is not None:
        return Merged(
            counts, "load_data_local_direct", deleted=0 if prepared.replace_days else None
        )
    # someone else wrote those keys, or LOCAL INFILE is refused: the staging way
    conn = session.connection()
    conn.rollback()
    cur.execute(sql.truncate_stage(stage))
    _begin(conn, cur, prepared.key)
    return None


@dataclass(frozen=True)
class _Proof:
    """What the staged merge already proved, so the verification need not read it again."""

    mine: pl.DataFrame | None = None
    proven: pl.DataFrame | None = None
    kept_newer: pl.DataFrame | None = None


def _merge_staged(
    session: Session, cur: Any, prepared: PreparedFile, watch: Stopwatch, stage: str
) -> tuple[Merged, _Proof]:
    assert prepared.staging is not None
    with watch.stage("digest"):
        narrowed = unchanged_groups(cur, prepared.staging)
    staging, same = narrowed.staging, narrowed.unchanged
    written = staging.height
    method = "digest"
    if written:
        with watch.stage("stage"), staging.open(session.staging) as path:
            method = stage_rows(cur, path, written, staging.frame, session.max_packet, stage)
    superseded, kept_newer = 0, None
    if written:
        superseded, kept_newer = _drop_superseded(session, cur, prepared, watch, stage)
    with watch.stage("unchanged"):
        identical = drop_unchanged(cur, stage) if written else 0
    with watch.stage("merge"):
        staged = written - identical - superseded
        counts = (
            merge_staged(session.connection(), staged, session.mariadb, stage)
            if staged
            else MergeCounts(0, 0, 0)
        )
    kept = counts.unchanged + identical + superseded + same
    merged = Merged(
        MergeCounts(counts.inserted, counts.updated, kept),
        method,
        superseded=superseded,
        unstaged=same,
        deleted=_replace_days(session, cur, prepared, watch, narrowed),
    )
    return merged, _Proof(narrowed.mine, narrowed.proven, kept_newer)


def _replace_days(
    session: Session,
    cur: Any,
    prepared: PreparedFile,
    watch: Stopwatch,
    narrowed: Narrowed,
) -> int | None:
    """replace-days: delete the keys of the file's trade dates it lacks (None: an upsert). A
    file older than one already loaded for its dates deletes nothing (the newer one is the
    snapshot; this one only fills gaps). ``narrowed``: the digest pre-pass's result, whose
    counts of the days before the merge spare reading them again."""
    if not prepared.replace_days:
        return None
    assert prepared.staging is not None
    modified = prepared.identity.modified
    conn = session.connection()
    if (
        modified is not None
        and prepared.newer_wins
        and ledger.newer_sources(conn, prepared.days, modified, prepared.key)
    ):
        return 0
    with watch.stage("delete"):
        rows = prepared.staging.frame()
        return delete_missing(
            cur, prepared.key, rows, prepared.max_delete_share, narrowed.held, narrowed.proven
        )


def _drop_superseded(
    session: Session, cur: Any, prepared: PreparedFile, watch: Stopwatch, stage: str
) -> tuple[int, pl.DataFrame | None]:
    """Drop the staged rows a newer file of the same trade dates wrote last: an older file
    (retried after its correction loaded, say) fills gaps but never overwrites newer data.
    Returns how many, and (when loads are verified) their keys."""
    modified = prepared.identity.modified
    if modified is None or not prepared.newer_wins:
        return 0, None
    newer = ledger.newer_sources(session.connection(), prepared.days, modified, prepared.key)
    if not newer:
        return 0, None
    with watch.stage("superseded"):
        keys = None
        if session.config.verify:
            cur.execute(sql.superseded_keys_in_stage(len(newer), stage), newer)
            keys = pl.DataFrame(
                cur.fetchall(),
                schema={c: pl.Date if c == "d_trade" else pl.String for c in sql.KEY_COLUMNS},
                orient="row",
            )
        cur.execute(sql.delete_superseded_from_stage(len(newer), stage), newer)
        return int(cur.rowcount), keys


# -- recording what did not merge ----------------------------------------------------


def _recorded(
    session: Session,
    prepared: PreparedFile,
    status: Status,
    watch: Stopwatch,
    note: str | None = None,
) -> LoadReport:
    """The report of a file that is not merged (skipped, or failed before), recorded in one
    finished ledger row. Recording is best effort: the outcome stands without it."""
    report = LoadReport.of(
        prepared, status, merge_timings=watch.timings(), merge_seconds=watch.elapsed, note=note
    )
    error = prepared.failure.message if prepared.failure else note
    try:
        conn = session.connection()
        ledger_id = ledger.record(conn, prepared.identity, report.to_dict(), error, report.seconds)
    except (LoaderError, mysql.connector.Error):
        return report
    return replace(report, ledger_id=ledger_id)


def _failed(
    session: Session,
    prepared: PreparedFile,
    error: Exception,
    watch: Stopwatch,
    ledger_id: int | None,
) -> LoadReport:
    """The report of a merge that failed; its ledger row says so (best effort)."""
    session.rollback_quietly()
    failure = outcome_of(error)
    report = LoadReport.of(
        prepared,
        failure.status,
        failure=failure,
        ledger_id=ledger_id,
        merge_timings=watch.timings(),
        merge_seconds=watch.elapsed,
    )
    if ledger_id is None:
        return _recorded(session, replace(prepared, failure=failure), failure.status, watch)
    try:
        conn = session.connection()
        ledger.finish(conn, ledger_id, report.to_dict(), failure.message)
        conn.commit()
    except (LoaderError, mysql.connector.Error):
        pass  # stays 'loading': the next attempt marks it abandoned (its lock is gone)
    _release(session, ledger_id)
    return report


def _release(session: Session, ledger_id: int) -> None:
    with contextlib.suppress(LoaderError, mysql.connector.Error):
        ledger.release(session.connection(), ledger_id)
