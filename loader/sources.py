"""Sources own "what a source is": a local path or an S3 object, a readable copy, and its identity.

:func:`source_of` reads what a user typed (a path, or ``s3://bucket/key``);
:func:`fetched` turns either kind into a local readable file plus its
:class:`SourceIdentity` (the key, the object version or ETag, the size and
the content's SHA-256). A local path is read in place. An S3 object is
streamed into a private temporary file (mode 0600, a name of our own: the
key never becomes a path) under a size guard, hashed on the way, and removed
when the block ends. A source that is missing, a directory or unreadable is
a typed input error with a one-line message, the same from every entry point.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loader import aws
from loader.errors import (
    ConfigError,
    FileRejected,
    RowError,
    SourceChanged,
    SourceKeyTooLong,
    SourceMissing,
)
from loader.local_files import fingerprint, hash_file, hashed_ahead, readable_file
from loader.timing import Stopwatch

CHUNK = 1 << 20
MAX_KEY_CHARS = 1024
"""The ledger's ``source_key`` and ``fund_data.s3_source_key`` are VARCHAR(1024)."""
UNKNOWN_HASH = ""
"""The content hash of a source that could not be read (the ledger's column is NOT NULL)."""


@dataclass(frozen=True, slots=True)
class S3Object:
    """One S3 object, with the key already decoded; what a notification or a URI points at."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    event_name: str = "ObjectCreated:Put"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def identity(self) -> str | None:
        """What the ledger stores as the object's version: the version id, else the ETag."""
        return self.version_id or self.etag

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "event_name": self.event_name,
        }


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file on this machine; its source key is its absolute path, symbolic links resolved
    (:func:`local_key`), whatever form it was given in (``x.csv``, ``./x.csv``, ``/d/x.csv``)."""

    path: str
    name: str | None = None
    """The source key, when it is not the file's own path (a test naming it as an S3 key)."""

    @property
    def key(self) -> str:
        return self.name or local_key(self.path)

    @property
    def uri(self) -> str:
        return self.path

    @property
    def identity(self) -> str | None:
        return None


Source = LocalFile | S3Object


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """Who a source is: what the ledger records and the skip rule compares."""

    key: str
    content_hash: str
    size: int
    version: str | None = None
    modified: datetime | None = None
    """When an S3 object's content was written (its LastModified, UTC, naive). A local file
    has none: copies and checkouts reset modification times, which then say nothing."""
    bucket: str | None = None
    """An S3 object's bucket (None for a local file): verify reads it from there again."""

    @property
    def key_hash(self) -> str:
        return key_hash(self.key)


def key_hash(key: str) -> str:
    """The ledger's indexable stand-in for a source key of up to 1,024 characters."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def unknown_identity(source: Source) -> SourceIdentity:
    """The identity of a source that could not be read: its key and version, no content."""
    if isinstance(source, S3Object):
        return SourceIdentity(
            source.key, UNKNOWN_HASH, source.size or 0, source.identity, bucket=source.bucket
        )
    return SourceIdentity(source.key, UNKNOWN_HASH, 0)


@dataclass(frozen=True, slots=True)
class SourceCopy:
    """A readable local copy of a source, and who the source is."""

    path: Path
    identity: SourceIdentity


def local_key(text: str) -> str:
    """A local file's identity: its absolute path with symbolic links resolved, so that every
    way of naming one file (relative, ``./``, absolute, through a link) is one source. A path
    that names no regular file (missing, a pipe) is made absolute only."""
    path = Path(text)
    try:
        if path.is_file():
            return str(path.resolve())
    except (OSError, RuntimeError):  # a loop of links, a path too long
        pass
    return os.path.abspath(text)


def ledger_keys(text: str) -> list[str]:
    """The source keys a source typed in any form the logs and reports print may be recorded
    under: ``s3://bucket/key`` and ``key`` are the object key; a local path is its
    :func:`local_key` (and, for loads recorded before keys were normalised, the text itself)."""
    if text.startswith("s3://"):
        return [text[5:].partition("/")[2] or text]
    keys = [local_key(text)]
    if text not in keys:
        keys.append(text)
    return keys


def ledger_prefix(text: str) -> str:
    """A prefix of source keys, as typed (``status --source``): ``s3://bucket/raw/`` is the
    key prefix ``raw/``; an existing local folder or file is made absolute as keys are."""
    if text.startswith("s3://"):
        return text[5:].partition("/")[2]
    if os.path.exists(text):
        key = local_key(text)
        return key + os.sep if text.endswith(("/", os.sep)) or os.path.isdir(text) else key
    return text


def source_of(text: str) -> Source:
    """A source as typed: ``s3://bucket/key`` is an S3 object, anything else a local path."""
    if not text.startswith("s3://"):
        return LocalFile(text)
    bucket, _, key = text[5:].partition("/")
    if not bucket or not key:
        raise ConfigError(f"S3 URI needs a bucket and a key: {text!r}")
    return S3Object(bucket=bucket, key=key)


