"""``fundsync backfill``: years of exports, in parallel, resumable, in trade-date order.

Sources are a local directory or ``s3://bucket/prefix``, filtered by trade
date (found in the key: ``.../fund_data/2025-12-09/...`` or in the file name)
and by glob. Each export goes through two halves:

- **prepare** (in ``--workers`` processes): download (S3), hash, parse,
  deduplicate and write the key-ordered staging file. No database.
- **merge** (in ``--db-concurrency`` threads of the main process, each with
  its own connection): the skip rule, the ledger row, ``LOAD DATA`` of the
  staging file, the unchanged-row pre-pass and the one-statement merge, in one
  transaction, exactly as ``fundsync load``.

Preparing runs ahead of merging, so parsing overlaps database work; the
single writer is the bottleneck, and ``--db-concurrency`` bounds it on its
own. Merges start in trade-date order (``--order``): an export may start only
when every earlier one is prepared and those whose trade dates overlap its
own have finished, so a later export wins over an earlier one for the same
key, whatever the concurrency.

The ledger is the checkpoint. A run that was interrupted (Ctrl-C, kill -9, a
lost database) is resumed by running it again: what is loaded is skipped
(S3 objects by key and ETag before any download, local files by key and
content hash before parsing), the rest loads, and the final state is the one
an uninterrupted run leaves.
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

from loader import aws, ledger
from loader.db import DbConfig
from loader.errors import ConfigError
from loader.events import ObjectRef
from loader.load import Loader, LoadReport, PreparedFile, prepare_file
from loader.settings import ParseSettings
from loader.sources import downloaded, is_s3_uri, parse_s3_uri
from loader.stage import StagingDir

ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
COMPACT_DATE = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
DEFAULT_GLOBS = ("*.csv", "*.csv.gz")
ORDERS = ("trade-date", "name")


@dataclass(frozen=True, slots=True)
class Export:
    """One export a backfill will load: where it is, its ledger key, its trade date."""

    source: str
    """A local path, or ``s3://bucket/key``."""
    key: str
    """The source key: the path as found, or the object key (CONTRACT §1.2)."""
    trade_date: date | None
    size: int
    etag: str | None = None

    @property
    def is_s3(self) -> bool:
        return is_s3_uri(self.source)


def trade_date_of(key: str) -> date | None:
    """The trade date in an export's key: a ``YYYY-MM-DD`` folder, else the file name.

    ``raw/sql_server/fund_data/2025-12-09/export.csv`` and
    ``fund_data_2025-12-09.csv`` or ``fund_data_20251209.csv`` give
    2025-12-09; a key with no date gives None.
    """
    parts = key.replace("\\", "/").split("/")
    for folder in reversed(parts[:-1]):
        if (match := ISO_DATE.fullmatch(folder)) and (day := _date(match)):
            return day
    name = parts[-1]
    for pattern in (ISO_DATE, COMPACT_DATE):
        for match in pattern.finditer(name):
            if day := _date(match):
                return day
    return None


def _date(match: re.Match[str]) -> date | None:
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _wanted(relative: str, globs: tuple[str, ...]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(relative, g) for g in globs)


def discover(
    source: str,
    globs: tuple[str, ...] = DEFAULT_GLOBS,
    since: date | None = None,
    until: date | None = None,
    order: str = "trade-date",
    s3: Any = None,
) -> list[Export]:
    """The exports under ``source`` that pass the filters, in load order.

    With ``since``/``until``, an export whose key carries no trade date is
    left out (it cannot be shown to be in range); without them it is kept,
    after the dated ones.
    """
    if order not in ORDERS:
        raise ConfigError(f"order {order!r}: use one of {', '.join(ORDERS)}")
    found = list(
        _s3_exports(source, globs, s3) if is_s3_uri(source) else _local_exports(source, globs)
    )
    kept = []
    for export in found:
        if since or until:
            if export.trade_date is None:
                continue
            if (since and export.trade_date < since) or (until and export.trade_date > until):
                continue
        kept.append(export)
    if order == "trade-date":
        kept.sort(key=lambda e: (e.trade_date is None, e.trade_date or date.max, e.key))
    else:
        kept.sort(key=lambda e: e.key)
    return kept


def _local_exports(source: str, globs: tuple[str, ...]) -> Iterator[Export]:
    root = Path(source)
    if not root.is_dir():
        raise ConfigError(
            f"{source}: not a directory (give a folder of exports or s3://bucket/prefix)"
        )
    for path in root.rglob("*"):
        if not path.is_file() or path.name.endswith(".rejects.csv"):
            continue
        relative = path.relative_to(root).as_posix()
        if _wanted(relative, globs):
            key = str(path)
            yield Export(key, key, trade_date_of(relative), path.stat().st_size)


