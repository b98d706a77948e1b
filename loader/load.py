"""Load stage: one export into ``fund_data`` in one transaction, with exact counts (CONTRACT §2).

``Loader.load(path)``: hash -> skip if already loaded -> parse -> staging file
-> ``LOAD DATA LOCAL INFILE`` into a TEMPORARY table -> one
``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE`` -> ledger row, committed
together. A file none of whose trade dates exist yet in ``fund_data`` is
loaded straight into it (same semantics: every row is an insert; any
duplicate turns into a warning, which sends the file back the staging way).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import mysql.connector
import polars as pl
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader import ledger, sql
from loader.db import (
    RETRYABLE_IN_TRANSACTION,
    DatabaseError,
    DbConfig,
    SchemaError,
    classify,
    connect,
)
from loader.errors import FileRejected, InputError, LoaderError, PermanentError, RowError
from loader.parse import parse_file
from loader.result import ParseResult
from loader.settings import ParseSettings
from loader.stage import StagingDir, StagingStream, read_staging_file, write_staging_file

LOCAL_INFILE_REFUSED = {1148, 3948, 2068, 4166}  # MariaDB 10.x, MySQL 8, the client, MariaDB 11
INSERT_BATCH = 1000
RETRIES = 5
_INFO = re.compile(r"Records:\s*(\d+)\s+Duplicates:\s*(\d+)\s+Warnings:\s*(\d+)")
COMPOSITE = "d_trade,stock,ticker,col_code"


class MergeCountMismatch(PermanentError):
    """The server's figures do not add up: the merge was rolled back."""


class StagingError(PermanentError):
    """LOAD DATA staged a different number of rows than written, or with warnings."""


@dataclass
class LoadReport:
    """What happened to one source: the contract's report fields (CONTRACT §3)."""

    source: str
    status: str
    rows_read: int | None = None
    rows_merged: int | None = None
    duplicates_in_file: int | None = None
    conflicting_duplicates: int | None = None
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    rejected_rows: int | None = None
    encoding: str | None = None
    date_format: str | None = None
    date_order: str | None = None
    date_order_proven: bool | None = None
    extra_columns: list[str] = field(default_factory=list)
    method: str | None = None
    seconds: float = 0.0
    rows_per_second: float | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    ledger_id: int | None = None
    retries: int = 0
    object_version: str | None = None
    bytes: int | None = None
    error_type: str | None = None
    rejects_uri: str | None = None
    """Where the rejects report (or the rejected rows) of this source were written."""
    failure: LoaderError | None = field(default=None, repr=False)
    """The typed error behind a ``failed`` or ``rejected`` status (not serialised)."""
    rejects: pl.DataFrame | None = field(default=None, repr=False)
    """Rows a bad-row allowance let through as rejected (not serialised)."""

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("failure", "rejects")}
        out["seconds"] = round(self.seconds, 6)
        out["stage_seconds"] = {k: round(v, 6) for k, v in self.stage_seconds.items()}
        return out

    def absorb(self, parsed: ParseResult) -> None:
        self.rows_read = parsed.rows_read
        self.duplicates_in_file = parsed.duplicates_in_file
        self.conflicting_duplicates = parsed.conflicting_duplicates
        self.rejected_rows = parsed.rejected_rows
        self.encoding = parsed.encoding
        self.date_format = parsed.date_format
        self.date_order = parsed.date_order
        self.date_order_proven = parsed.date_order_proven
        self.extra_columns = parsed.extra_columns
        self.errors = [e.to_dict() for e in parsed.errors]
        self.stage_seconds.update(parsed.seconds)
        self.bytes = parsed.bytes_read
        if parsed.rejects is not None and parsed.rejects.height:
            self.rejects = parsed.rejects

    @property
    def retryable(self) -> bool:
        """A failure the environment caused: the same input may load on a retry."""
        return self.status == "failed" and not isinstance(self.failure, InputError)


@dataclass(frozen=True, slots=True)
class MergeCounts:
    inserted: int
    updated: int
    unchanged: int

    @classmethod
    def from_server(cls, staged: int, affected: int, info: str, mariadb: bool) -> MergeCounts:
        """Counts from the OK packet, with no second join (proven per server in the tests).

        ``Records: N  Duplicates: D``: MariaDB counts in D only the rows the
        update changed; MySQL counts every row that hit an existing key.
        Either way the server's affected rows must be ``inserted + 2 x updated``.
        """
        match = _INFO.search(info or "")
        if match is None:
            raise MergeCountMismatch(f"no record counts from the server: {info!r}")
        records, duplicates = int(match[1]), int(match[2])
        if mariadb:
            updated = duplicates
            inserted = affected - 2 * updated
            unchanged = records - inserted - updated
        else:
            inserted = records - duplicates
            twice_updated = affected - inserted
            updated = twice_updated // 2
            unchanged = duplicates - updated
            if twice_updated % 2:
                updated = -1
        counts = cls(inserted, updated, unchanged)
        if (
            records != staged
            or min(inserted, updated, unchanged) < 0
            or inserted + updated + unchanged != staged
            or inserted + 2 * updated != affected
        ):
            raise MergeCountMismatch(
                f"merge counts do not add up (staged {staged}, affected {affected}, "
                f"server said {info!r}): rolled back"
            )
        return counts


