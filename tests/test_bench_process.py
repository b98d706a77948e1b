"""bench/process.py: a command's own peak memory, whatever the size of the process that runs it."""

from __future__ import annotations

import sys

from bench.process import timed_process


def test_the_peak_is_the_childs_own_not_the_benchmark_processes():
    """A benchmark process holding 400 MB runs a child that holds 40 MB: the child's peak is
    reported (wait4's ru_maxrss carried the parent's 400 MB into the child at exec)."""
    held = b"x" * (400 << 20)  # resident: every page written
    run = timed_process([sys.executable, "-c", "kept = b'y' * (40 << 20)"], {})
    assert run["returncode"] == 0
    assert 40 <= run["peak_rss_mb"] < 200, run["peak_rss_mb"]
    assert len(held) == 400 << 20