def _s3_exports(source: str, globs: tuple[str, ...], s3: Any) -> Iterator[Export]:
    bucket, _, prefix = source[5:].partition("/")
    if not bucket:
        raise ConfigError(f"S3 source needs a bucket: {source!r}")
    s3 = s3 or aws.client("s3")
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key = str(item["Key"])
                relative = key[len(prefix) :].lstrip("/")
                if key.endswith("/") or not _wanted(relative, globs):
                    continue
                etag = str(item.get("ETag", "")).strip('"') or None
                yield Export(
                    f"s3://{bucket}/{key}", key, trade_date_of(key), int(item["Size"]), etag
                )
    except Exception as error:
        raise aws.classify(error, f"listing {source}") from None


# -- preparing, in worker processes ----------------------------------------------


def _prepare(
    export: Export,
    staging_dir: str,
    settings: ParseSettings,
    loaded_hashes: frozenset[str],
    max_object_bytes: int,
) -> PreparedFile:
    """A worker's half: the staging file of one export (or why there is none)."""
    started = time.perf_counter()
    try:
        if export.is_s3:
            bucket, key = parse_s3_uri(export.source)
            ref = ObjectRef(bucket, key, etag=export.etag, size=export.size)
            with downloaded(ref, staging_dir, max_object_bytes) as copy:
                prepared = _prepare_local(
                    copy.path, export.key, staging_dir, settings, loaded_hashes, copy.ref.identity
                )
        else:
            prepared = _prepare_local(
                Path(export.source), export.key, staging_dir, settings, loaded_hashes, None
            )
    except Exception as error:  # reported per file; the run goes on
        from loader.errors import InputError

        prepared = PreparedFile.failed(
            export.key,
            export.size,
            f"{type(error).__name__}: {error}",
            type(error).__name__,
            "rejected" if isinstance(error, InputError) else "failed",
        )
    prepared.seconds = time.perf_counter() - started
    return prepared


def _prepare_local(
    path: Path,
    key: str,
    staging_dir: str,
    settings: ParseSettings,
    loaded_hashes: frozenset[str],
    version: str | None,
) -> PreparedFile:
    source = ledger.SourceIdentity.of_file(path, key, version)
    if source.content_hash in loaded_hashes:  # loaded before: the merge records the skip
        return PreparedFile(key, source.content_hash, source.size, "prepared", version)
    return prepare_file(path, key, staging_dir, settings, object_version=version, source=source)


def _ignore_signals() -> None:
    """Workers leave Ctrl-C and SIGTERM to the main process, which stops them in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _result(future: Future[PreparedFile], export: Export) -> PreparedFile:
    """A worker's result, or a failed file if the worker itself died (out of memory, killed)."""
    try:
        return future.result()
    except Exception as error:
        return PreparedFile.failed(
            export.key, export.size, f"worker died: {error!r}", type(error).__name__
        )


# -- the run ------------------------------------------------------------------------


@dataclass
class FileOutcome:
    export: Export
    report: LoadReport


@dataclass
class BackfillSummary:
    """What a backfill did: counts by status, rows, time, and the files that did not load."""

    files: int = 0
    loaded: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    rows_read: int = 0
    rows_merged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    outcomes: list[FileOutcome] = field(default_factory=list)

    def add(self, outcome: FileOutcome) -> None:
        report = outcome.report
        self.outcomes.append(outcome)
        if report.status in ("loaded", "skipped", "rejected", "failed"):
            setattr(self, report.status, getattr(self, report.status) + 1)
        for name in ("rows_read", "rows_merged", "inserted", "updated", "unchanged"):
            setattr(self, name, getattr(self, name) + (getattr(report, name) or 0))

    @property
    def done(self) -> int:
        return self.loaded + self.skipped + self.rejected + self.failed

    @property
    def rows_per_second(self) -> float:
        return self.rows_merged / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.failed or self.interrupted)

    def problems(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.report.status in ("rejected", "failed")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "loaded": self.loaded,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "failed": self.failed,
            "not_started": self.files - self.done,
            "rows_read": self.rows_read,
            "rows_merged": self.rows_merged,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "interrupted": self.interrupted,
            "problems": [
                {
                    "source": o.export.source,
                    "status": o.report.status,
                    "errors": o.report.errors[:10],
                }
                for o in self.problems()
            ],
        }


Listener = Callable[[str, BackfillSummary, FileOutcome | None], None]


