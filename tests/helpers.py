"""What many test files share: running the ``fundsync`` command as a user would, the
database URL of a test database without its password, an export written, the ledger's
statuses, an original delivered after its correction. (Fixtures live in conftest.py.)"""

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


def export(path: Path, *rows: str) -> Path:
    """A CSV export of ``rows`` (under the standard header) at ``path``."""
    from tests.conftest import csv_bytes

    path.write_bytes(csv_bytes(*rows))
    return path


def statuses(db) -> list[str]:
    """The ledger's statuses, oldest first."""
    from tests.conftest import query

    return [s for (s,) in query(db, "SELECT status FROM fund_data_loads ORDER BY id")]


def original_after_its_correction(handler, lake) -> tuple[str, str]:
    """An original (A, B, C = 1) and its correction (A, B = 2) of one trade date, the correction
    written later and delivered first; then the original's message, retried (or replayed from
    the DLQ) after the correction loaded. Returns both keys, the original's first."""
    import time

    from loader.pipeline.events import s3_notification
    from loader.sources import S3Object
    from tests.conftest import csv_bytes

    original = lake.put(
        "2025-12-09/day.csv",
        csv_bytes("2025-12-09,S,T,A,1", "2025-12-09,S,T,B,1", "2025-12-09,S,T,C,1"),
    )
    time.sleep(1.1)  # the correction is written after the original
    correction = lake.put(
        "2025-12-09/day_correction.csv", csv_bytes("2025-12-09,S,T,A,2", "2025-12-09,S,T,B,2")
    )
    lake.clear()
    assert handler(handler.event(s3_notification(S3Object(lake.bucket, correction)))) == []
    assert handler(handler.event(s3_notification(S3Object(lake.bucket, original)))) == []
    return original, correction
