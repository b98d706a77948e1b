"""Which exports a backfill loads: every file under a folder or S3 prefix, filtered and ordered.

Trade dates come from the key (a ``YYYY-MM-DD`` folder, else the file name);
``--since``/``--until`` and globs filter; the order is by trade date (a
later export wins over an earlier one for the same key) or by name.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from loader import aws
from loader.errors import ConfigError
from loader.sources import LocalFile, S3Object, Source, local_key, source_of

ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
COMPACT_DATE = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
DEFAULT_GLOBS = ("*.csv", "*.csv.gz")
ORDERS = ("trade-date", "name")


@dataclass(frozen=True, slots=True)
class Export:
    """One export a backfill will load: where it is, its ledger key, its trade date."""

    source: str
    """A local path, or ``s3://bucket/key``."""
    key: str
    """The source key: the file's absolute path (:func:`~loader.sources.local_key`), or the
    object key."""
    trade_date: date | None
    size: int
    etag: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.source.startswith("s3://")

    @property
    def spec(self) -> Source:
        """The source as the prepare half reads it (the S3 object with its listed ETag)."""
        source = source_of(self.source)
        if isinstance(source, S3Object):
            return S3Object(source.bucket, source.key, etag=self.etag, size=self.size)
        return LocalFile(self.source, self.key)


def trade_date_of(key: str) -> date | None:
    """The trade date in an export's key: a ``YYYY-MM-DD`` folder, else the file name.

    ``raw/sql_server/fund_data/2025-12-09/export.csv`` and
    ``fund_data_2025-12-09.csv`` or ``fund_data_20251209.csv`` give
    2025-12-09; a key with no date gives None.
    """
    parts = key.replace("\\", "/").split("/")
    for folder in reversed(parts[:-1]):
        if (match := ISO_DATE.fullmatch(folder)) and (day := _date(match)):
            return day
    name = parts[-1]
    for pattern in (ISO_DATE, COMPACT_DATE):
        for match in pattern.finditer(name):
            if day := _date(match):
                return day
    return None


def _date(match: re.Match[str]) -> date | None:
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _wanted(relative: str, globs: tuple[str, ...]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(relative, g) for g in globs)


def discover(
    source: str,
    globs: tuple[str, ...] = DEFAULT_GLOBS,
    since: date | None = None,
    until: date | None = None,
    order: str = "trade-date",
    s3: Any = None,
) -> list[Export]:
    """The exports under ``source`` that pass the filters, in load order.

    With ``since``/``until``, an export whose key carries no trade date is
    left out (it cannot be shown to be in range); without them it is kept,
    after the dated ones.
    """
    if order not in ORDERS:
        raise ConfigError(f"order {order!r}: use one of {', '.join(ORDERS)}")
    found = list(
        _s3_exports(source, globs, s3)
        if source.startswith("s3://")
        else _local_exports(source, globs)
    )
    kept = []
    for export in found:
        if since or until:
            if export.trade_date is None:
                continue
            if (since and export.trade_date < since) or (until and export.trade_date > until):
                continue
        kept.append(export)
    if order == "trade-date":
        kept.sort(key=lambda e: (e.trade_date is None, e.trade_date or date.max, e.key))
    else:
        kept.sort(key=lambda e: e.key)
    return kept


def _local_exports(source: str, globs: tuple[str, ...]) -> Iterator[Export]:
    root = Path(source)
    if not root.is_dir():
        raise ConfigError(
            f"{source}: not a directory (give a folder of exports or s3://bucket/prefix)"
        )
    for path in root.rglob("*"):
        if not path.is_file() or path.name.endswith(".rejects.csv"):
            continue
        relative = path.relative_to(root).as_posix()
        if _wanted(relative, globs):
            yield Export(
                str(path), local_key(str(path)), trade_date_of(relative), path.stat().st_size
            )


def _s3_exports(source: str, globs: tuple[str, ...], s3: Any) -> Iterator[Export]:
    bucket, _, prefix = source[5:].partition("/")
    if not bucket:
        raise ConfigError(f"S3 source needs a bucket: {source!r}")
    s3 = s3 or aws.client("s3")
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key = str(item["Key"])
                relative = key[len(prefix) :].lstrip("/")
                if key.endswith("/") or not _wanted(relative, globs):
                    continue
                etag = str(item.get("ETag", "")).strip('"') or None
                yield Export(
                    f"s3://{bucket}/{key}", key, trade_date_of(key), int(item["Size"]), etag
                )
    except Exception as error:
        raise aws.classify(error, f"listing {source}") from None


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
