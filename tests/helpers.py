"""What many test files share: running the ``fundsync`` command as a user would, and the
database URL of a test database without its password. (Fixtures live in conftest.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def fundsync_command() -> str:
    """The ``fundsync`` executable of the environment running the tests."""
    return shutil.which("fundsync", path=str(Path(sys.executable).parent)) or "fundsync"


def fundsync(
    *args: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``fundsync ARGS``, as a user runs it: its exit status, stdout and stderr."""
    return subprocess.run(
        [fundsync_command(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def backfill(url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``fundsync backfill ARGS --db URL``."""
    return subprocess.run(
        [fundsync_command(), "backfill", *args, "--db", url],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def plain_url(config) -> str:
    """A test database's URL without a password (root on the throwaway server)."""
    socket = f"?unix_socket={config.unix_socket}" if config.unix_socket else ""
    return f"mysql://{config.user}@{config.host}:{config.port}/{config.database}{socket}"
