"""The two ways a file's rows are written inside the load's transaction: straight in, or staged.

:func:`merge_direct` loads a file none of whose trade dates ``fund_data`` holds straight
into it; :func:`merge_staged` narrows the file to the (trade date, fund) groups that
differ (the digest pre-pass), stages them with ``LOAD DATA LOCAL``, drops what is
unchanged or a newer file's, merges with one ``INSERT ... SELECT ... ON DUPLICATE KEY
UPDATE`` and, with ``--mode replace-days``, deletes what the file lacks
(:mod:`loader.mysql.snapshot`). Each returns :class:`Written`: the counts, and per trade
date the rows inserted and deleted (the day counts of :mod:`loader.mysql.days`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import mysql.connector
import polars as pl

from loader.errors import ConcurrentWrite, StagingError
from loader.mysql import changes, days, lineage, sql
from loader.mysql.connection import LOCAL_INFILE_REFUSED
from loader.mysql.diff import diff_file
from loader.mysql.digest import Narrowed, reads_whole_days, unchanged_groups
from loader.mysql.merge_options import MergeOptions
from loader.mysql.session import Session
from loader.mysql.snapshot import delete_lacking, delete_missing
from loader.mysql.stage import any_day_exists, drop_unchanged, load_direct, merge_staged, stage_rows
from loader.prepare.digest import funds_per_day
from loader.prepare.prepared import PreparedFile
from loader.report import MergeCounts, Merged
from loader.timing import Stopwatch


@dataclass(frozen=True)
class Proof:
    """What the staged merge already proved, so the verification need not read it again."""

    proven: pl.DataFrame | None = None
    kept_newer: pl.DataFrame | None = None


@dataclass(frozen=True)
class Written:
    """What one attempt wrote: the merge's result, and per trade date the rows inserted and
    deleted (the day counts)."""

    merged: Merged
    inserted: dict[date, int]
    deleted: dict[date, int]
    proof: Proof


def begin(conn: Any, cur: Any, prepared: PreparedFile) -> None:
    """Start the load's transaction: its lineage, and the locks on its trade dates (loads of
    one date run one after another: :mod:`loader.mysql.days`)."""
    conn.start_transaction(isolation_level="READ COMMITTED")
    cur.execute(sql.SET_LINEAGE, (prepared.key,))
    days.lock_days(cur, prepared.days)


def without_snapshot_days(
    session: Session, prepared: PreparedFile, options: MergeOptions, watch: Stopwatch
) -> tuple[PreparedFile, int]:
    """The file without its rows of the trade dates a newer whole-day snapshot loaded (an
    original replayed after its replace-days correction must not put back what the
    snapshot deleted), and how many rows that leaves out."""
    modified = prepared.identity.modified
    if modified is None or not options.newer_wins or prepared.staging is None:
        return prepared, 0
    conn = session.connection()
    lost = lineage.newer_snapshot_days(conn, prepared.days, modified, prepared.key)
    if not lost:
        return prepared, 0
    with watch.stage("superseded"):
        kept = prepared.staging.where(~pl.col("d_trade").is_in(lost))
        left = [(d, n) for d, n in zip(prepared.days, prepared.day_rows, strict=True)]
        left = [(d, n) for d, n in left if d not in lost]
        work = replace(
            prepared,
            staging=kept,
            days=tuple(d for d, _ in left),
            day_rows=tuple(n for _, n in left),
        )
    return work, prepared.staging.height - kept.height


def merge_direct(
    session: Session, cur: Any, prepared: PreparedFile, watch: Stopwatch, stage: str
) -> Written | None:
    """A file none of whose trade dates fund_data holds: straight in; None if that failed.

    Reliable because the load holds its dates' locks: no other load of them is in flight."""
    staging = prepared.staging
    assert staging is not None
    if not staging.height or any_day_exists(cur, prepared.days):
        return None
    with watch.stage("merge", trace="load_direct"), staging.open(session.staging) as path:
        counts = load_direct(cur, path, staging.height)
    if counts is not None:
        merged = Merged(
            counts, "load_data_local_direct", deleted=0 if prepared.replace_days else None
        )
        inserted = dict(zip(prepared.days, prepared.day_rows, strict=True))
        return Written(merged, inserted, {}, Proof())
    # someone else wrote those keys, or LOCAL INFILE is refused: the staging way
    conn = session.connection()
    conn.rollback()
    cur.execute(sql.truncate_stage(stage))
    begin(conn, cur, prepared)
    return None


