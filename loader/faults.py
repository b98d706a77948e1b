"""Injected failures: drive the reject and retry paths for real, through every entry point.

``FUNDSYNC_INJECT_FAULT=STAGE=ErrorType[;STAGE=ErrorType...]`` makes the named
stage raise that error as it starts, in whatever process runs it (the CLI,
the Lambda handler, the worker, a backfill's worker processes). ``STAGE`` is
one of the stage names of the load report's ``stage_seconds`` (``download``,
``hash``, ``parse``, ``write``, ``stage``, ``unchanged``, ``merge``) or
``ledger`` (the attempt's first ledger row); ``ErrorType`` is any error of
:mod:`loader.errors` or ``RuntimeError`` (a fault of ours). Off unless set:
for tests and failure drills, in the spirit of dlt's ``dummy`` destination.
"""

from __future__ import annotations

import os

from loader import errors
from loader.settings import ENV

BUILTIN = {"RuntimeError": RuntimeError, "OSError": OSError, "MemoryError": MemoryError}


def inject(stage: str) -> None:
    """Raise the error configured for ``stage``, if any (one environment lookup when off)."""
    spec = os.environ.get(ENV["inject_fault"])
    if not spec:
        return
    for item in spec.split(";"):
        name, _, kind = item.partition("=")
        if name.strip() == stage:
            raise make(kind.strip(), stage)


def make(kind: str, stage: str) -> BaseException:
    """An instance of the error named ``kind``, saying it was injected at ``stage``."""
    message = f"injected fault at stage {stage!r}"
    cls = getattr(errors, kind, None) or BUILTIN.get(kind)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        raise errors.ConfigError(f"{ENV['inject_fault']}: unknown error type {kind!r}")
    if issubclass(cls, errors.FileRejected):
        return cls("(injected)", "rows", [errors.RowError(None, None, message)])
    return cls(message)
