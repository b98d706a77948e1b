"""Sources: where an export's bytes come from, and who it is (key, version or ETag).

A local path is read in place. An S3 object is streamed into a private
temporary file (mode 0600, a name of our own: the object key never becomes a
local path) under a size guard, and removed as soon as the load is over.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loader import aws
from loader.errors import ConfigError, FileRejected, RowError
from loader.events import ObjectRef

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class LocalCopy:
    """A downloaded object: the private file and the object as S3 served it."""

    path: Path
    ref: ObjectRef
    size: int


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); the key is taken verbatim (not URL-decoded)."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise ConfigError(f"S3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def is_s3_uri(source: str) -> bool:
    return source.startswith("s3://")


def object_ref(uri: str) -> ObjectRef:
    bucket, key = parse_s3_uri(uri)
    return ObjectRef(bucket=bucket, key=key)


def too_large(ref: ObjectRef, size: int, limit: int) -> FileRejected:
    return FileRejected(
        source=ref.key,
        kind="limits",
        errors=[
            RowError(
                None,
                None,
                f"object is {size:,} bytes, over the {limit:,}-byte limit "
                "(FUNDSYNC_MAX_OBJECT_BYTES)",
            )
        ],
    )


@contextlib.contextmanager
def downloaded(
    ref: ObjectRef, directory: str | Path, max_bytes: int, s3: Any = None
) -> Iterator[LocalCopy]:
    """Stream one object into a private temp file in ``directory``; the file is removed on exit.

    The version in the notification is fetched when there is one, so a later
    overwrite cannot change what this message loads. An object over
    ``max_bytes`` is rejected before a byte is written (and again while
    streaming, should the object be larger than announced).
    """
    s3 = s3 or aws.client("s3")
    if ref.size is not None and ref.size > max_bytes:
        raise too_large(ref, ref.size, max_bytes)
    request: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        request["VersionId"] = ref.version_id
    try:
        response = s3.get_object(**request)
    except Exception as error:
        raise aws.classify(error, f"reading {ref.uri}") from None
    announced = int(response.get("ContentLength") or 0)
    if announced > max_bytes:
        response["Body"].close()
        raise too_large(ref, announced, max_bytes)
    fd, name = tempfile.mkstemp(prefix="object-", suffix=".part", dir=directory)
    path = Path(name)
    try:
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in response["Body"].iter_chunks(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_large(ref, size, max_bytes)
                    out.write(chunk)
        except FileRejected:
            raise
        except Exception as error:
            raise aws.classify(error, f"reading {ref.uri}") from None
        served = replace(
            ref,
            version_id=response.get("VersionId") or ref.version_id,
            etag=(response.get("ETag") or "").strip('"') or ref.etag,
            size=size,
        )
        yield LocalCopy(path=path, ref=served, size=size)
    finally:
        path.unlink(missing_ok=True)
