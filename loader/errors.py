"""Every error the loader raises on purpose, in one vocabulary a caller can act on.

Two roots decide what becomes of a file (:func:`loader.outcome.outcome_of`
reads them, and nothing else does):

- :class:`InputError`: the input itself is bad (the file, the object, the
  message). The file is ``rejected``: never retried, dead-lettered at once.
- :class:`TransientError`: the environment failed (database, network,
  throttling, permissions, a schema to fix, too little time). The file is
  ``failed``: the same input may load once the environment is fixed, so it
  is retried.

:class:`ConfigError` is neither: a usage error, found before any file is
touched (exit status 2). Callers branch on these roots, never on message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in the input, located as a person would look for it.

    ``line`` is the 1-based physical line of the file (the header is line 1;
    an error inside a multi-line record is reported at the record's first
    line). ``column`` is the header name of the offending column, or None for
    problems that belong to the whole record or file. ``offset`` is the
    0-based byte offset in the uncompressed input, for decoding errors.
    """

    line: int | None
    column: str | None
    reason: str
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "column": self.column, "reason": self.reason}
        if self.offset is not None:
            out["offset"] = self.offset
        return out

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        return f"{', '.join(where) or 'file'}: {self.reason}"


class LoaderError(Exception):
    """Root of every error the loader raises on purpose."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "message": str(self)}


class ConfigError(LoaderError):
    """A setting or argument is invalid (a usage error, exit status 2)."""


class RevertRefused(LoaderError):
    """``fundsync revert`` cannot undo the load as asked (not a load, already reverted, its
    change log pruned, or keys a later load changed, without ``--force``): nothing changed."""


# -- the input is bad: rejected, never retried ---------------------------------------


class InputError(LoaderError):
    """The input itself is bad (the file, the object or the message): reject it, never retry."""


@dataclass(eq=False)
class FileRejected(InputError):
    """A file that cannot be loaded, with the first errors that prove it.

    ``errors`` holds at most the configured number of errors (100 by default)
    in file order; ``error_count`` is how many were found in all (it may be
    larger when parsing went on to count them). ``kind`` names the stage
    that rejected the file: ``decode``, ``header``, ``rows`` or ``limits``.
    """

    source: str
    kind: str
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    encoding: str | None = None

    def __post_init__(self) -> None:
        if self.error_count < len(self.errors):
            self.error_count = len(self.errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        first = f": {self.errors[0]}" if self.errors else ""
        more = self.error_count - 1
        tail = f" (and {more} more)" if more > 0 else ""
        return f"{self.source}: file rejected ({self.kind}){first}{tail}"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            source=self.source,
            kind=self.kind,
            error_count=self.error_count,
            errors=[e.to_dict() for e in self.errors],
            encoding=self.encoding,
        )
        return out


class MassDeleteRefused(InputError):
    """replace-days: the file would delete more than the allowed share of a trade date's rows
    (a truncated export looks like that); nothing was written. ``--allow-mass-delete``."""


class SourceMissing(InputError):
    """The source does not exist: no such file, or an S3 object that is gone or never was."""


class SourceUnreadable(InputError):
    """The source exists but is no file that can be read (a directory, no permission)."""


class SourceKeyTooLong(InputError):
    """The source key (a path or an object key) is longer than the ledger and the lineage
    column hold (1,024 characters)."""


class MalformedMessage(InputError):
    """A queue message body that is not an S3 notification the pipeline understands."""


# -- the environment failed: failed, retried -------------------------------------------


class TransientError(LoaderError):
    """The environment failed: the same input may load on a retry, once it is fixed."""

    retries: int = 0
    """How many times the merge's transaction was tried again before this error ended it."""


UNREACHABLE_ERRNOS = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1927,  # MariaDB: connection killed
        2002,  # cannot connect through the socket
        2003,  # cannot connect to the host
        2005,  # unknown host
        2006,  # server has gone away
        2013,  # lost connection during a query
        2055,  # lost connection (the driver's)
        4031,  # MySQL 8: disconnected by the server
    }
)


class DatabaseError(TransientError):
    """The database refused or failed a statement (connection, deadlock, lock wait, a DDL
    it does not allow, a table it does not have). ``errno`` is the server's code."""

    def __init__(self, message: str, errno: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.detail = message if detail is None else detail
        """The server's or the driver's own words (the message without its prefix)."""

    @property
    def unreachable(self) -> bool:
        """The server could not be reached or the connection was lost (not a statement's
        own failure): the next file would fail the same way."""
        return self.errno in UNREACHABLE_ERRNOS


class DatabaseSilent(DatabaseError):
    """The server took the connection but did not answer in time (``connect_timeout``), or
    dropped it before it answered: a server under load, a wrong port that accepts, a proxy
    with nothing behind it."""


class PrivilegeMissing(DatabaseError):
    """The database user lacks a grant the statement needs (named in the message). The file is
    ``failed`` (retried): once the grant is given, it loads."""


class SchemaError(TransientError):
    """The target table is not one the loader can merge into safely (fix it, then retry)."""


class MigrationError(TransientError):
    """A migration could not be applied (a changed file, a lock held too long)."""


class StagingError(TransientError):
    """LOAD DATA staged a different number of rows than written, or with warnings."""


class MergeCountMismatch(TransientError):
    """The server's figures do not add up: the merge was rolled back."""


class ConcurrentWrite(TransientError):
    """Another writer changed the rows of a trade date while this load held it (a writer
    outside the loader: loads of one date run one after another). Rolled back and retried
    like a deadlock; after the retries, a failed load, retried later."""


class VerificationFailed(TransientError):
    """After the merge, fund_data did not hold exactly the file's values (a loader bug, or a
    writer outside the loader): the load was rolled back. Carries both load digests."""

    def __init__(self, message: str, expected: str = "", found: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.found = found


class AwsError(TransientError):
    """An AWS call failed in a way that may pass (throttling, 5xx, network, permissions)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class NotEnoughTime(TransientError):
    """The invocation would end before this object could finish: not started."""


class ShuttingDown(TransientError):
    """The worker was asked to stop: the message is left for another consumer."""


class SourceChanged(TransientError):
    """A local file was written to or replaced while it was read: what was hashed is not
    what was parsed. Nothing is loaded; a retry reads the file whole."""


class LedgerChanged(TransientError):
    """The ledger no longer says what it said while the file was prepared: run again."""
