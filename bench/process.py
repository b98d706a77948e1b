"""A command timed as a whole process: wall seconds and its own peak RSS (for the benchmarks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def cli(*args: str) -> list[str]:
    """``fundsync ARGS`` from this environment."""
    exe = shutil.which("fundsync", path=str(Path(sys.executable).parent)) or "fundsync"
    return [exe, *args]


def timed_process(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``: its wall seconds (start to exit), its own peak RSS, exit status and
    output (through files, so nothing waits on a pipe).

    The peak is the child's own ``VmHWM``, read from /proc while it runs. ``wait4``'s
    ru_maxrss is not: Linux carries the spawning process's high-water mark into the child's
    at exec, so a child started by a large benchmark process (one holding a 10M-row
    reference in memory, say) reported the benchmark's peak, not its own."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **env})
        peak = _Peak(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    kb = peak.stop()
    return {
        "seconds": seconds,
        "peak_rss_mb": (kb if kb is not None else usage.ru_maxrss) / 1024,
        "returncode": child.returncode,
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace")[-3000:],
    }


class _Peak:
    """The highest ``VmHWM`` (kB) a process's /proc/PID/status shows, polled every 10 ms
    until it exits (None where there is no /proc)."""

    def __init__(self, pid: int) -> None:
        self._path, self.kb = f"/proc/{pid}/status", None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                with open(self._path) as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            self.kb = max(self.kb or 0, int(line.split()[1]))
            except OSError:
                return  # gone (reaped)
            self._done.wait(0.01)

    def stop(self) -> int | None:
        self._done.set()
        self._thread.join()
        return self.kb
