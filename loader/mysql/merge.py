"""The merge half of every load: one prepared file into ``fund_data``, in one transaction.

:func:`merge` takes what the prepare half made (:class:`~loader.prepare.prepared.PreparedFile`)
and does the rest: the skip rule (the same content, asked the same way), the ledger
row, the locks on the file's trade dates (:mod:`loader.mysql.days`: loads of one date
run one after another), then the rows written straight in or staged
(:mod:`loader.mysql.write`): the digest pre-pass (the
(trade date, fund) groups ``fund_data`` already holds exactly are not staged:
:mod:`loader.mysql.digest`), ``LOAD DATA LOCAL INFILE`` of the other groups
into a TEMPORARY staging table, the unchanged-row pre-pass, one
``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE`` with exact counts, with
``--mode replace-days`` the deletion of the keys of the file's dates that it
lacks (:mod:`loader.mysql.snapshot`), with ``--verify`` the proof that
``fund_data`` now holds the file, the day counts and the ledger's outcome, committed
together; deadlocks, lock-wait timeouts and conflicts with other writers are retried. A
file none of whose
trade dates exist yet in ``fund_data`` is loaded straight into it (same
semantics: every row is an insert; any duplicate turns into a warning, which
sends the file back the staging way).

It never raises for a bad or failed file: the outcome is the returned
report's ``status``, decided by :func:`loader.outcome.outcome_of`, and
recorded in the ledger (spec §2.2: every attempt).
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import replace
from typing import Any

import mysql.connector

from loader.errors import ConcurrentWrite, DatabaseError, LedgerChanged, LoaderError
from loader.mysql import changes, days, ledger, quality
from loader.mysql.connection import RETRYABLE_IN_TRANSACTION, classify
from loader.mysql.merge_options import MergeOptions
from loader.mysql.proof import verify_load
from loader.mysql.session import Session
from loader.mysql.write import (
    begin,
    merge_by_diff,
    merge_direct,
    merge_staged_rows,
    without_snapshot_days,
)
from loader.outcome import Status, outcome_of
from loader.prepare.prepared import PreparedFile
from loader.report import LoadReport, MergeCounts
from loader.sources import SourceIdentity
from loader.timing import Span, Stopwatch, no_span

RETRIES = 5
Gate = tuple[tuple[dict[str, Any], ...], "quality.Profile | None"]
"""The quality gate's findings, and the file's profile (None: the gate was off)."""


def merge(
    session: Session,
    prepared: PreparedFile,
    options: MergeOptions | None = None,
    *,
    span: Span = no_span,
) -> LoadReport:
    """Merge one prepared file as ``options`` ask (:class:`MergeOptions`: built at the edge;
    None: what the session's configuration asks), or record why not; never raises for a bad
    or failed file. The staging text the file left on disk is removed whatever happened."""
    options = options or MergeOptions.of(session.config)
    try:
        return _merge(session, prepared, options, Stopwatch(span))
    finally:
        prepared.discard()


def _merge(
    session: Session, prepared: PreparedFile, options: MergeOptions, watch: Stopwatch
) -> LoadReport:
    if prepared.failure is not None:
        status = prepared.failure.status
        return _recorded(session, prepared, status, watch, dry_run=options.dry_run)
    ledger_id = None
    try:
        latest = None
        if not options.force:
            latest = answered_by(session, prepared.identity, prepared.request, options.verify)
        if latest is not None:
            note = skip_note(latest)
            return _recorded(session, prepared, "skipped", watch, note, dry_run=options.dry_run)
        if prepared.already_loaded:
            raise LedgerChanged(
                f"{prepared.key}: the ledger changed while the file was prepared: run again"
            )
        session.check_target()  # every load: another session may have changed the table
        findings, profiled = _gate(session, prepared, options, watch)
        if any(f["policy"] == "hold" for f in findings):
            note = _held_note(findings)
            return _recorded(session, prepared, "held", watch, note, findings, options.dry_run)
        conn = session.connection()
        ledger.abandon_stale(conn, prepared.key)
        if session.config.staging_table == "regular":
            session.drop_leftover_stages()
        with watch.stage("ledger"):
            ledger_id = 0 if options.dry_run else ledger.start(conn, prepared.identity)
        gate = (tuple(findings), profiled)
        report = _merge_retrying(session, prepared, options, watch, ledger_id, gate)
        _release(session, ledger_id)
        return report
    except mysql.connector.Error as error:
        typed = classify(error, session.config)
        return _failed(session, prepared, typed, watch, ledger_id, options.dry_run)
    except Exception as error:
        return _failed(session, prepared, error, watch, ledger_id, options.dry_run)


def answered_by(
    session: Session, identity: SourceIdentity, request: str, verify: bool
) -> ledger.Loaded | None:
    """The skip rule (spec §1.2, with issue 21's "what was asked"): the latest successful
    load of this source merged exactly this content, asked the same way (the same request,
    and verified when a proof is asked); that load, else None."""
    with session.classified():
        latest = ledger.latest_load(session.connection(), identity.key)
    if latest is None or not identity.content_hash:
        return None
    if latest.identity.content_hash != identity.content_hash:
        return None
    return latest if latest.answers(request, verify) else None


def is_latest_load(session: Session, verify: bool, identity: SourceIdentity, request: str) -> bool:
    """Whether :func:`answered_by` finds the load that makes this one a skip."""
    return answered_by(session, identity, request, verify) is not None


def skip_note(latest: ledger.Loaded) -> str:
    """Why a source was skipped, for the report, the table and the ledger."""
    return (
        f"already loaded (#{latest.ledger_id}): the same content, asked the same way "
        f"({latest.request}{', verified' if latest.verified else ''}); --force loads it again"
    )


def skip_known_version(
    session: Session, key: str, version: str | None, request: str, verify: bool
) -> LoadReport | None:
    """Skip at once, before any download, when the latest load of the key was this version
    asked the same way.

    The redelivered message's object (same key, same version id or ETag) is
    what the latest ``loaded`` row of the key recorded: record the skip and
    return its report. None when the version is unknown, or is not what the
    latest load merged, or that load was asked another way.
    """
    if not version:
        return None
    watch = Stopwatch()
    with session.classified():
        latest = ledger.latest_load(session.connection(), key)
    if latest is None or latest.identity.version != version:
        return None
    if not latest.answers(request, verify):
        return None
    skipped = PreparedFile(latest.identity, already_loaded=True, request=request)
    return _recorded(session, skipped, "skipped", watch, skip_note(latest))


def skip_superseded(
    session: Session, identity: SourceIdentity, note: str, request: str
) -> LoadReport:
    """Record a source that is not loaded because a newer version of it exists (``note``)."""
    skipped = PreparedFile(identity, already_loaded=True, request=request)
    return _recorded(session, skipped, "skipped", Stopwatch(), note)


# -- the transaction ---------------------------------------------------------------


def _merge_retrying(
    session: Session,
    prepared: PreparedFile,
    options: MergeOptions,
    watch: Stopwatch,
    ledger_id: int,
    gate: Gate = ((), None),
) -> LoadReport:
    """:func:`_merge_once`, again after a deadlock, a lock wait timeout or a conflict with
    another writer (jittered backoff). When the retries run out, the error says how many
    there were (the report's ``retries``)."""
    for attempt in range(RETRIES + 1):
        try:
            return _merge_once(session, prepared, options, watch, ledger_id, attempt, gate)
        except (DatabaseError, ConcurrentWrite) as error:
            session.rollback_quietly()
            retryable = isinstance(error, ConcurrentWrite) or (
                error.errno in RETRYABLE_IN_TRANSACTION
            )
            if not retryable or attempt == RETRIES:
                error.retries = attempt
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def _merge_once(
    session: Session,
    prepared: PreparedFile,
    options: MergeOptions,
    watch: Stopwatch,
    ledger_id: int,
    retries: int,
    gate: Gate,
) -> LoadReport:
    conn = session.connection()
    stage = session.empty_stage(ledger_id)  # DDL: commits, so before the transaction
    cur: Any = conn.cursor()
    try:
        changes.set_load(cur, ledger_id)
        begin(conn, cur, prepared)
        new_days = days.empty_days(cur, prepared.days)  # locked: none can fill meanwhile
        work, lost = without_snapshot_days(session, prepared, options, watch)
        written = merge_direct(session, cur, work, watch, stage)
        if written is None:
            written = merge_by_diff(session, cur, work, options, watch, stage)
        if written is None:
            written = merge_staged_rows(session, cur, work, options, watch, stage)
        merged, proof = written.merged, written.proof
        if lost:  # rows of dates a newer snapshot holds: left as it made them
            counts = merged.counts
            kept = MergeCounts(counts.inserted, counts.updated, counts.unchanged + lost)
            merged = replace(merged, counts=kept, superseded=merged.superseded + lost)
        days.count_changes(cur, ledger_id, written.inserted, written.deleted)
        if options.verify:
            assert work.staging is not None
            with watch.stage("verify"):
                digest = verify_load(cur, work.key, work.staging, proof.proven, proof.kept_newer)
            merged = replace(merged, digest=digest)
        report = LoadReport.of(
            prepared,
            "loaded",
            merged=replace(merged, retries=retries),
            ledger_id=ledger_id,
            merge_timings=watch.timings(),
            merge_seconds=watch.elapsed,
        )
        findings, profiled = gate
        if profiled is not None:  # the profile of its whole days, for the next gate
            whole = set(work.days) if work.replace_days else new_days & set(work.days)
            quality.record_profile(cur, profiled, whole)
        report = replace(report, quality=findings)
        return _commit(conn, cur, work, report, watch, options.dry_run)
    except mysql.connector.Error as error:
        raise classify(error, session.config) from None
    except BaseException:  # a loader error, the staging writer's error, an interrupt
        session.rollback_quietly()
        raise
    finally:
        with contextlib.suppress(mysql.connector.Error):
            cur.close()
        session.drop_stage(stage)


def _commit(
    conn: Any, cur: Any, work: PreparedFile, report: LoadReport, watch: Stopwatch, dry_run: bool
) -> LoadReport:
    """The ledger row finished with the report and the load committed; for a dry run, all
    of it rolled back instead."""
    seconds = work.seconds + watch.elapsed
    if dry_run:  # what it would do, and nothing of it kept
        conn.rollback()
        note = "dry run: rolled back, nothing written"
        return replace(report, note=note, ledger_id=None, seconds=seconds)
    assert report.ledger_id is not None
    touched = tuple(zip(work.days, work.day_rows, strict=True))
    changes.record_lineage(cur, report.ledger_id)
    ledger.finish(conn, report.ledger_id, report.to_dict(), None, touched)
    conn.commit()
    return replace(report, seconds=seconds)


# -- the quality gate -----------------------------------------------------------------


def _gate(
    session: Session, prepared: PreparedFile, options: MergeOptions, watch: Stopwatch
) -> tuple[list[dict[str, Any]], quality.Profile | None]:
    """The quality gate's findings for this file (:mod:`loader.mysql.quality`), and its
    profile (recorded for the next date's gate when the file merges)."""
    if prepared.staging is None or options.gate_off:
        return [], None
    with watch.stage("quality"), session.classified():
        conn = session.connection()
        cur: Any = conn.cursor()
        new_days = set(prepared.days)
        if prepared.days:
            marks = ", ".join(["%s"] * len(prepared.days))
            cur.execute(
                f"SELECT d_trade FROM fund_data_days WHERE d_trade IN ({marks}) AND row_count > 0",
                prepared.days,
            )
            new_days -= {d for (d,) in cur.fetchall()}
        duplicates = prepared.parsed.duplicates_in_file if prepared.parsed else 0
        rows = prepared.staging.rows
        whole = set(prepared.days) if prepared.replace_days else new_days
        many = len(whole) > quality.FILTERED_DATES  # else a filter a date beats a sort
        profiled = quality.profile(rows, whole, prepared.staging.order if many else None)
        found = quality.check(cur, rows, profiled, duplicates, options.policy)
        cur.close()
        conn.commit()
    return [f.to_dict() for f in found], profiled


def _held_note(findings: list[dict[str, Any]]) -> str:
    holds = [f"{f['check']}: {f['detail']}" for f in findings if f["policy"] == "hold"]
    return "held by the quality gate: " + "; ".join(holds)


# -- recording what did not merge ----------------------------------------------------


def _recorded(
    session: Session,
    prepared: PreparedFile,
    status: Status,
    watch: Stopwatch,
    note: str | None = None,
    findings: list[dict[str, Any]] | None = None,
    dry_run: bool = False,
) -> LoadReport:
    """The report of a file that is not merged (skipped, or failed before), recorded in one
    finished ledger row (not in a dry run). Recording is best effort: the outcome stands
    without it."""
    report = LoadReport.of(
        prepared, status, merge_timings=watch.timings(), merge_seconds=watch.elapsed, note=note
    )
    report = replace(report, quality=tuple(findings or ()))
    if dry_run:
        return report
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
    dry_run: bool = False,
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
        retried=getattr(error, "retries", 0),
    )
    if ledger_id is None:
        failed = replace(prepared, failure=failure)
        return _recorded(session, failed, failure.status, watch, dry_run=dry_run)
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
