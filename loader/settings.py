"""Frozen settings objects, and every environment variable name the loader reads.

An explicit argument beats an environment variable, which beats the default.
The names live here only: :data:`ENV` (parsing and the fault drill),
:data:`PIPELINE_ENV` (the Lambda handler and the worker), :data:`DB_ENV`
(where the database is).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from loader.errors import ConfigError

DateOrder = Literal["month-first", "day-first"]

ENV = {
    "encoding": "FUNDSYNC_ENCODING",
    "allowed_encodings": "FUNDSYNC_ALLOWED_ENCODINGS",
    "encoding_by_prefix": "FUNDSYNC_ENCODING_BY_PREFIX",
    "default_date_order": "FUNDSYNC_DATE_ORDER",
    "buddhist_era": "FUNDSYNC_BUDDHIST_ERA",
    "max_bad_rows": "FUNDSYNC_MAX_BAD_ROWS",
    "max_uncompressed_bytes": "FUNDSYNC_MAX_UNCOMPRESSED_BYTES",
    "inject_fault": "FUNDSYNC_INJECT_FAULT",
    "mode": "FUNDSYNC_MODE",
    "mode_by_prefix": "FUNDSYNC_MODE_BY_PREFIX",
    "allow_mass_delete": "FUNDSYNC_ALLOW_MASS_DELETE",
    "max_delete_share": "FUNDSYNC_MAX_DELETE_SHARE",
}
MODES = ("upsert", "replace-days")
"""How a file merges: ``upsert`` (keys the file lacks stay) or ``replace-days`` (the file is
the whole content of each trade date it holds: keys of those dates it lacks are deleted)."""
DEFAULT_MAX_DELETE_SHARE = 0.10
DB_ENV = {
    "url": "FUNDSYNC_DB_URL",
    "secret": "FUNDSYNC_DB_SECRET_ARN",
    "time_zone": "FUNDSYNC_TIME_ZONE",
    "host": "AURORA_HOST",
    "port": "AURORA_PORT",
    "user": "AURORA_USER",
    "password": "AURORA_PASSWORD",
    "database": "AURORA_DATABASE",
    "connect_timeout": "FUNDSYNC_DB_CONNECT_TIMEOUT",
    "read_timeout": "FUNDSYNC_DB_READ_TIMEOUT",
    "write_timeout": "FUNDSYNC_DB_WRITE_TIMEOUT",
    "lock_wait_timeout": "FUNDSYNC_DB_LOCK_WAIT_TIMEOUT",
    "ssl_mode": "FUNDSYNC_DB_SSL_MODE",
    "ssl_ca": "FUNDSYNC_DB_SSL_CA",
    "db_password": "FUNDSYNC_DB_PASSWORD",
    "staging_table": "FUNDSYNC_STAGING_TABLE",
    "verify": "FUNDSYNC_VERIFY",
    "quality": "FUNDSYNC_QUALITY",
}

DEFAULT_ALLOWED_ENCODINGS = ("cp1252", "cp874")
MAX_ERRORS_REPORTED = 100
MAX_COLUMNS = 200_000


def codec_name(name: str) -> str:
    """The Python codec name for an encoding label (``windows-1252`` -> ``cp1252``)."""
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise ConfigError(f"unknown encoding {name!r}") from None


@dataclass(frozen=True, slots=True)
class BadRowAllowance:
    """How many bad rows a file may have and still load: a count, a fraction, or none.

    Parsed from text as ``0`` (strict, the default), ``250`` (a count),
    ``0.5%`` or ``0.005`` (a fraction of the data rows read).
    """

    count: int = 0
    fraction: float | None = None

    @classmethod
    def parse(cls, text: str | int | float) -> BadRowAllowance:
        raw = str(text).strip()
        try:
            if raw.endswith("%"):
                return cls._fraction(float(raw[:-1]) / 100.0, raw)
            if re.fullmatch(r"\d+", raw):
                return cls(count=int(raw))
            return cls._fraction(float(raw), raw)
        except ValueError:
            raise ConfigError(
                f"bad-row allowance {raw!r}: "
                "use a count (100), a fraction (0.01) or a percentage (1%)"
            ) from None

    @classmethod
    def _fraction(cls, value: float, raw: str) -> BadRowAllowance:
        if not 0.0 <= value < 1.0:
            raise ValueError(raw)
        return cls(count=0, fraction=value)

    @property
    def strict(self) -> bool:
        return self.count == 0 and not self.fraction

    def allows(self, bad_rows: int, rows_read: int) -> bool:
        if bad_rows == 0:
            return True
        if self.fraction:
            return bad_rows <= self.fraction * rows_read
        return bad_rows <= self.count

    def __str__(self) -> str:
        if self.fraction:
            return f"{self.fraction:.6g} of rows"
        return f"{self.count} rows"


@dataclass(frozen=True, slots=True)
class ParseSettings:
    """Everything that changes how one export is decoded and parsed."""

    encoding: str | None = None
    """Explicit encoding for every file: overrides BOM and detection."""
    allowed_encodings: tuple[str, ...] = DEFAULT_ALLOWED_ENCODINGS
    """Single-byte code pages a non-UTF-8 file may be in, in order of preference."""
    encoding_by_prefix: tuple[tuple[str, str], ...] = ()
    """(source key prefix, encoding) pairs; the longest matching prefix wins."""
    default_date_order: DateOrder = "month-first"
    """Order of slash dates when the file itself proves neither."""
    buddhist_era: bool = False
    """Convert Buddhist-era years (2443..2643) to the Common Era by subtracting 543."""
    max_bad_rows: BadRowAllowance = field(default_factory=BadRowAllowance)
    """Strict by default: one bad row rejects the file."""
    max_errors: int = MAX_ERRORS_REPORTED
    """How many errors a rejection lists."""
    chunk_bytes: int = 16 << 20
    """Size of the blocks the file is read and parsed in."""
    max_record_bytes: int = 64 << 20
    """A record longer than this rejects the file (usually an unbalanced quote)."""
    max_uncompressed_bytes: int = 2 << 30
    """A file larger than this, once decompressed, is rejected as it is read (a gzip bomb
    cannot fill the disk or the memory): 2 GiB, about 40 million rows."""
    max_columns: int = MAX_COLUMNS
    """A header with more fields than this rejects the file before it is split."""
    mode: str = "upsert"
    """:data:`MODES`: how a file merges (the merge reads it; set here, with the encoding
    overrides, so that every entry point and every S3 prefix can choose)."""
    mode_by_prefix: tuple[tuple[str, str], ...] = ()
    """(source key prefix, mode) pairs; the longest matching prefix wins over ``mode``."""
    allow_mass_delete: bool = False
    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE
    """replace-days: a file that would delete more than this share of a trade date's rows is
    rejected, unless ``allow_mass_delete``."""

    def __post_init__(self) -> None:
        if self.encoding is not None:
            object.__setattr__(self, "encoding", codec_name(self.encoding))
        object.__setattr__(
            self, "allowed_encodings", tuple(codec_name(e) for e in self.allowed_encodings)
        )
        object.__setattr__(
            self,
            "encoding_by_prefix",
            tuple((prefix, codec_name(enc)) for prefix, enc in self.encoding_by_prefix),
        )
        if self.default_date_order not in ("month-first", "day-first"):
            raise ConfigError(
                f"date order {self.default_date_order!r}: use month-first or day-first"
            )
        if not self.allowed_encodings:
            raise ConfigError("allowed_encodings must name at least one code page")
        for mode in (self.mode, *(m for _, m in self.mode_by_prefix)):
            if mode not in MODES:
                raise ConfigError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        if not 0 <= self.max_delete_share <= 1:
            raise ConfigError("the largest share of a day to delete must be between 0 and 1")
        if self.chunk_bytes < 1024 or self.max_record_bytes < self.chunk_bytes:
            raise ConfigError("chunk_bytes must be >= 1 KiB and <= max_record_bytes")

    def mode_for(self, source_key: str) -> str:
        """The merge mode of a source: the longest matching prefix's, else ``mode``."""
        best: tuple[int, str] | None = None
        for prefix, mode in self.mode_by_prefix:
            if source_key.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), mode)
        return best[1] if best else self.mode

    def request_for(self, source_key: str) -> str:
        """Everything asked of a load of this source that changes its outcome, as text: the
        ledger records it, and the skip rule skips only content loaded the same way
        (``mode=replace-days encoding=cp874 ...``; defaults are left out)."""
        parts = [f"mode={self.mode_for(source_key)}"]
        if encoding := self.encoding_for(source_key):
            parts.append(f"encoding={encoding}")
        if self.allowed_encodings != DEFAULT_ALLOWED_ENCODINGS:
            parts.append(f"allowed-encodings={','.join(self.allowed_encodings)}")
        if self.default_date_order != "month-first":
            parts.append(f"date-order={self.default_date_order}")
        if self.buddhist_era:
            parts.append("buddhist-era")
        allowance = self.max_bad_rows
        if not allowance.strict:
            parts.append(f"max-bad-rows={allowance.fraction or allowance.count}")
        return " ".join(parts)

    def as_requested(self, request: str, encoding: str | None = None) -> ParseSettings:
        """These settings as a recorded load was asked (:meth:`request_for`), reading the file
        in the ``encoding`` that load used: ``fundsync verify`` reads a file again exactly as
        its load did (its date order, its Buddhist-era years, its bad-row allowance)."""
        values: dict[str, object] = {
            "mode": "upsert",
            "mode_by_prefix": (),
            "encoding": None,
            "encoding_by_prefix": (),
            "allowed_encodings": DEFAULT_ALLOWED_ENCODINGS,
            "default_date_order": "month-first",
            "buddhist_era": False,
            "max_bad_rows": BadRowAllowance(),
        }
        for part in request.split():
            name, _, value = part.partition("=")
            if name == "mode":
                values["mode"] = value
            elif name == "date-order":
                values["default_date_order"] = value
            elif name == "buddhist-era":
                values["buddhist_era"] = True
            elif name == "max-bad-rows":
                values["max_bad_rows"] = BadRowAllowance.parse(value)
            elif name == "allowed-encodings":
                values["allowed_encodings"] = tuple(value.split(","))
            elif name == "encoding":
                values["encoding"] = value
        if encoding:
            values["encoding"] = encoding
        return replace(self, **values)  # type: ignore[arg-type]

    def encoding_for(self, source_key: str) -> str | None:
        """The forced encoding for a source: the explicit one, else the longest prefix match."""
        if self.encoding:
            return self.encoding
        best: tuple[int, str] | None = None
        for prefix, enc in self.encoding_by_prefix:
            if source_key.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), enc)
        return best[1] if best else None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **explicit: object
    ) -> ParseSettings:
        """Settings from explicit arguments, then the environment, then defaults.

        ``explicit`` values that are None count as not given.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if v := env.get(ENV["encoding"]):
            values["encoding"] = v
        if v := env.get(ENV["allowed_encodings"]):
            values["allowed_encodings"] = tuple(p for p in v.split(",") if p.strip())
        if v := env.get(ENV["encoding_by_prefix"]):
            values["encoding_by_prefix"] = parse_prefix_map(v)
        if v := env.get(ENV["default_date_order"]):
            values["default_date_order"] = v
        if v := env.get(ENV["buddhist_era"]):
            values["buddhist_era"] = v.strip().lower() in ("1", "true", "yes", "on")
        if v := env.get(ENV["max_bad_rows"]):
            values["max_bad_rows"] = BadRowAllowance.parse(v)
        if v := env.get(ENV["max_uncompressed_bytes"], "").strip():
            if not v.isdigit():
                raise ConfigError(f"{ENV['max_uncompressed_bytes']}={v!r}: expected a whole number")
            values["max_uncompressed_bytes"] = int(v)
        if v := env.get(ENV["mode"], "").strip():
            values["mode"] = v
        if v := env.get(ENV["mode_by_prefix"]):
            values["mode_by_prefix"] = parse_prefix_map(v, "MODE")
        if v := env.get(ENV["allow_mass_delete"]):
            values["allow_mass_delete"] = v.strip().lower() in ("1", "true", "yes", "on")
        if v := env.get(ENV["max_delete_share"], "").strip():
            values["max_delete_share"] = share(v, ENV["max_delete_share"])
        values.update({k: v for k, v in explicit.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def share(text: str, what: str) -> float:
    """``0.1``, ``10%`` -> 0.1."""
    try:
        value = float(text.strip().removesuffix("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        raise ConfigError(f"{what}={text!r}: a fraction (0.1) or a percentage (10%)") from None
    return value


def parse_prefix_map(text: str, what: str = "ENCODING") -> tuple[tuple[str, str], ...]:
    """``raw/th/=cp874;raw/eu/=cp1252`` -> (("raw/th/", "cp874"), ("raw/eu/", "cp1252"))."""
    pairs = []
    for item in text.split(";"):
        if not item.strip():
            continue
        prefix, sep, enc = item.rpartition("=")
        if not sep or not enc.strip():
            raise ConfigError(f"{what.lower()}-by-prefix entry {item!r}: use PREFIX={what}")
        pairs.append((prefix.strip(), enc.strip()))
    return tuple(pairs)


PIPELINE_ENV = {
    "queue_url": "FUNDSYNC_QUEUE_URL",
    "dlq_url": "FUNDSYNC_DLQ_URL",
    "rejects_bucket": "FUNDSYNC_REJECTS_BUCKET",
    "rejects_prefix": "FUNDSYNC_REJECTS_PREFIX",
    "max_object_bytes": "FUNDSYNC_MAX_OBJECT_BYTES",
    "work_dir": "FUNDSYNC_WORK_DIR",
    "reserve_ms": "FUNDSYNC_RESERVE_MS",
    "planning_bytes_per_second": "FUNDSYNC_PLANNING_BYTES_PER_SECOND",
    "retry_delay_seconds": "FUNDSYNC_RETRY_DELAY_SECONDS",
}


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """How the event pipeline (Lambda handler, worker) treats messages and objects."""

    dlq_url: str | None = None
    """Send a message whose input is bad here at once (with the error in its attributes)."""
    rejects_bucket: str | None = None
    """Where rejects reports go; default: the bucket the object came from."""
    rejects_prefix: str = "rejects/"
    """Key prefix of rejects reports: ``<prefix><object key>.rejects.json`` / ``.rejects.csv``."""
    max_object_bytes: int = 2 << 30
    """An object larger than this is rejected before it is downloaded."""
    work_dir: str | None = None
    """Parent of the private temporary directory (default: the system's, /tmp on Lambda)."""
    reserve_ms: int = 10_000
    """Time kept back at the end of a Lambda invocation: a message is not started inside it."""
    planning_bytes_per_second: int = 4_000_000
    """Throughput assumed to judge whether an object can finish before the deadline."""
    retry_delay_seconds: int | None = None
    """Seconds before a message that failed for a transient reason is delivered again
    (``ChangeMessageVisibility``); None leaves it to the queue's visibility timeout, which
    for Lambda is at least six times the function's timeout."""

    def __post_init__(self) -> None:
        if self.max_object_bytes < 1:
            raise ConfigError("max_object_bytes must be positive")
        if self.planning_bytes_per_second < 1 or self.reserve_ms < 0:
            raise ConfigError("planning_bytes_per_second must be positive, reserve_ms >= 0")
        if not self.rejects_prefix or self.rejects_prefix.startswith("/"):
            raise ConfigError("rejects_prefix must be a key prefix such as 'rejects/'")
        if self.retry_delay_seconds is not None and not 0 <= self.retry_delay_seconds <= 43_200:
            raise ConfigError("retry_delay_seconds must be between 0 and 43200 (SQS's limit)")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **explicit: object
    ) -> PipelineSettings:
        """Explicit arguments, then the environment, then defaults (None counts as not given)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in ("dlq_url", "rejects_bucket", "rejects_prefix", "work_dir"):
            if v := env.get(PIPELINE_ENV[name], "").strip():
                values[name] = v
        for name in (
            "max_object_bytes",
            "reserve_ms",
            "planning_bytes_per_second",
            "retry_delay_seconds",
        ):
            if v := env.get(PIPELINE_ENV[name], "").strip():
                try:
                    values[name] = int(v)
                except ValueError:
                    message = f"{PIPELINE_ENV[name]}={v!r}: expected a whole number"
                    raise ConfigError(message) from None
        values.update({k: v for k, v in explicit.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
