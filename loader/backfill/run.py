"""``fundsync backfill``: years of exports, in parallel, resumable, in trade-date order.

Each export goes through the same two halves as every load:

- **prepare** (:func:`~loader.prepare.prepare_source`, in ``--workers``
  processes): download (S3), hash, parse, deduplicate and write the
  key-ordered staging text to a file. No database.
- **merge** (:func:`~loader.mysql.merge.merge`, in ``--db-concurrency``
  threads of the main process, each with its own connection): the skip
  rule, the ledger row, ``LOAD DATA`` of the staging file, the
  unchanged-row pre-pass and the one-statement merge, in one transaction.

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

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from loader.backfill.discover import Export
from loader.backfill.summary import BackfillSummary, FileOutcome
from loader.errors import ConfigError, LedgerChanged
from loader.local_files import hash_file
from loader.mysql import ledger
from loader.mysql.config import DbConfig
from loader.mysql.merge import merge, skip_known_version
from loader.mysql.merge_options import MergeOptions
from loader.mysql.session import Session
from loader.outcome import Breaker
from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.prepare.prepared import PreparedFile
from loader.prepare.stagedir import StagingDir
from loader.rejects import RejectsWriter
from loader.report import LoadReport
from loader.sources import SourceIdentity, unknown_identity

Listener = Callable[[str, BackfillSummary, FileOutcome | None], None]


@dataclass(frozen=True, slots=True)
class Known:
    """What the latest successful load of each source key merged and how it was asked, read
    from the ledger once, up front; ``request`` is what this run asks of each key."""

    latest: dict[str, ledger.Loaded] = field(default_factory=dict)
    request: Callable[[str], str] = field(default=lambda key: "mode=upsert")
    verify: bool = False

    @classmethod
    def of(
        cls, session: Session, keys: list[str], request: Callable[[str], str], verify: bool
    ) -> Known:
        known = cls(request=request, verify=verify)
        for start in range(0, len(keys), 500):
            known.latest.update(
                ledger.loaded_sources(session.connection(), keys[start : start + 500])
            )
        session.connection().commit()
        return known

    def _answered(self, export: Export) -> ledger.Loaded | None:
        loaded = self.latest.get(export.key)
        if loaded is None or not loaded.answers(self.request(export.key), self.verify):
            return None
        return loaded

    def loaded_hash(self, export: Export) -> str | None:
        """The content hash the latest load merged, when it was asked as this run asks."""
        loaded = self._answered(export)
        return loaded.identity.content_hash if loaded else None

    def loaded_version(self, export: Export) -> bool:
        """Whether the latest load of this S3 object was this very ETag, asked as this run
        asks (skip, no download)."""
        loaded = self._answered(export)
        return bool(export.etag) and loaded is not None and loaded.identity.version == export.etag

    def state(self, export: Export) -> str:
        """For ``--dry-run``: ``loaded``, ``changed since its load`` or ``new``."""
        if export.key not in self.latest:
            return "new"
        if self._answered(export) is None:
            return "loaded another way (mode or options)"
        if export.is_s3:
            seen = self.loaded_version(export)
        else:
            seen = hash_file(export.source)[0] == self.loaded_hash(export)
        return "loaded" if seen else "changed since its load"


# -- in the worker processes ------------------------------------------------------------


def _prepare(export: Export, options: PrepareOptions, loaded_hash: str | None) -> PreparedFile:
    """A worker's half: the prepared file of one export, its staging text in a file."""

    def loaded(identity: SourceIdentity, request: str) -> bool:
        return loaded_hash is not None and identity.content_hash == loaded_hash

    return prepare_source(export.spec, options, skip_if=loaded)


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
            unknown_identity(export.spec), RuntimeError(f"worker died: {error!r}")
        )


# -- the run ------------------------------------------------------------------------------


