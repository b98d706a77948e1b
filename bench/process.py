"""A command timed as a whole process: wall seconds and its own peak RSS (for the benchmarks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def cli(*args: str) -> list[str]:
    """``fundsync ARGS`` from this environment."""
    exe = shutil.which("fundsync", path=str(Path(sys.executable).parent)) or "fundsync"
    return [exe, *args]


def timed_process(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``: its wall seconds (start to exit), its own peak RSS (``wait4``'s
    ru_maxrss), exit status and output (through files, so nothing waits on a pipe)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **env})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "returncode": child.returncode,
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace")[-3000:],
    }
