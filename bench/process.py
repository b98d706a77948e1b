"""A command timed as a whole process: wall seconds and its own peak RSS (for the benchmarks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def cli(*args: str) -> list[str]:
    """``fundsync ARGS`` from this environment."""
    exe = shutil.which("fundsync", path=str(Path(sys.executable).parent)) or "fundsync"
    return [exe, *args]


# Runs in a small interpreter of its own between the benchmark and the command, so that the
# kernel's account of the command's peak (wait4's ru_maxrss) is the command's: Linux carries
# the high-water mark of the process that spawns into the spawned one at exec, and the
# benchmark process may hold gigabytes (a 10M-row reference). Polling /proc instead missed a
# peak reached just before exit. Prints "seconds peak_kb exit_code" to the file it is given.
_MEASURE = """
import os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
try:
    pid = os.posix_spawnp(command[0], command, os.environ)
except OSError as error:
    print(f"cannot start {command[0]}: {error.strerror}", file=sys.stderr)
    sys.exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(report, "w") as out:
    out.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def timed_process(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``: its wall seconds (spawn to exit), its own peak RSS, exit status and
    output (through files, so nothing waits on a pipe).

    The peak is the kernel's ``ru_maxrss`` of the command, collected by a small measuring
    interpreter that spawns it (see ``_MEASURE``), so it is neither the benchmark process's
    own peak nor a sample that can miss the top. A command that cannot start is a run with
    exit code 127 and the reason on its stderr."""
    with tempfile.TemporaryDirectory() as scratch:
        report, out, err = (Path(scratch, name) for name in ("report", "out", "err"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            measure = [sys.executable, "-I", "-S", "-c", _MEASURE, str(report), *command]
            ended = subprocess.run(measure, stdout=stdout, stderr=stderr, env={**os.environ, **env})
        measured = _measured(report)
        stderr = err.read_bytes().decode("utf-8", "replace")[-3000:]
        if measured is None:  # the measuring interpreter failed (a full disk, say)
            stderr += "\n(no measurement: the measuring interpreter wrote no report)"
            measured = (0.0, 0, ended.returncode or 1)
        seconds, kb, code = measured
        return {
            "seconds": seconds,
            "peak_rss_mb": kb / 1024,
            "returncode": code,
            "stdout": out.read_bytes().decode("utf-8", "replace"),
            "stderr": stderr,
        }


def _measured(report: Path) -> tuple[float, int, int] | None:
    """The report's seconds, peak KB and exit code; None if there is none to read (at most a
    line is read: the path may be anything by now)."""
    try:
        with report.open("rb") as text:
            fields = text.read(200).split()
        return float(fields[0]), int(fields[1]), int(fields[2])
    except (OSError, ValueError, IndexError):
        return None
