"""Local files: is a path a readable export, its SHA-256 and size, and a hash taken ahead.

The command line hashes the first file while Polars imports on another thread
(:func:`hash_ahead`); :func:`loader.sources.fetched` takes that hash only if the
file's :func:`fingerprint` is unchanged since, else hashes again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from loader.errors import LoaderError, SourceMissing, SourceUnreadable

HASH_BLOCK = 8 << 20

_HASHED: dict[str, tuple[tuple[int, ...], str, int]] = {}


def hash_ahead(text: str) -> float | None:
    """Hash a local file before the load asks for it (the command line does it while Polars
    imports on another thread); the load then uses it if the file is unchanged since.
    Returns the process's age when the first byte was read, or None (not a regular file)."""
    path = Path(text)
    if not path.is_file():
        return None
    before = fingerprint(path)
    from loader.timing import process_age

    started = process_age()
    try:
        content_hash, size = hash_file(path)
    except LoaderError:
        return None
    _HASHED[str(path)] = (before, content_hash, size)
    return started


def hashed_ahead(path: Path) -> tuple[tuple[int, ...], str, int] | None:
    """The fingerprint, hash and size :func:`hash_ahead` took of ``path``, once, or None."""
    return _HASHED.pop(str(path), None)


def fingerprint(path: Path) -> tuple[int, ...]:
    """What changes when a file is written to or replaced: device, inode, size, times."""
    try:
        found = path.stat()
    except OSError:
        return ()
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def readable_file(text: str) -> Path:
    """The path, if it names a regular file this process can read; else a one-line input error."""
    path = Path(text)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceMissing(f"{text}: no such file") from None
    except OSError as error:
        raise SourceUnreadable(f"{text}: cannot be read ({error.strerror})") from None
    if stat.S_ISDIR(mode):
        raise SourceUnreadable(f"{text}: is a directory, not an export file")
    if not os.access(path, os.R_OK):
        raise SourceUnreadable(f"{text}: permission denied")
    return path


def hash_file(path: str | Path) -> tuple[str, int]:
    """The SHA-256 and the size of a local file's bytes."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except PermissionError:
        raise SourceUnreadable(f"{path}: permission denied") from None
    except OSError as error:
        raise SourceUnreadable(f"{path}: cannot be read ({error.strerror})") from None
    return digest.hexdigest(), size