def merge_by_diff(
    session: Session,
    cur: Any,
    prepared: PreparedFile,
    options: MergeOptions,
    watch: Stopwatch,
    stage: str,
) -> Written | None:
    """The file against what fund_data holds, row by row (:mod:`loader.mysql.diff`); only the
    new and changed rows written, straight into fund_data with ``LOAD DATA ... REPLACE``.
    For fund_data with the composite primary key, when no newer file of the same dates is
    to be respected; None when it does not apply (the staged way then). The changed rows go
    through the (empty) staging table ``stage`` first, for the change log's before-images."""
    staging = prepared.staging
    assert staging is not None
    if not session.composite_key or _newer_exist(session, prepared, options):
        return None
    rows = staging.rows
    whole = prepared.replace_days or reads_whole_days(funds_per_day(rows))
    with watch.stage("diff"):
        asked = prepared.replace_days or options.verify
        found = diff_file(session.connection(), rows, whole, lacking=asked)
    inserted = sum(found.inserted.values())
    if len(found.write):
        with watch.stage("merge", trace="load_replace"):
            try:
                if len(found.changed):  # their before-images, into the change log first
                    with staging.open(session.staging, only=found.changed) as path:
                        cur.execute(sql.load_data(stage), (str(path),))
                    cur.execute(changes.log_staged_updates(stage))
                with staging.open(session.staging, only=found.write) as path:
                    cur.execute(sql.load_data_replacing_target(), (str(path),))
            except mysql.connector.Error as error:
                if error.errno in LOCAL_INFILE_REFUSED:
                    return None  # nothing written: the staged way inserts in batches
                raise
        affected, warnings = int(cur.rowcount), int(cur.warning_count)
        if warnings:
            raise StagingError(
                f"LOAD DATA REPLACE of {len(found.write)} rows: {warnings} warning(s)"
            )
        if affected != inserted + 2 * found.updated:
            raise ConcurrentWrite(
                f"{prepared.key}: another writer changed keys of the file's trade dates during "
                f"the load ({inserted} new and {found.updated} changed keys read, the server "
                f"affected {affected} rows): rolled back"
            )
    deleted = None
    if prepared.replace_days:
        with watch.stage("delete"):
            deleted = delete_lacking(
                cur, prepared.key, rows, found.lacking, found.held, prepared.max_delete_share
            )
    merged = Merged(
        MergeCounts(inserted, found.updated, found.unchanged),
        "diff",
        unstaged=found.unchanged,
        deleted=None if deleted is None else sum(deleted.values()),
    )
    return Written(merged, found.inserted, deleted or {}, Proof(proven=found.proven))


def _newer_exist(session: Session, prepared: PreparedFile, options: MergeOptions) -> bool:
    modified = prepared.identity.modified
    if modified is None or not options.newer_wins:
        return False
    return bool(lineage.newer_sources(session.connection(), prepared.days, modified, prepared.key))


