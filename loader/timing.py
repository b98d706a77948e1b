"""Stage timings and trace spans: every stage of a load is timed, traced and a fault point.

A :class:`Stopwatch` times the stages of one half of a load (prepare or
merge) in order; its :meth:`Stopwatch.stage` is also where the tracer's span
opens (an X-Ray subsegment in Lambda) and where an injected fault fires
(:mod:`loader.faults`). What it measured is an immutable :data:`Timings`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from loader import faults

Span = Callable[[str], AbstractContextManager[Any]]
Timings = tuple[tuple[str, float], ...]


def no_span(name: str) -> AbstractContextManager[Any]:
    return nullcontext()


class Stopwatch:
    """Seconds per stage of one half of a load, and the whole half's wall time."""

    def __init__(self, span: Span = no_span) -> None:
        self.span = span
        self.started = time.perf_counter()
        self._seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, record: bool = True, trace: str | None = None) -> Iterator[None]:
        """Time (unless not ``record``: the stage reports its own parts), trace (as ``trace``
        when the span's name differs from the stage's), and inject."""
        faults.inject(name)
        started = time.perf_counter()
        try:
            with self.span(trace or name):
                yield
        finally:
            if record:
                self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    def extend(self, timings: Timings) -> None:
        for name, seconds in timings:
            self.add(name, seconds)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def timings(self) -> Timings:
        return tuple(self._seconds.items())


def process_age() -> float:
    """Seconds since this process started (Linux: /proc; elsewhere 0.0)."""
    import os

    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            up = float(uptime.read().split()[0])
        return max(0.0, up - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