class Backfill:
    """Loads many exports with bounded parallelism; see the module docstring."""

    def __init__(
        self,
        config: DbConfig,
        options: PrepareOptions | None = None,
        workers: int = 2,
        db_concurrency: int = 1,
        force: bool = False,
        listener: Listener | None = None,
        rejects_prefix: str = "rejects/",
    ) -> None:
        if workers < 1 or db_concurrency < 1:
            raise ConfigError("--workers and --db-concurrency must be at least 1")
        self.config = config
        self.options = options or PrepareOptions()
        self.workers = workers
        self.db_concurrency = db_concurrency
        self.force = force
        # the backfill's own order (trade date, then name) decides, not upload times
        self.merging = MergeOptions.of(config, force=force, newer_wins=False)
        self.listener = listener or (lambda event, summary, outcome: None)
        self.rejects_prefix = rejects_prefix
        self._stop = threading.Event()

    def stop(self) -> None:
        """Finish the merges under way, start nothing new (Ctrl-C, SIGTERM)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def known(self, exports: list[Export]) -> Known:
        """What the ledger has of these exports, read once up front."""
        with Session(self.config) as session:
            return Known.of(
                session,
                [e.key for e in exports],
                self.options.parse.request_for,
                self.merging.verify,
            )

    def run(self, exports: list[Export]) -> BackfillSummary:
        summary = BackfillSummary(files=len(exports))
        started = time.perf_counter()
        known = Known() if self.force else self.known(exports)
        run = _Run(self, exports, known, summary)
        self.listener("start", summary, None)
        try:
            while not run.loop_over():
                run.step()
                summary.seconds = time.perf_counter() - started
                self.listener("tick", summary, None)
        except KeyboardInterrupt:
            self._stop.set()
            raise
        finally:
            summary.interrupted = not run.all_finished
            run.close()
            summary.seconds = time.perf_counter() - started
            self.listener("end", summary, None)
        return summary


class _Run:
    """One run's pools and bookkeeping: what is prepared, merging and finished."""

    def __init__(
        self, backfill: Backfill, exports: list[Export], known: Known, summary: BackfillSummary
    ) -> None:
        self.backfill, self.exports, self.known, self.summary = backfill, exports, known, summary
        self.staging = StagingDir(backfill.options.work_dir)
        self.options = replace(backfill.options, staging_dir=str(self.staging.path))
        context = multiprocessing.get_context("spawn")  # Polars' threads do not survive fork
        self.prepare_pool = ProcessPoolExecutor(
            max_workers=backfill.workers, mp_context=context, initializer=_ignore_signals
        )
        self.merge_pool = ThreadPoolExecutor(max_workers=backfill.db_concurrency)
        self.window = 2 * backfill.workers + backfill.db_concurrency
        self.prepared: dict[int, PreparedFile] = {}
        self.preparing: dict[Future[PreparedFile], int] = {}
        self.merging: dict[Future[LoadReport], int] = {}
        self.running_days: dict[int, set[date]] = {}
        self.finished: set[int] = set()
        self.next_to_prepare = 0
        self.breaker = Breaker()
        self.rejects = RejectsWriter(backfill.rejects_prefix)
        self._local = threading.local()
        self._sessions: list[Session] = []
        self._lock = threading.Lock()

    @property
    def all_finished(self) -> bool:
        return len(self.finished) >= len(self.exports)

    def loop_over(self) -> bool:
        """Whether the loop is over: everything finished, or stopping with no merge running,
        or nothing left that could start."""
        if self.all_finished or (self.backfill.stopping and not self.merging):
            return True
        nothing_pending = not (self.preparing or self.merging or self.prepared)
        return nothing_pending and (
            self.next_to_prepare >= len(self.exports) or self.backfill.stopping
        )

    def step(self) -> None:
        """Start what may start, then wait (a second at most) for a prepare or merge to end."""
        self._submit_prepares()
        self._start_merges()
        pending: set[Future[Any]] = set(self.preparing) | set(self.merging)
        if not pending:
            return
        done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        for future in done:
            if future in self.preparing:
                index = self.preparing.pop(future)
                self.prepared[index] = _result(future, self.exports[index])
            else:
                index = self.merging.pop(future)
                self.running_days.pop(index, None)
                self._finish(index, future.result())

    def _submit_prepares(self) -> None:
        """Keep the workers busy, a window ahead; skip at once what the ledger has by ETag."""
        while (
            not self.backfill.stopping
            and self.next_to_prepare < len(self.exports)
            and self.next_to_prepare - len(self.finished) < self.window
        ):
            index = self.next_to_prepare
            self.next_to_prepare += 1
            export = self.exports[index]
            if export.is_s3 and self.known.loaded_version(export):
                self._finish(index, self._skip_known(export))
                continue
            loaded = None if self.backfill.force else self.known.loaded_hash(export)
            future = self.prepare_pool.submit(_prepare, export, self.options, loaded)
            self.preparing[future] = index

    def _start_merges(self) -> None:
        """Start every merge whose turn has come, up to ``--db-concurrency``.

        In load order: an export starts when every earlier one is prepared (its
        trade dates known) and none of the earlier unfinished ones shares a
        trade date with it. A later export never overtakes an earlier one on
        the same day, so the later one's values win.
        """
        if self.backfill.stopping:
            return
        busy: list[set[date]] = []  # trade dates of earlier exports not yet finished
        for index in range(len(self.exports)):
            if len(self.merging) >= self.backfill.db_concurrency:
                return
            if index in self.finished:
                continue
            if index in self.running_days:
                busy.append(self.running_days[index])
                continue
            if index not in self.prepared:
                return  # its trade dates are not known yet: nothing after it may start
            days = set(self.prepared[index].days)
            if not any(days & other for other in busy):
                future = self.merge_pool.submit(self._merge, index, self.prepared.pop(index))
                self.merging[future] = index
                self.running_days[index] = days
            busy.append(days)

    def _session(self) -> Session:
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            session = Session(self.backfill.config, staging=self.staging)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _merge(self, index: int, prepared: PreparedFile) -> LoadReport:
        try:
            report = merge(self._session(), prepared, self.backfill.merging)
        except Exception as error:  # a fault of ours: reported with the file, the run goes on
            prepared.discard()
            return LoadReport.failed(prepared.identity, error)
        return self.rejects.write(self.exports[index].spec, report, prepared.rejected_rows)

    def _skip_known(self, export: Export) -> LoadReport:
        try:
            request = self.backfill.options.parse.request_for(export.key)
            verify = self.backfill.merging.verify
            report = skip_known_version(self._session(), export.key, export.etag, request, verify)
        except Exception as error:
            return LoadReport.failed(unknown_identity(export.spec), error)
        if report is None:  # pragma: no cover - the ledger changed under us: load it next time
            changed = LedgerChanged(f"{export.key}: the ledger changed during the run: run again")
            return LoadReport.failed(unknown_identity(export.spec), changed)
        return report

    def _finish(self, index: int, report: LoadReport) -> None:
        self.finished.add(index)
        outcome = FileOutcome(self.exports[index], report)
        self.summary.add(outcome)
        if self.breaker.record(report.failure) and not self.backfill.stopping:
            self.summary.stopped_because = self.breaker.reason
            self.backfill.stop()
        self.backfill.listener("file", self.summary, outcome)

    def close(self) -> None:
        if not self.all_finished:  # stopped: what the workers prepare now is never merged
            for process in list(getattr(self.prepare_pool, "_processes", {}).values()):
                process.kill()  # they ignore SIGTERM (the main process stops them in order)
        self.prepare_pool.shutdown(wait=True, cancel_futures=True)
        self.merge_pool.shutdown(wait=True, cancel_futures=True)
        for leftover in self.prepared.values():
            leftover.discard()
        for session in self._sessions:
            session.close()
        self.staging.close()
