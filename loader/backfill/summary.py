"""What a backfill did: files by status, rows, time, and the files that did not load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loader.backfill.discover import Export
from loader.outcome import STATUSES
from loader.report import LoadReport

ROW_FIELDS = ("rows_read", "rows_merged", "inserted", "updated", "unchanged")


@dataclass(frozen=True, slots=True)
class FileOutcome:
    export: Export
    report: LoadReport


@dataclass
class BackfillSummary:
    """Counts by the reports' statuses (nothing decided again here), rows and time."""

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
    stopped_because: str | None = None
    """Why the run stopped on its own (the database unreachable), if it did."""
    outcomes: list[FileOutcome] = field(default_factory=list)

    def add(self, outcome: FileOutcome) -> None:
        report = outcome.report.to_dict()
        self.outcomes.append(outcome)
        status = outcome.report.status
        assert status in STATUSES
        setattr(self, status, getattr(self, status) + 1)
        for name in ROW_FIELDS:
            setattr(self, name, getattr(self, name) + (report.get(name) or 0))

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
            **{name: getattr(self, name) for name in ROW_FIELDS},
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "interrupted": self.interrupted,
            "stopped_because": self.stopped_because,
            "problems": [
                {
                    "source": o.export.source,
                    "status": o.report.status,
                    "errors": o.report.errors[:10],
                }
                for o in self.problems()
            ],
        }
