"""bench/process.py: a command's own peak memory, whatever the size of the process that runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.process import timed_process

BENCH = Path(__file__).resolve().parent.parent / "bench"

# The child writes 200 MB and exits the moment it has: its peak is reached milliseconds before
# its end, which a poller that reads /proc every few milliseconds misses more often than not.
_PEAK_AT_EXIT = "import os; kept = b'y' * (200 << 20); os._exit(0)"


def test_the_peak_is_the_childs_own_not_the_benchmark_processes():
    """A benchmark process holding 400 MB runs a child that holds 40 MB: the child's peak is
    reported (wait4's ru_maxrss carried the parent's 400 MB into the child at exec)."""
    held = b"x" * (400 << 20)  # resident: every page written
    run = timed_process([sys.executable, "-c", "kept = b'y' * (40 << 20)"], {})
    assert run["returncode"] == 0
    assert 40 <= run["peak_rss_mb"] < 200, run["peak_rss_mb"]
    assert len(held) == 400 << 20


def test_a_peak_reached_just_before_exit_is_counted_every_time():
    """The peak is the kernel's own account of the child, not a sample of it: a child whose
    peak comes at its very end reports it on every one of five runs."""
    peaks = [
        timed_process([sys.executable, "-c", _PEAK_AT_EXIT], {})["peak_rss_mb"] for _ in range(5)
    ]
    assert all(200 <= peak < 400 for peak in peaks), peaks


def test_the_exit_status_and_output_are_the_commands():
    run = timed_process(
        [
            sys.executable,
            "-c",
            "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        ],
        {},
    )
    assert (run["returncode"], run["stdout"], run["stderr"]) == (3, "out\n", "err\n")
    assert run["seconds"] > 0


def test_a_command_that_cannot_start_is_a_failed_run_not_a_crash():
    run = timed_process(["/nonexistent/fundsync-bench-command"], {})
    assert run["returncode"] != 0


# The command leaves the measuring interpreter a report whose text goes nowhere (as on a full
# disk): the path of the report, named on its parent's command line, becomes /dev/null.
_FILL_THE_REPORT = (
    "import os; argv = open(f'/proc/{os.getppid()}/cmdline', 'rb').read().split(b'\\0'); "
    "os.symlink('/dev/null', argv[5].decode())"
)


def test_a_lost_measurement_is_a_failed_run_that_says_so():
    """The measuring interpreter could not write its report (the disk filled): the run is a
    failure that says why, not a bare ValueError from the empty report."""
    run = timed_process([sys.executable, "-c", _FILL_THE_REPORT], {})
    assert run["returncode"] != 0
    assert "no measurement" in run["stderr"], run["stderr"]


@pytest.mark.parametrize("script", ["history.py", "compare.py"])
def test_replotting_a_run_that_is_not_there_is_one_line(script, tmp_path):
    """A mistyped --replot path: one line naming it and an exit code, no traceback."""
    missing = tmp_path / "nothing.json"
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--replot", str(missing)],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and str(missing) in run.stderr, run.stderr
