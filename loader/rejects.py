"""Where the rejects of a load go (spec §1.1): the rows an allowance let go, and why a file
was rejected.

- ``<name>.rejects.csv`` beside a local input (``fundsync load``, ``fundsync backfill``,
  ``fundsync parse --write-rejects``): every rejected row with its reasons;
- for an S3 object, under the rejects prefix: ``<prefix><key>.rejects.json``
  (a rejected file: its report and located errors) or ``.rejects.csv`` (the
  rows a bad-row allowance rejected, with their reasons).

A rejects report that cannot be written never changes the file's outcome:
the report says where it went, or why it could not (``rejects_error``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loader import aws
from loader.report import LoadReport
from loader.sources import S3Object, Source

REJECT_COLUMNS = ["line", "d_trade", "stock", "ticker", "col_code", "value", "reason"]


def rejects_path(source: str) -> Path:
    """``<name>.rejects.csv`` beside the input."""
    return Path(f"{source}.rejects.csv")


def write_rejects_file(rows: pl.DataFrame | None, path: str | Path) -> Path | None:
    """The rejected rows with their reasons as CSV, in line order; None if there are none."""
    if rows is None or rows.height == 0:
        return None
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REJECT_COLUMNS)
        writer.writerows(rows.sort("line").select(REJECT_COLUMNS).iter_rows())
    return path


def rejects_csv(rows: pl.DataFrame) -> bytes:
    frame = rows.sort("line").select([c for c in REJECT_COLUMNS if c in rows.columns])
    buffer = io.BytesIO()
    frame.with_columns(pl.all().cast(pl.String)).write_csv(buffer)
    return buffer.getvalue()


class RejectsWriter:
    """Writes the rejects of S3 objects under a prefix (default: the object's own bucket)."""

    def __init__(self, prefix: str = "rejects/", bucket: str | None = None, s3: Any = None) -> None:
        self.prefix = prefix
        self.bucket = bucket
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    def is_own_output(self, obj: S3Object) -> bool:
        """Whether the object is a rejects report (whose notification must not trigger a load)."""
        return obj.bucket == (self.bucket or obj.bucket) and obj.key.startswith(self.prefix)

    def write(self, source: Source, report: LoadReport, rows: pl.DataFrame | None) -> LoadReport:
        """The report, with where its rejects went (or why they could not be written).

        A local file's rejected rows go beside it (``<name>.rejects.csv``); an S3
        object's under the prefix, with a rejects report for a rejected file.
        """
        if not isinstance(source, S3Object):
            return self._write_local(source.path, report, rows)
        try:
            if report.status == "rejected":
                body, suffix, kind = _document(source, report), ".rejects.json", "application/json"
            elif report.status == "loaded" and rows is not None and rows.height:
                body, suffix, kind = rejects_csv(rows), ".rejects.csv", "text/csv; charset=utf-8"
            else:
                return report
            uri = self._put(source, suffix, body, kind)
        except Exception as error:  # a missing bucket, no permission: the outcome stands
            return report.with_rejects(None, str(error) or type(error).__name__)
        return report.with_rejects(uri)

    @staticmethod
    def _write_local(path: str, report: LoadReport, rows: pl.DataFrame | None) -> LoadReport:
        if report.status != "loaded" or rows is None or not rows.height:
            return report
        try:
            written = write_rejects_file(rows, rejects_path(path))
        except OSError as error:
            return report.with_rejects(None, f"writing {rejects_path(path)}: {error.strerror}")
        return report.with_rejects(str(written))

    def _put(self, obj: S3Object, suffix: str, body: bytes, content_type: str) -> str:
        bucket, key = self.bucket or obj.bucket, f"{self.prefix}{obj.key}{suffix}"
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as error:
            raise aws.classify(error, f"writing the rejects report s3://{bucket}/{key}") from None
        return f"s3://{bucket}/{key}"


def _document(obj: S3Object, report: LoadReport) -> bytes:
    failure = report.failure
    document = {
        "source": obj.uri,
        "object": obj.to_dict(),
        "status": report.status,
        "error_type": failure.error_type if failure else None,
        "reason": failure.message if failure else None,
        "errors": report.errors,
        "report": report.to_dict(),
        "written_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, default=str, indent=1).encode()
