"""The staging directory: private (mode 0700), the only place a connection may read
``LOAD DATA LOCAL INFILE`` from, removed on close (and, when its process is gone, by the
next one)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path


def remove_stale(parent: Path) -> None:
    """Remove the staging directories that processes now gone left in ``parent`` (a killed
    backfill, say), and links left dangling."""
    for stale in parent.glob("fundsync-stage-*"):
        if stale.is_symlink():
            if not stale.exists():
                stale.unlink(missing_ok=True)
            continue
        owner = stale.name.removeprefix("fundsync-stage-").split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


UNSAFE_IN_PATHS = frozenset("'\"\\")
"""Characters mysql-connector cannot have in a LOCAL INFILE path: it reads the path back out
of the statement's text without unescaping it, so the file "does not exist"."""


class StagingDir:
    """A private temporary directory for staging files; removed on close.

    Under a parent whose path holds a quote or a backslash, the directory is
    reached through a symbolic link of a plain name in the system's
    temporary directory (the staging files themselves are never links).
    """

    def __init__(self, parent: str | None = None) -> None:
        remove_stale(Path(parent or tempfile.gettempdir()))
        prefix = f"fundsync-stage-{os.getpid()}-"  # the owner, for remove_stale
        self.real = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self.real.chmod(0o700)
        self.path = self.link = self.real
        if UNSAFE_IN_PATHS & set(str(self.real)):
            base = tempfile.gettempdir()
            if UNSAFE_IN_PATHS & set(base):
                base = "/tmp"
            self.link = Path(base) / f"fundsync-stage-link-{uuid.uuid4().hex}"
            os.symlink(self.real.parent, self.link)  # the directory itself may not be a link
            self.path = self.link / self.real.name

    def new_file(self) -> Path:
        fd, name = tempfile.mkstemp(suffix=".tsv", dir=self.path)
        os.close(fd)
        return Path(name)

    def new_name(self) -> Path:
        """A fresh name in the directory, nothing created (for a named pipe)."""
        return self.path / f"stream-{uuid.uuid4().hex}.tsv"

    def close(self) -> None:
        shutil.rmtree(self.real, ignore_errors=True)
        if self.path != self.real:
            self.link.unlink(missing_ok=True)

    def __enter__(self) -> StagingDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