@dataclass
class PreparedFile:
    """A file parsed and written as a staging file by a worker process, ready to merge.

    Plain, picklable fields only: it crosses process boundaries. ``status``
    is ``prepared``, ``rejected`` (the file is bad; ``errors`` says why) or
    ``failed`` (it could not be read).
    """

    key: str
    content_hash: str
    size: int
    status: str
    object_version: str | None = None
    staging_file: str | None = None
    written: int = 0
    days: list[date] = field(default_factory=list)
    parsed: LoadReport | None = None
    """The worker's report of the parse (counts, encoding, errors, stage seconds)."""
    error: str | None = None
    seconds: float = 0.0

    @classmethod
    def failed(
        cls, key: str, size: int, error: str, error_type: str, status: str = "failed"
    ) -> PreparedFile:
        """A file that could not be prepared (unreadable, gone, its worker died)."""
        report = LoadReport(key, "failed", error_type=error_type)
        report.errors = [RowError(None, None, error).to_dict()]
        return cls(key, "0" * 64, size, status, parsed=report, error=error)

    def identity(self) -> ledger.SourceIdentity:
        return ledger.SourceIdentity(self.key, self.content_hash, self.size, self.object_version)

    def report(self) -> LoadReport:
        """A fresh report for the merge, starting from what the worker found."""
        report = copy.copy(self.parsed) if self.parsed else LoadReport(self.key, "failed")
        report.status, report.bytes = "failed", self.size
        report.object_version = self.object_version
        report.errors = list(report.errors)
        report.stage_seconds = dict(report.stage_seconds)
        return report


def prepare_file(
    path: str | Path,
    key: str,
    staging_dir: str | Path,
    settings: ParseSettings | None = None,
    object_version: str | None = None,
    source: ledger.SourceIdentity | None = None,
) -> PreparedFile:
    """Hash, parse and write the staging file of one export, without a database.

    Never raises for a bad file: a rejection comes back as ``status='rejected'``.
    ``source``: the file's identity when the caller has hashed it already.
    """
    started = time.perf_counter()
    path = Path(path)
    source = source or ledger.SourceIdentity.of_file(path, key, object_version)
    prepared = PreparedFile(key, source.content_hash, source.size, "prepared", object_version)
    hashed = time.perf_counter() - started
    report = LoadReport(source=key, status="failed", object_version=object_version)
    prepared.parsed = report
    try:
        parsed = parse_file(path, name=key, settings=settings or ParseSettings())
    except FileRejected as rejected:
        prepared.status, report.error_type = "rejected", "FileRejected"
        report.errors = [e.to_dict() for e in rejected.errors]
        report.encoding = rejected.encoding
        prepared.error = f"{rejected.kind}: {rejected}"
        prepared.seconds = time.perf_counter() - started
        return prepared
    release_free_memory()
    report.absorb(parsed)
    report.rejects = None  # a frame: it does not cross to the merging process
    fd, name = tempfile.mkstemp(suffix=".tsv", dir=staging_dir)
    os.close(fd)
    t = time.perf_counter()
    prepared.written = write_staging_file(parsed.rows, Path(name))
    prepared.staging_file = name
    prepared.days = parsed.rows["d_trade"].unique().sort().to_list()
    report.stage_seconds = {"hash": hashed, **report.stage_seconds}
    report.stage_seconds["write"] = time.perf_counter() - t
    prepared.seconds = time.perf_counter() - started
    return prepared


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc), between parse and staging.

    The parse frees hundreds of megabytes at 10M rows; glibc keeps them
    unless asked, and the staging file's key order would come on top:
    about 40-80 MB off the peak of a 10M-row load. Nothing elsewhere.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


Span = Callable[[str], AbstractContextManager[Any]]


def _readable(path: Path) -> Callable[[], AbstractContextManager[Path]]:
    """A staging file already written (the backfill's), as :meth:`Loader._merge` takes it."""
    return lambda: nullcontext(path)