@contextlib.contextmanager
def fetched(
    source: Source,
    watch: Stopwatch,
    work_dir: str | Path | None = None,
    max_bytes: int = 2 << 30,
    s3: Any = None,
) -> Iterator[SourceCopy]:
    """A local readable copy of ``source`` and its identity; a downloaded copy is removed on exit.

    Raises :class:`~loader.errors.SourceMissing` or
    :class:`~loader.errors.SourceUnreadable` (input errors), an
    over-the-limit object as :class:`~loader.errors.FileRejected`, or an
    :class:`~loader.errors.AwsError` when S3 itself failed.
    """
    if len(source.key) > MAX_KEY_CHARS:
        raise SourceKeyTooLong(
            f"{source.key[:80]}...: the source key is {len(source.key):,} characters, "
            f"over the {MAX_KEY_CHARS:,} the ledger and the lineage column hold"
        )
    if isinstance(source, S3Object):
        with _downloaded(source, watch, work_dir, max_bytes, s3) as copy:
            yield copy
        return
    path = readable_file(source.path)
    if not path.is_file():  # a pipe (<(cat file)), a device: read once, into a copy
        with _spooled(source, path, watch, work_dir, max_bytes) as copy:
            yield copy
        return
    before = fingerprint(path)
    known = hashed_ahead(path)
    if known is not None and known[0] == before:  # hashed ahead, unchanged since
        content_hash, size = known[1], known[2]
    else:
        with watch.stage("hash"):
            content_hash, size = hash_file(path)
    # The bytes hashed and the bytes parsed must be the same: a file written to or replaced
    # while it was read is not loaded, whatever its parse said (the next attempt reads it whole).
    try:
        yield SourceCopy(path, SourceIdentity(source.key, content_hash, size))
    except Exception:
        _check_unchanged(source, path, before, size)
        raise
    _check_unchanged(source, path, before, size)


def _check_unchanged(source: LocalFile, path: Path, before: tuple[int, ...], size: int) -> None:
    after = fingerprint(path)
    if after != before or after[2] != size:
        raise SourceChanged(
            f"{source.key}: the file changed while it was read (written to or replaced): "
            "nothing loaded; load it again once it is complete"
        )


@contextlib.contextmanager
def _spooled(
    source: LocalFile, path: Path, watch: Stopwatch, directory: str | Path | None, max_bytes: int
) -> Iterator[SourceCopy]:
    """A source that can be read only once (a pipe), copied to a private temp file, hashed on
    the way; removed on exit."""
    fd, name = tempfile.mkstemp(prefix="source-", suffix=".part", dir=directory)
    copy = Path(name)
    try:
        digest, size = hashlib.sha256(), 0
        with watch.stage("hash"), os.fdopen(fd, "wb") as out, open(path, "rb") as pipe:
            while block := pipe.read(CHUNK):
                size += len(block)
                if size > max_bytes:
                    raise too_large(source.key, size, max_bytes)
                digest.update(block)
                out.write(block)
        yield SourceCopy(copy, SourceIdentity(source.key, digest.hexdigest(), size))
    finally:
        copy.unlink(missing_ok=True)


def current_version(obj: S3Object, s3: Any = None) -> str | None:
    """The version id of the object's current version; None when the object is gone (or the
    bucket keeps no versions)."""
    try:
        head = (s3 or aws.client("s3")).head_object(Bucket=obj.bucket, Key=obj.key)
    except Exception as error:
        failure = aws.classify(error, f"reading {obj.uri}")
        if isinstance(failure, SourceMissing):
            return None
        raise failure from None
    return str(head.get("VersionId") or "") or None


def too_large(key: str, size: int, limit: int) -> FileRejected:
    reason = f"object is {size:,} bytes, over the {limit:,}-byte limit (FUNDSYNC_MAX_OBJECT_BYTES)"
    return FileRejected(source=key, kind="limits", errors=[RowError(None, None, reason)])


@contextlib.contextmanager
def _downloaded(
    obj: S3Object, watch: Stopwatch, directory: str | Path | None, max_bytes: int, s3: Any
) -> Iterator[SourceCopy]:
    """Stream one object into a private temp file, hashing it on the way; removed on exit.

    The version in the notification is fetched when there is one, so a later
    overwrite cannot change what this message loads. An object over
    ``max_bytes`` is rejected before a byte is written (and again while
    streaming, should the object be larger than announced).
    """
    if obj.size is not None and obj.size > max_bytes:
        raise too_large(obj.key, obj.size, max_bytes)
    fd, name = tempfile.mkstemp(prefix="object-", suffix=".part", dir=directory)
    path = Path(name)
    try:
        with watch.stage("download"):
            served = _stream(obj, os.fdopen(fd, "wb"), max_bytes, s3 or aws.client("s3"))
        yield SourceCopy(path, served)
    finally:
        path.unlink(missing_ok=True)


def _stream(obj: S3Object, out: Any, max_bytes: int, s3: Any) -> SourceIdentity:
    request: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        request["VersionId"] = obj.version_id
    with out:
        try:
            response = s3.get_object(**request)
        except Exception as error:
            raise aws.classify(error, f"reading {obj.uri}") from None
        announced = int(response.get("ContentLength") or 0)
        if announced > max_bytes:
            response["Body"].close()
            raise too_large(obj.key, announced, max_bytes)
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in response["Body"].iter_chunks(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(obj.key, size, max_bytes)
                digest.update(chunk)
                out.write(chunk)
        except FileRejected:
            raise
        except Exception as error:
            raise aws.classify(error, f"reading {obj.uri}") from None
    served = replace(
        obj,
        version_id=response.get("VersionId") or obj.version_id,
        etag=(response.get("ETag") or "").strip('"') or obj.etag,
    )
    modified = response.get("LastModified")
    return SourceIdentity(
        obj.key,
        digest.hexdigest(),
        size,
        served.identity,
        utc(modified) if isinstance(modified, datetime) else None,
        obj.bucket,
    )


def utc(moment: datetime) -> datetime:
    """A moment as naive UTC, as the ledger stores it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
