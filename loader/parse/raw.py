"""The raw bytes of an export: opened, decompressed, and a byte offset's line (for errors)."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from loader.errors import FileRejected, RowError

GZIP_MAGIC = b"\x1f\x8b"
READ_BLOCK = 16 << 20

RawSource = str | os.PathLike[str] | bytes


def open_raw(source: RawSource) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    return open(source, "rb")


def line_of_offset(source: RawSource, offset: int) -> int:
    """1-based line of a byte offset in the uncompressed bytes.

    Only errors need it, so newlines are not counted on the way: the prefix
    is read again (decompressed again for gzip) when an error is reported.
    """
    newlines = 0
    with open_raw(source) as raw:
        for block in uncompressed_blocks("", raw):
            if offset <= len(block):
                return newlines + block.count(b"\n", 0, offset) + 1
            newlines += block.count(b"\n")
            offset -= len(block)
    return newlines + 1


def uncompressed_blocks(name: str, raw: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """The file's bytes, decompressed when it is gzip; past ``limit`` bytes, a rejection."""
    head = raw.read(2)
    raw.seek(0)
    produced = 0
    if head != GZIP_MAGIC:
        while block := raw.read(READ_BLOCK):
            produced += len(block)
            _check_size(name, produced, limit)
            yield block
        return
    try:
        with gzip.GzipFile(fileobj=raw) as gz:
            while block := gz.read(READ_BLOCK):
                produced += len(block)
                _check_size(name, produced, limit)
                yield block
    except (OSError, EOFError, zlib.error) as exc:
        reason = "truncated gzip stream" if isinstance(exc, EOFError) else f"corrupt gzip: {exc}"
        raise FileRejected(
            name, "decode", [RowError(None, None, reason, produced)], encoding=None
        ) from None


def not_a_csv(head: bytes) -> str | None:
    """What a file is when its first bytes say it is no text export (to say what to do)."""
    if head.startswith(b"PK\x03\x04"):
        if b"xl/" in head[: 1 << 16]:
            return "this is an Excel workbook (xlsx), not a CSV: export the sheet as CSV"
        return "this is a zip archive, not a CSV: unzip it (or compress exports with gzip)"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "this is an old Excel workbook (xls), not a CSV: export the sheet as CSV"
    if head.startswith(b"PAR1"):
        return "this is a Parquet file, not a CSV: export the data as CSV"
    if head.startswith(b"%PDF"):
        return "this is a PDF document, not a CSV export"
    return None


def _check_size(name: str, produced: int, limit: int | None) -> None:
    if limit is not None and produced > limit:
        reason = (
            f"the file is over {limit:,} bytes uncompressed (FUNDSYNC_MAX_UNCOMPRESSED_BYTES): "
            "not read further"
        )
        raise FileRejected(name, "limits", [RowError(None, None, reason, limit)])


def source_name(source: RawSource, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    return str(Path(source))
