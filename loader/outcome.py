"""The one outcome vocabulary, decided once: what became of a file, and why.

Every report carries a :data:`Status`. The pipeline's verdict, the DLQ
attributes, the backfill's bar and summary, the CLI's exit status and the
ledger all read it; none of them decides again. :func:`outcome_of` is the
only place that turns an exception into ``rejected`` (the input is bad:
never retried) or ``failed`` (the environment: retried).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from loader.errors import DatabaseError, FileRejected, InputError, RowError

Status = Literal["loaded", "skipped", "rejected", "failed", "held"]
FailedStatus = Literal["rejected", "failed"]
STATUSES: tuple[Status, ...] = get_args(Status)
SUCCESS: frozenset[Status] = frozenset(("loaded", "skipped"))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a file did not load: its status, the error's type and text, and located errors."""

    status: FailedStatus
    error_type: str
    message: str
    errors: tuple[RowError, ...]
    encoding: str | None = None
    """The encoding the file was read in, when it got that far (a decode rejection names it)."""
    error: BaseException | None = field(default=None, compare=False, repr=False)
    """The exception itself, for callers in the same process (not serialised)."""

    @property
    def retryable(self) -> bool:
        """The environment failed: the same input may load on a retry."""
        return self.status == "failed"

    def __reduce__(self) -> tuple[type[Failure], tuple[object, ...]]:
        # crosses process boundaries (the backfill's workers) without the exception
        return (Failure, (self.status, self.error_type, self.message, self.errors, self.encoding))


def outcome_of(error: BaseException) -> Failure:
    """The outcome of any exception: ``rejected`` for bad input, ``failed`` for anything else.

    A :class:`~loader.errors.FileRejected` keeps its located errors; any other
    error becomes one line-less error with its message. An unexpected
    exception (a fault of ours) is ``failed``: retried, and visible as such.
    """
    status: FailedStatus = "rejected" if isinstance(error, InputError) else "failed"
    if isinstance(error, FileRejected):
        message = str(error)
        errors = tuple(error.errors) or (RowError(None, None, message),)
    else:
        message = str(error) or type(error).__name__
        errors = (RowError(None, None, message),)
    encoding = error.encoding if isinstance(error, FileRejected) else None
    return Failure(status, type(error).__name__, message, errors, encoding, error)


def is_success(status: Status) -> bool:
    return status in SUCCESS


class Breaker:
    """Stops a long run from failing every file in turn when the database is unreachable.

    ``record`` each file's failure (None for a success); after ``limit``
    files in a row failed because the server could not be reached, the
    breaker is open: the worker and the backfill start no new file and say why.
    """

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.streak = 0
        self.reason: str | None = None

    def record(self, failure: Failure | None) -> bool:
        error = failure.error if failure is not None else None
        if isinstance(error, DatabaseError) and error.unreachable:
            self.streak += 1
            self.reason = f"the database is unreachable ({failure.message if failure else ''})"
        else:
            self.streak = 0
        return self.open

    @property
    def open(self) -> bool:
        return self.streak >= self.limit