def no_span(name: str) -> AbstractContextManager[Any]:
    return nullcontext()


class Loader:
    """Loads exports into one database; reuses its connection and staging directory.

    ``span(name)`` wraps each stage (``parse``, ``write``, ``stage``,
    ``merge``): the Lambda handler passes X-Ray subsegments, others nothing.
    """

    def __init__(
        self,
        config: DbConfig,
        settings: ParseSettings | None = None,
        staging_parent: str | None = None,
        span: Span = no_span,
        staging: StagingDir | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or ParseSettings()
        self._own_staging = staging is None
        self.staging = staging or StagingDir(staging_parent)
        self.span = span
        self._conn: MySQLConnectionAbstract | None = None
        self._checked_schema = False

    # -- connection ------------------------------------------------------------

    def connection(self) -> MySQLConnectionAbstract:
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)
            except mysql.connector.Error:
                self._conn = None
        if self._conn is None:
            self._conn = connect(self.config, staging_dir=self.staging.path)
            self._checked_schema = False
            cur: Any = self._conn.cursor()
            cur.execute(sql.CREATE_STAGE)
            cur.execute("SELECT VERSION()")
            self._mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
            cur.close()
        if not self._checked_schema:
            check_target(self._conn)
            self._checked_schema = True
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(mysql.connector.Error):
                self._conn.close()
            self._conn = None
        if self._own_staging:
            self.staging.close()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one source ------------------------------------------------------------

    def load(
        self,
        path: str | Path,
        *,
        source_key: str | None = None,
        object_version: str | None = None,
        force: bool = False,
    ) -> LoadReport:
        """Load one local file; never raises for a bad file (see ``status``)."""
        started = time.perf_counter()
        key = source_key or str(path)
        report = LoadReport(source=key, status="failed", object_version=object_version)
        try:
            source = ledger.SourceIdentity.of_file(Path(path), key, object_version)
            report.stage_seconds["hash"] = time.perf_counter() - started
            report.bytes = source.size
            conn = self.connection()
            if not force and ledger.already_loaded(conn, source) is not None:
                report.status = "skipped"
                report.ledger_id = ledger.start(conn, source, status="skipped")
                return report
            report.ledger_id = ledger.start(conn, source)
            self._load(Path(path), source, report)
        except FileRejected as rejected:
            report.status = "rejected"
            report.errors = [e.to_dict() for e in rejected.errors]
            report.encoding = rejected.encoding
            report.failure, report.error_type = rejected, type(rejected).__name__
            self._record_failure(report, f"{rejected.kind}: {rejected}")
        except LoaderError as error:
            report.status = "failed"
            report.errors = [RowError(None, None, str(error)).to_dict()]
            report.failure, report.error_type = error, type(error).__name__
            self._record_failure(report, str(error))
        finally:
            report.seconds = time.perf_counter() - started
            if report.rows_read and report.seconds > 0:
                report.rows_per_second = round(report.rows_read / report.seconds, 1)
        return report

    def _record_failure(self, report: LoadReport, message: str) -> None:
        if report.ledger_id is None:
            return
        try:
            conn = self.connection()
            conn.rollback()
            ledger.finish(conn, report.ledger_id, report.status, report.to_dict(), message[:60000])
            conn.commit()
        except (LoaderError, mysql.connector.Error):
            pass  # the attempt stays 'loading': the ledger still shows it happened

    def skip_known_version(self, key: str, version: str | None) -> LoadReport | None:
        """Skip at once, before any download, when this object version was already loaded.

        The redelivered message's object (same key, same version id or ETag)
        has a ``loaded`` row in the ledger: record the skip and return its
        report. None when the version is unknown or was never loaded.
        """
        if not version:
            return None
        started = time.perf_counter()
        conn = self.connection()
        earlier = ledger.loaded_version(conn, key, version)
        if earlier is None:
            return None
        report = LoadReport(source=key, status="skipped", object_version=version)
        report.ledger_id = ledger.record_skip_of(conn, earlier)
        report.seconds = time.perf_counter() - started
        return report

    def merge_prepared(self, prepared: PreparedFile, force: bool = False) -> LoadReport:
        """Merge a file a worker prepared (parsed, staging file written): the backfill's half.

        Same skip rule, ledger, transaction, retries and report as :meth:`load`;
        the staging file is removed afterwards whatever happened.
        """
        started = time.perf_counter()
        report = prepared.report()
        source = prepared.identity()
        staging_file = Path(prepared.staging_file) if prepared.staging_file else None
        try:
            conn = self.connection()
            if not force and ledger.already_loaded(conn, source) is not None:
                report.status = "skipped"
                report.ledger_id = ledger.start(conn, source, status="skipped")
                return report
            report.ledger_id = ledger.start(conn, source)
            if prepared.status == "prepared" and staging_file is None:
                # the worker saw this content as loaded; the ledger no longer says so
                prepared.status = "failed"
                prepared.error = "the ledger changed while the file was prepared: run again"
                report.errors = [RowError(None, None, prepared.error).to_dict()]
            if prepared.status != "prepared" or staging_file is None:
                report.status = prepared.status
                self._record_failure(report, prepared.error or prepared.status)
                return report
            self._merge_retrying(
                _readable(staging_file),
                prepared.written,
                partial(read_staging_file, staging_file),
                prepared.days,
                source,
                report,
            )
            return report
        except LoaderError as error:
            report.status = "failed"
            report.errors = [RowError(None, None, str(error)).to_dict()]
            report.failure, report.error_type = error, type(error).__name__
            self._record_failure(report, str(error))
        finally:
            if staging_file is not None:
                staging_file.unlink(missing_ok=True)
            report.seconds = prepared.seconds + time.perf_counter() - started
            if report.rows_read and report.seconds > 0:
                report.rows_per_second = round(report.rows_read / report.seconds, 1)
        return report

    def _load(self, path: Path, source: ledger.SourceIdentity, report: LoadReport) -> None:
        with self.span("parse"):
            parsed = parse_file(path, name=source.key, settings=self.settings)
        release_free_memory()
        report.absorb(parsed)
        # The key order and the escaping are judged here ("write"); the text itself is
        # written into a named pipe while LOAD DATA reads it (StagingStream), so its
        # formatting overlaps the server's inserting instead of preceding it.
        t = time.perf_counter()
        with self.span("write"):
            stream = StagingStream(parsed.rows, self.staging)
        report.stage_seconds["write"] = time.perf_counter() - t
        days = parsed.rows["d_trade"].unique().to_list()
        self._merge_retrying(stream.open, stream.height, lambda: parsed.rows, days, source, report)

    def _merge_retrying(
        self,
        staging: Callable[[], AbstractContextManager[Path]],
        written: int,
        rows: Callable[[], pl.DataFrame],
        days: list[date],
        source: ledger.SourceIdentity,
        report: LoadReport,
    ) -> None:
        """:meth:`_merge`, again after a deadlock or lock wait timeout (jittered backoff)."""
        for attempt in range(RETRIES + 1):
            try:
                self._merge(staging, written, rows, days, source, report)
                report.status = "loaded"
                return
            except DatabaseError as error:
                self._rollback_quietly()
                if error.errno not in RETRYABLE_IN_TRANSACTION or attempt == RETRIES:
                    raise
                report.retries += 1
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))

    def _rollback_quietly(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rollback()
        except mysql.connector.Error:
            self._conn = None

    def _merge(
        self,
        staging: Callable[[], AbstractContextManager[Path]],
        written: int,
        rows: Callable[[], pl.DataFrame],
        days: list[date],
        source: ledger.SourceIdentity,
        report: LoadReport,
    ) -> None:
        conn = self.connection()
        cur: Any = conn.cursor()
        try:
            cur.execute(sql.TRUNCATE_STAGE)  # DDL: commits, so before the transaction
            conn.start_transaction(isolation_level="READ COMMITTED")
            cur.execute(sql.SET_LINEAGE, (source.key,))
            t = time.perf_counter()
            counts = None
            if written and not self._any_day_exists(cur, days):
                with self.span("load_direct"), staging() as path:
                    counts = self._load_direct(cur, path, written)
                if counts is None:  # someone else wrote those keys: the staging way
                    conn.rollback()
                    cur.execute(sql.TRUNCATE_STAGE)
                    conn.start_transaction(isolation_level="READ COMMITTED")
                    cur.execute(sql.SET_LINEAGE, (source.key,))
                else:
                    report.method = "load_data_local_direct"
            if counts is None:
                with self.span("stage"), staging() as path:
                    report.method = self._stage(cur, path, written, rows)
                report.stage_seconds["stage"] = time.perf_counter() - t
                t = time.perf_counter()
                with self.span("unchanged"):
                    identical = self._drop_unchanged(cur)
                report.stage_seconds["unchanged"] = time.perf_counter() - t
                t = time.perf_counter()
                with self.span("merge"):
                    counts = self._merge_staged(conn, written - identical)
                counts = MergeCounts(counts.inserted, counts.updated, counts.unchanged + identical)
            report.stage_seconds["merge"] = time.perf_counter() - t
            report.rows_merged = written
            report.inserted, report.updated, report.unchanged = (
                counts.inserted,
                counts.updated,
                counts.unchanged,
            )
            assert report.ledger_id is not None
            ledger.finish(conn, report.ledger_id, "loaded", report.to_dict())
            conn.commit()
        except mysql.connector.Error as error:
            raise classify(error, self.config) from None
        except BaseException:  # a PermanentError, the staging writer's error, an interrupt
            self._rollback_quietly()
            raise
        finally:
            with contextlib.suppress(mysql.connector.Error):
                cur.close()

    def _any_day_exists(self, cur: Any, days: list[date]) -> bool:
        cur.execute(sql.any_key_exists(len(days)), days)
        return cur.fetchone() is not None

    def _load_direct(self, cur: Any, staging_file: Path, written: int) -> MergeCounts | None:
        """Straight into fund_data; None when any row was not inserted (a key appeared)."""
        try:
            cur.execute(sql.load_data_into_target(), (str(staging_file),))
        except mysql.connector.Error as error:
            if error.errno in LOCAL_INFILE_REFUSED:
                return None
            raise
        if cur.rowcount != written or cur.warning_count:
            return None
        return MergeCounts(written, 0, 0)

    def _stage(
        self, cur: Any, staging_file: Path, written: int, rows: Callable[[], pl.DataFrame]
    ) -> str:
        method = "load_data_local"
        try:
            cur.execute(sql.load_data(sql.STAGE_TABLE), (str(staging_file),))
            staged, warnings = cur.rowcount, cur.warning_count
        except mysql.connector.Error as error:
            if error.errno not in LOCAL_INFILE_REFUSED:
                raise
            method = "insert_batches"
            staged, warnings = _insert_batches(cur, rows()), 0
        if staged != written or warnings:
            raise StagingError(
                f"staging loaded {staged} of {written} rows with {warnings} warning(s)"
            )
        return method

    def _drop_unchanged(self, cur: Any) -> int:
        """Delete the staged rows fund_data already holds with the same values; returns how many.

        The multi-table DELETE reads fund_data with shared locks, held to the
        commit, so a row judged unchanged cannot change under this load: the
        outcome is still that of some serial order of concurrent loads. It
        costs about half of what the merge's duplicate-key path costs for the
        same row (docs/mysql.md).
        """
        cur.execute(sql.delete_unchanged_from_stage())
        return int(cur.rowcount)

    def _merge_staged(self, conn: MySQLConnectionAbstract, staged: int) -> MergeCounts:
        result = conn.cmd_query(sql.merge())
        assert isinstance(result, dict)
        return MergeCounts.from_server(
            staged, int(result["affected_rows"]), str(result.get("info_msg") or ""), self._mariadb
        )


def _insert_batches(cur: Any, rows: pl.DataFrame) -> int:
    """The fallback when LOCAL INFILE is refused: multi-row INSERTs of 1,000 rows."""
    day = pl.col("d_trade")
    frame = rows.select(
        day.dt.to_string("%Y-%m-%d") if rows.schema["d_trade"] == pl.Date else day,
        *(pl.col(c).cast(pl.String) for c in ("stock", "ticker", "col_code")),
        pl.col("value_numeric").cast(pl.String),
        "value_text",
    )
    total = 0
    for batch in frame.iter_slices(INSERT_BATCH):
        values = [v for row in batch.iter_rows() for v in row]
        cur.execute(sql.insert_stage_rows(batch.height), values)
        total += cur.rowcount
    return total


def check_target(conn: MySQLConnectionAbstract) -> None:
    """Refuse a fund_data whose unique keys differ from the contract's (CONTRACT §2.1).

    Allowed: the composite key as primary key, or a surrogate single-column
    primary key plus exactly one unique key on the composite columns.
    ON DUPLICATE KEY UPDATE fires on any unique key, so any other would
    silently merge the wrong rows.
    """
    cur: Any = conn.cursor()
    cur.execute(sql.UNIQUE_INDEXES, (sql.TARGET_TABLE,))
    unique = {str(name): str(cols) for name, cols in cur.fetchall()}
    cur.close()
    if not unique:
        raise SchemaError("fund_data does not exist or has no unique key: run fundsync migrate")
    composite = [name for name, cols in unique.items() if cols == COMPOSITE]
    others = {name: cols for name, cols in unique.items() if name not in composite}
    surrogate_pk = others.get("PRIMARY") is not None and "," not in others["PRIMARY"]
    if len(composite) == 1 and (not others or (len(others) == 1 and surrogate_pk)):
        return
    raise SchemaError(
        "fund_data must have exactly one unique key on (d_trade, stock, ticker, col_code) "
        f"besides a surrogate primary key; found {unique}"
    )
