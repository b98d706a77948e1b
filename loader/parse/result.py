"""The parse stage's result object: counts, decisions, timings and the rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from loader.errors import RowError

KEY_COLUMNS = ("d_trade", "stock", "ticker", "col_code")
REQUIRED_COLUMNS = (*KEY_COLUMNS, "value")
KEY_LIMITS = {"stock": 32, "ticker": 32, "col_code": 64}
MAX_TEXT_BYTES = 65_535
EXTRA_COLUMNS_LISTED = 20
"""A report names this many extra (ignored) columns at most, and counts them all."""


@dataclass(frozen=True, slots=True)
class ParseSummary:
    """What the parse found, without the rows: small, immutable, picklable (the report's part)."""

    rows_read: int
    duplicates_in_file: int
    conflicting_duplicates: int
    rejected_rows: int
    encoding: str
    date_format: str | None
    date_order: str | None
    date_order_proven: bool | None
    extra_columns: tuple[str, ...]
    """The first :data:`EXTRA_COLUMNS_LISTED` of them."""
    extra_column_count: int
    errors: tuple[RowError, ...]
    bytes_read: int


@dataclass(slots=True)
class ParseResult:
    """One export, decoded, parsed and deduplicated.

    ``rows`` holds the surviving rows in file order of their last occurrence:
    ``d_trade`` (Date), ``stock``, ``ticker``, ``col_code`` (Categorical),
    ``value_numeric`` (Decimal(38,12)), ``value_text`` (Categorical) and ``line``
    (the physical line the surviving row came from). ``rejects`` is set when
    a bad-row allowance let the file load despite bad rows.
    """

    source: str
    encoding: str
    encoding_detected_by: str
    compressed: bool
    bytes_read: int
    delimiter: str
    columns: list[str]
    extra_columns: list[str]
    date_format: str | None
    date_order: str | None
    date_order_proven: bool | None
    rows_read: int
    rejected_rows: int
    duplicates_in_file: int
    conflicting_duplicates: int
    rows: pl.DataFrame
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    rejects: pl.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        """Distinct keys ready to merge."""
        return self.rows.height

    def summary(self) -> ParseSummary:
        return ParseSummary(
            rows_read=self.rows_read,
            duplicates_in_file=self.duplicates_in_file,
            conflicting_duplicates=self.conflicting_duplicates,
            rejected_rows=self.rejected_rows,
            encoding=self.encoding,
            date_format=self.date_format,
            date_order=self.date_order,
            date_order_proven=self.date_order_proven,
            extra_columns=tuple(self.extra_columns[:EXTRA_COLUMNS_LISTED]),
            extra_column_count=len(self.extra_columns),
            errors=tuple(self.errors),
            bytes_read=self.bytes_read,
        )

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table (key strings and value_text as plain UTF-8)."""
        return self.rows.with_columns(
            pl.col("stock", "ticker", "col_code", "value_text").cast(pl.String)
        ).to_arrow()

    def to_dict(self) -> dict[str, Any]:
        """The report fields the parse stage owns (spec §3 names)."""
        total = sum(self.seconds.values())
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_parsed": self.row_count,
            "duplicates_in_file": self.duplicates_in_file,
            "conflicting_duplicates": self.conflicting_duplicates,
            "rejected_rows": self.rejected_rows,
            "encoding": self.encoding,
            "encoding_detected_by": self.encoding_detected_by,
            "compressed": self.compressed,
            "bytes": self.bytes_read,
            "delimiter": self.delimiter,
            "date_format": self.date_format,
            "date_order": self.date_order,
            "date_order_proven": self.date_order_proven,
            "extra_columns": self.extra_columns[:EXTRA_COLUMNS_LISTED],
            "extra_column_count": len(self.extra_columns),
            "errors": [e.to_dict() for e in self.errors],
            "error_count": self.error_count,
            "seconds": round(total, 6),
            "rows_per_second": round(self.rows_read / total, 1) if total > 0 else None,
            "stage_seconds": {k: round(v, 6) for k, v in self.seconds.items()},
        }
