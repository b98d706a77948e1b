"""Typed errors: every failure a caller can act on is a value with fields.

Errors are classified once, here. A *permanent* error means the input itself
is bad: retrying cannot help, the file is rejected. A *transient* error means
the environment failed (database, network, throttling): the same input may
succeed later. Later stages (MySQL, S3, SQS) add their own subclasses of the
two roots; callers branch on the root, never on message text.
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

    permanent: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "message": str(self), "permanent": self.permanent}


class PermanentError(LoaderError):
    """Retrying the same call cannot help (bad input, a refused schema, a usage error)."""

    permanent = True


class InputError(PermanentError):
    """The input itself is bad (the file, the object or the message): reject it, never retry.

    The pipeline sends a message whose input is bad to the dead-letter queue
    at once. Any other failure, permanent for one call or not, is about the
    environment (database, permissions, schema) and is retried, because the
    same input may load once the environment is fixed.
    """


class TransientError(LoaderError):
    """The environment failed: the same input may succeed on a retry."""

    permanent = False


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


class ConfigError(LoaderError):
    """A setting or argument is invalid (a usage error, exit status 2)."""

    permanent = True