def merge_staged_rows(
    session: Session,
    cur: Any,
    prepared: PreparedFile,
    options: MergeOptions,
    watch: Stopwatch,
    stage: str,
) -> Written:
    assert prepared.staging is not None
    with watch.stage("digest"):
        narrowed = unchanged_groups(cur, prepared.staging)
    staging, same = narrowed.staging, narrowed.unchanged
    written = staging.height
    method = "digest"
    if written:
        with watch.stage("stage"), staging.open(session.staging) as path:
            method = stage_rows(cur, path, written, lambda: staging.rows, session.max_packet, stage)
    superseded, kept_newer = 0, None
    if written:
        superseded, kept_newer = drop_superseded(session, cur, prepared, options, watch, stage)
    with watch.stage("unchanged"):
        identical = drop_unchanged(cur, stage) if written else 0
    staged = written - identical - superseded
    new_by_day = days.new_keys_by_day(cur, stage) if staged and len(prepared.days) > 1 else None
    with watch.stage("merge"):
        if staged:
            cur.execute(changes.log_staged_updates(stage))
        counts = (
            merge_staged(session.connection(), staged, session.mariadb, stage)
            if staged
            else MergeCounts(0, 0, 0)
        )
    inserted = inserted_by_day(prepared, counts, new_by_day)
    kept = counts.unchanged + identical + superseded + same
    deleted = replace_days(session, cur, prepared, options, watch, narrowed, inserted)
    merged = Merged(
        MergeCounts(counts.inserted, counts.updated, kept),
        method,
        superseded=superseded,
        unstaged=same,
        deleted=None if deleted is None else sum(deleted.values()),
    )
    proof = Proof(narrowed.proven, kept_newer)
    return Written(merged, inserted, deleted or {}, proof)


def inserted_by_day(
    prepared: PreparedFile, counts: MergeCounts, new_by_day: dict[date, int] | None
) -> dict[date, int]:
    """The merge's inserted rows per trade date: all on the file's one date, else as counted
    before the merge (which must add up to what the server said)."""
    if new_by_day is None:
        return {prepared.days[0]: counts.inserted} if prepared.days and counts.inserted else {}
    if sum(new_by_day.values()) != counts.inserted:
        raise ConcurrentWrite(
            f"{prepared.key}: another writer inserted keys of the file's trade dates during the "
            f"load ({sum(new_by_day.values())} new keys counted, {counts.inserted} inserted): "
            "rolled back"
        )
    return new_by_day


def replace_days(
    session: Session,
    cur: Any,
    prepared: PreparedFile,
    options: MergeOptions,
    watch: Stopwatch,
    narrowed: Narrowed,
    inserted: dict[date, int],
) -> dict[date, int] | None:
    """replace-days: delete the keys of the file's trade dates it lacks; per date, how many
    (None: an upsert). A file older than one already loaded for its dates deletes nothing
    (the newer one is the snapshot; this one only fills gaps). ``narrowed``: the digest
    pre-pass's result, whose counts of the days before the merge spare reading them again."""
    if not prepared.replace_days:
        return None
    assert prepared.staging is not None
    modified = prepared.identity.modified
    conn = session.connection()
    if (
        modified is not None
        and options.newer_wins
        and lineage.newer_sources(conn, prepared.days, modified, prepared.key)
    ):
        return {}
    with watch.stage("delete"):
        rows = prepared.staging.rows
        return delete_missing(
            cur,
            prepared.key,
            rows,
            prepared.max_delete_share,
            inserted,
            narrowed.held,
            narrowed.proven,
        )


def drop_superseded(
    session: Session,
    cur: Any,
    prepared: PreparedFile,
    options: MergeOptions,
    watch: Stopwatch,
    stage: str,
) -> tuple[int, pl.DataFrame | None]:
    """Drop the staged rows a newer file of the same trade dates wrote last: an older file
    (retried after its correction loaded, say) fills gaps but never overwrites newer data.
    Returns how many, and (when loads are verified) their keys."""
    modified = prepared.identity.modified
    if modified is None or not options.newer_wins:
        return 0, None
    newer = lineage.newer_sources(session.connection(), prepared.days, modified, prepared.key)
    if not newer:
        return 0, None
    with watch.stage("superseded"):
        keys = None
        if options.verify:
            cur.execute(sql.superseded_keys_in_stage(len(newer), stage), newer)
            keys = pl.DataFrame(
                cur.fetchall(),
                schema={c: pl.Date if c == "d_trade" else pl.String for c in sql.KEY_COLUMNS},
                orient="row",
            )
        cur.execute(sql.delete_superseded_from_stage(len(newer), stage), newer)
        return int(cur.rowcount), keys
