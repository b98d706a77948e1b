"""The prepare half's result: one source, parsed and in key order, ready to merge. Immutable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from loader.outcome import Failure, outcome_of
from loader.parse.result import ParseSummary
from loader.prepare.staging import StagedRows
from loader.sources import SourceIdentity
from loader.timing import Timings


@dataclass(frozen=True, eq=False)
class PreparedFile:
    """A source after the prepare half: who it is, what the parse found, and its staging text.

    Exactly one of three shapes: ``failure`` set (the source could not be
    read or parsed; the merge records why), ``already_loaded`` (the content
    is what the latest load of this source merged: not parsed), or parsed
    with ``staging`` ready. Picklable: the backfill's worker processes hand
    it to the merging process (its :class:`~loader.prepare.staging.StagedRows` in a file).
    """

    identity: SourceIdentity
    parsed: ParseSummary | None = None
    staging: StagedRows | None = None
    days: tuple[date, ...] = ()
    """The trade dates the file holds, in order (the backfill orders its merges by them)."""
    day_rows: tuple[int, ...] = ()
    """The file's rows on each of ``days``."""
    failure: Failure | None = None
    already_loaded: bool = False
    timings: Timings = ()
    seconds: float = 0.0
    """Wall time of the prepare half."""
    rejected_rows: pl.DataFrame | None = None
    """The rows a bad-row allowance let the file load without, with their reasons."""
    replace_days: bool = False
    """The file is the whole content of its trade dates: the merge deletes the keys of those
    dates that it lacks (``--mode replace-days``)."""
    max_delete_share: float | None = None
    """replace-days: the largest share of a day's rows the merge may delete (None: any)."""
    request: str = "mode=upsert"
    """What was asked of this load that changes its outcome
    (:meth:`~loader.settings.ParseSettings.request_for`): recorded, and part of the skip rule."""

    @property
    def mode(self) -> str:
        return "replace-days" if self.replace_days else "upsert"

    @classmethod
    def failed(
        cls,
        identity: SourceIdentity,
        error: BaseException | Failure,
        timings: Timings = (),
        seconds: float = 0.0,
    ) -> PreparedFile:
        """A source that could not be prepared (missing, unreadable, rejected, its worker died)."""
        failure = error if isinstance(error, Failure) else outcome_of(error)
        return cls(identity, failure=failure, timings=timings, seconds=seconds)

    @property
    def key(self) -> str:
        return self.identity.key

    @property
    def rows(self) -> int:
        """Rows ready to merge (distinct keys)."""
        return self.staging.height if self.staging is not None else 0

    def discard(self) -> None:
        """Remove the staging text this file left on disk, if any (after its merge)."""
        if self.staging is not None:
            self.staging.discard()