class Backfill:
    """Loads many exports with bounded parallelism; see the module docstring."""

    def __init__(
        self,
        config: DbConfig,
        settings: ParseSettings | None = None,
        workers: int = 2,
        db_concurrency: int = 1,
        force: bool = False,
        max_object_bytes: int = 2 << 30,
        work_dir: str | None = None,
        listener: Listener | None = None,
    ) -> None:
        if workers < 1 or db_concurrency < 1:
            raise ConfigError("--workers and --db-concurrency must be at least 1")
        self.config = config
        self.settings = settings or ParseSettings()
        self.workers = workers
        self.db_concurrency = db_concurrency
        self.force = force
        self.max_object_bytes = max_object_bytes
        self.work_dir = work_dir
        self.listener = listener or (lambda event, summary, outcome: None)
        self._stop = threading.Event()
        self._local = threading.local()
        self._loaders: list[Loader] = []
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Finish the merges under way, start nothing new (Ctrl-C, SIGTERM)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the ledger, up front --------------------------------------------------

    def known(self, exports: list[Export]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Per key, the content hashes and the versions (ETags) the ledger has as loaded."""
        hashes: dict[str, set[str]] = {}
        versions: dict[str, set[str]] = {}
        with Loader(self.config, self.settings) as probe:
            conn = probe.connection()
            for start in range(0, len(exports), 500):
                batch = exports[start : start + 500]
                for key, content, version in ledger.loaded_sources(conn, [e.key for e in batch]):
                    hashes.setdefault(key, set()).add(content)
                    if version:
                        versions.setdefault(key, set()).add(version)
            conn.commit()
        return hashes, versions

    # -- merging, in threads ---------------------------------------------------

    def _loader(self, staging: StagingDir) -> Loader:
        loader = getattr(self._local, "loader", None)
        if loader is None:
            loader = Loader(self.config, self.settings, staging=staging)
            self._local.loader = loader
            with self._lock:
                self._loaders.append(loader)
        return loader

    def _merge(self, prepared: PreparedFile, staging: StagingDir) -> LoadReport:
        try:
            return self._loader(staging).merge_prepared(prepared, force=self.force)
        except Exception as error:  # a fault of ours: reported with the file, the run goes on
            report = prepared.report()
            report.status = "failed"
            report.errors = [{"line": None, "column": None, "reason": f"{error}"}]
            report.error_type = type(error).__name__
            if prepared.staging_file:
                Path(prepared.staging_file).unlink(missing_ok=True)
            return report

    # -- the run ---------------------------------------------------------------

    def run(self, exports: list[Export]) -> BackfillSummary:
        summary = BackfillSummary(files=len(exports))
        started = time.perf_counter()
        hashes, versions = self.known(exports) if not self.force else ({}, {})
        staging = StagingDir(self.work_dir)
        context = multiprocessing.get_context("spawn")  # Polars' threads do not survive fork
        prepare_pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_ignore_signals
        )
        merge_pool = ThreadPoolExecutor(max_workers=self.db_concurrency)
        window = 2 * self.workers + self.db_concurrency
        prepared: dict[int, PreparedFile] = {}
        preparing: dict[Future[PreparedFile], int] = {}
        merging: dict[Future[LoadReport], int] = {}
        running_days: dict[int, set[date]] = {}
        finished: set[int] = set()
        next_to_prepare = 0
        self.listener("start", summary, None)
        try:
            while len(finished) < len(exports):
                if self._stop.is_set() and not merging:
                    break
                # skip at once what the ledger has (S3: same key and ETag), then keep preparing
                while (
                    not self._stop.is_set()
                    and next_to_prepare < len(exports)
                    and (next_to_prepare - len(finished) < window)
                ):
                    index = next_to_prepare
                    next_to_prepare += 1
                    export = exports[index]
                    if export.is_s3 and export.etag and export.etag in versions.get(export.key, ()):
                        finished.add(index)
                        self._record(summary, export, self._skip_known(export, staging))
                        continue
                    loaded = frozenset(hashes.get(export.key, ()))
                    future = prepare_pool.submit(
                        _prepare,
                        export,
                        str(staging.path),
                        self.settings,
                        loaded,
                        self.max_object_bytes,
                    )
                    preparing[future] = index
                self._start_merges(
                    exports, prepared, merging, running_days, finished, merge_pool, staging
                )
                pending: set[Future[Any]] = set(preparing) | set(merging)
                if not pending:
                    if next_to_prepare >= len(exports) or self._stop.is_set():
                        break
                    continue
                done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    if future in preparing:
                        index = preparing.pop(future)
                        prepared[index] = _result(future, exports[index])
                        continue
                    merged = cast("Future[LoadReport]", future)
                    index = merging.pop(merged)
                    running_days.pop(index, None)
                    finished.add(index)
                    self._record(summary, exports[index], merged.result())
                summary.seconds = time.perf_counter() - started
                self.listener("tick", summary, None)
        except KeyboardInterrupt:
            self._stop.set()
            raise
        finally:
            summary.interrupted = len(finished) < len(exports)
            prepare_pool.shutdown(wait=True, cancel_futures=True)
            merge_pool.shutdown(wait=True, cancel_futures=True)
            for leftover in prepared.values():
                if leftover.staging_file:
                    Path(leftover.staging_file).unlink(missing_ok=True)
            for loader in self._loaders:
                loader.close()
            staging.close()
            summary.seconds = time.perf_counter() - started
            self.listener("end", summary, None)
        return summary

    def _start_merges(
        self,
        exports: list[Export],
        prepared: dict[int, PreparedFile],
        merging: dict[Future[LoadReport], int],
        running_days: dict[int, set[date]],
        finished: set[int],
        pool: ThreadPoolExecutor,
        staging: StagingDir,
    ) -> None:
        """Start every merge whose turn has come, up to ``--db-concurrency``.

        In load order: an export starts when every earlier one is prepared (its
        trade dates known) and none of the earlier unfinished ones shares a
        trade date with it. A later export never overtakes an earlier one on
        the same day, so the later one's values win.
        """
        if self._stop.is_set():
            return
        busy: list[set[date]] = []  # trade dates of earlier exports not yet finished
        for index in range(len(exports)):
            if len(merging) >= self.db_concurrency:
                return
            if index in finished:
                continue
            if index in running_days:
                busy.append(running_days[index])
                continue
            if index not in prepared:
                return  # its trade dates are not known yet: nothing after it may start
            days = set(prepared[index].days)
            if not any(days & other for other in busy):
                future = pool.submit(self._merge, prepared.pop(index), staging)
                merging[future] = index
                running_days[index] = days
            busy.append(days)

    def _skip_known(self, export: Export, staging: StagingDir) -> LoadReport:
        loader = self._loader(staging)
        report = loader.skip_known_version(export.key, export.etag)
        if report is None:  # pragma: no cover - the ledger changed under us: load it next time
            report = LoadReport(source=export.key, status="failed")
        return report

    def _record(self, summary: BackfillSummary, export: Export, report: LoadReport) -> None:
        outcome = FileOutcome(export, report)
        summary.add(outcome)
        self.listener("file", summary, outcome)


def enqueue(exports: list[Export], queue_url: str, sqs: Any = None) -> int:
    """One S3-event-shaped message per object, in load order; returns how many were sent.

    The messages are exactly what S3 would have sent for these objects, so the
    pipeline (Lambda or ``fundsync worker``) loads them as it loads the nightly
    files: its event source mapping's maximum concurrency throttles the database.
    """
    from loader.events import s3_notification

    if any(not e.is_s3 for e in exports):
        raise ConfigError("--enqueue needs an s3:// source: the pipeline reads objects from S3")
    sqs = sqs or aws.client("sqs")
    sent = 0
    for start in range(0, len(exports), 10):
        batch = exports[start : start + 10]
        entries = []
        for i, export in enumerate(batch):
            bucket, key = parse_s3_uri(export.source)
            body = s3_notification(ObjectRef(bucket, key, etag=export.etag, size=export.size))
            entries.append({"Id": str(i), "MessageBody": body})
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as error:
            raise aws.classify(error, "sending to the queue") from None
        if failed := response.get("Failed"):
            raise aws.AwsError(f"{len(failed)} message(s) not sent: {failed[0].get('Message')}")
        sent += len(entries)
    return sent


def ledger_state(exports: list[Export], config: DbConfig) -> list[str]:
    """For ``--dry-run``: what the ledger says of each export, without loading anything.

    ``loaded`` (this content, or this S3 ETag, is in), ``changed since its
    load`` (the key was loaded with other content: it will load), ``new``.
    Local files are hashed to tell; S3 objects are judged by ETag.
    """
    backfill = Backfill(config)
    hashes, versions = backfill.known(exports)
    states = []
    for export in exports:
        if export.key not in hashes:
            states.append("new")
        elif export.is_s3:
            seen = export.etag in versions.get(export.key, set())
            states.append("loaded" if seen else "changed since its load")
        else:
            content = ledger.SourceIdentity.of_file(Path(export.source), export.key).content_hash
            states.append("loaded" if content in hashes[export.key] else "changed since its load")
    return states


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
