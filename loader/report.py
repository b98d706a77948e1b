"""The load report: what happened to one source, assembled once from the stages' results.

:meth:`LoadReport.of` is the one constructor: the prepare half's
:class:`~loader.prepare.prepared.PreparedFile`, the merge's
:class:`MergeCounts` (when it merged), the :class:`~loader.outcome.Failure`
(when it did not) and the timings. :meth:`LoadReport.failed` is the same
for a source that never reached the prepare half. The report is immutable;
:meth:`LoadReport.to_dict` gives the contract's fields (spec §3) to the
CLI's JSON, the logs, the metrics and the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from loader.outcome import Failure, Status, outcome_of
from loader.parse.result import ParseSummary
from loader.prepare.prepared import PreparedFile
from loader.sources import SourceIdentity
from loader.timing import Timings


@dataclass(frozen=True, slots=True)
class MergeCounts:
    """What the merge did to ``fund_data``: exact, adding up to the rows merged."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass(frozen=True, slots=True)
class Merged:
    """The merge's own result: counts, how the rows reached staging, retries."""

    counts: MergeCounts
    method: str
    retries: int = 0
    superseded: int = 0
    """Rows left as a newer file of the same trade date wrote them (counted as unchanged)."""
    unstaged: int = 0
    """Rows of (trade date, fund) groups fund_data already held exactly, by digest: never
    staged (counted as unchanged)."""
    digest: str | None = None
    """The load digest both sides agreed on before the commit; None when not verified."""
    deleted: int | None = None
    """replace-days: keys of the file's trade dates it lacked, deleted; None for an upsert."""


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What happened to one source (spec §3)."""

    source: str
    status: Status
    identity: SourceIdentity
    parsed: ParseSummary | None = None
    merged: Merged | None = None
    failure: Failure | None = None
    seconds: float = 0.0
    timings: Timings = ()
    ledger_id: int | None = None
    rows_merged: int | None = None
    rejects_uri: str | None = None
    """Where the rejects report (or the rejected rows) of this source were written."""
    rejects_error: str | None = None
    """Why the rejects could not be written (the load's outcome stands)."""
    note: str | None = None
    """Why a file was skipped (the same content asked the same way, or a newer version)."""
    request: str | None = None
    """What was asked of the load that changes its outcome (``mode=replace-days ...``)."""
    attempts_retried: int = 0
    """Transaction retries (deadlocks, lock waits, conflicts) of a merge that then failed."""
    quality: tuple[dict[str, Any], ...] = ()
    """The quality gate's findings (check, policy, d_trade, detail): warnings of a load, the
    reasons a file was held."""

    @classmethod
    def of(
        cls,
        prepared: PreparedFile,
        status: Status,
        *,
        merged: Merged | None = None,
        failure: Failure | None = None,
        ledger_id: int | None = None,
        merge_timings: Timings = (),
        merge_seconds: float = 0.0,
        note: str | None = None,
        retried: int = 0,
    ) -> LoadReport:
        """The report of a prepared file after the merge half (or instead of it)."""
        return cls(
            source=prepared.key,
            status=status,
            identity=prepared.identity,
            parsed=prepared.parsed,
            merged=merged,
            failure=failure or prepared.failure,
            seconds=prepared.seconds + merge_seconds,
            timings=prepared.timings + merge_timings,
            ledger_id=ledger_id,
            rows_merged=prepared.rows if merged is not None else None,
            note=note,
            request=prepared.request,
            attempts_retried=retried,
        )

    @classmethod
    def failed(cls, identity: SourceIdentity, error: BaseException | Failure) -> LoadReport:
        """A source that could not even be tried (not enough time, a stopping worker)."""
        failure = error if isinstance(error, Failure) else outcome_of(error)
        return cls(source=identity.key, status=failure.status, identity=identity, failure=failure)

    def with_rejects(self, uri: str | None, error: str | None = None) -> LoadReport:
        return replace(self, rejects_uri=uri, rejects_error=error)

    @property
    def retryable(self) -> bool:
        return self.status == "failed"

    @property
    def inserted(self) -> int | None:
        return self.merged.counts.inserted if self.merged else None

    @property
    def updated(self) -> int | None:
        return self.merged.counts.updated if self.merged else None

    @property
    def unchanged(self) -> int | None:
        return self.merged.counts.unchanged if self.merged else None

    @property
    def method(self) -> str | None:
        return self.merged.method if self.merged else None

    @property
    def retries(self) -> int:
        return self.merged.retries if self.merged else self.attempts_retried

    @property
    def mode(self) -> str | None:
        """``upsert`` or ``replace-days``, from the request."""
        if self.request is None:
            return None
        return "replace-days" if "mode=replace-days" in self.request.split() else "upsert"

    @property
    def error_type(self) -> str | None:
        return self.failure.error_type if self.failure else None

    @property
    def rows_read(self) -> int | None:
        return self.parsed.rows_read if self.parsed else None

    @property
    def rows_per_second(self) -> float | None:
        """Rows read per second of the whole load (the one place this is computed)."""
        if not self.rows_read or self.seconds <= 0:
            return None
        return round(self.rows_read / self.seconds, 1)

    @property
    def errors(self) -> list[dict[str, Any]]:
        if self.failure is not None:
            return [e.to_dict() for e in self.failure.errors]
        return [e.to_dict() for e in self.parsed.errors] if self.parsed else []

    def to_dict(self) -> dict[str, Any]:
        """The contract's report fields (spec §3), plus stage timings and lineage."""
        parsed = self.parsed
        return {
            "source": self.source,
            "status": self.status,
            "rows_read": parsed.rows_read if parsed else None,
            "rows_merged": self.rows_merged,
            "duplicates_in_file": parsed.duplicates_in_file if parsed else None,
            "conflicting_duplicates": parsed.conflicting_duplicates if parsed else None,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.merged.deleted if self.merged else None,
            "rejected_rows": parsed.rejected_rows if parsed else None,
            "encoding": parsed.encoding if parsed else (self.failure and self.failure.encoding),
            "date_format": parsed.date_format if parsed else None,
            "date_order": parsed.date_order if parsed else None,
            "date_order_proven": parsed.date_order_proven if parsed else None,
            "extra_columns": list(parsed.extra_columns) if parsed else [],
            "extra_column_count": parsed.extra_column_count if parsed else 0,
            "method": self.method,
            "mode": self.mode,
            "request": self.request,
            "seconds": round(self.seconds, 6),
            "rows_per_second": self.rows_per_second,
            "errors": self.errors,
            "stage_seconds": {name: round(s, 6) for name, s in self.timings},
            "ledger_id": self.ledger_id,
            "quality": list(self.quality),
            "retries": self.retries,
            "superseded_rows": self.merged.superseded if self.merged else None,
            "unstaged_rows": self.merged.unstaged if self.merged else None,
            "verified": self.merged is not None and self.merged.digest is not None,
            "digest": self.merged.digest if self.merged else None,
            "object_version": self.identity.version,
            "bytes": parsed.bytes_read if parsed else (self.identity.size or None),
            "error_type": self.error_type,
            "rejects_uri": self.rejects_uri,
            **({"rejects_error": self.rejects_error} if self.rejects_error else {}),
            **({"note": self.note} if self.note else {}),
        }
