"""``fundsync verify``: does the database still hold what a loaded file said?

:func:`verify_source` re-reads a source (a local file, or the S3 object at the
version the ledger recorded, while that version exists), parses it as a load
would, and compares it with ``fund_data`` now, group by group with the digests
of the load path (:mod:`loader.prepare.digest`, :mod:`loader.mysql.digest`);
only the (trade date, fund) groups whose digests differ are read row by row,
to name the keys. A key whose stored value differs while the row is still
attributed to this source (a manual fix, a restore, a writer outside the
loader) or that is missing is a difference; a key whose value another source
changed since (a correction file) is counted as ``changed_by_later_loads``,
not as a difference. Keys the database holds beyond the file are not the
file's to judge (an upsert keeps them). Read only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any, Literal

import polars as pl

from loader.mysql import ledger
from loader.mysql.digest import digests_of_file_keys, stored_rows
from loader.mysql.session import Session
from loader.parse.result import KEY_COLUMNS
from loader.prepare.digest import group_digests, load_digest, typed
from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.sources import S3Object, Source, current_version

MAX_LISTED = 100
KEYS = list(KEY_COLUMNS)
Verdict = Literal["match", "differs", "error"]


@dataclass(frozen=True, slots=True)
class Difference:
    """One key of the file the database does not hold as the file says."""

    d_trade: date
    stock: str
    ticker: str
    col_code: str
    expected_numeric: str | None
    expected_text: str | None
    stored_numeric: str | None
    stored_text: str | None
    missing: bool


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify_source` found for one source."""

    source: str
    verdict: Verdict
    rows: int = 0
    groups: int = 0
    digest: str | None = None
    """The load digest of the file as it reads now."""
    recorded_digest: str | None = None
    """What the ledger recorded for the source's latest verified load, if any."""
    version: str | None = None
    differing: int = 0
    differences: tuple[Difference, ...] = ()
    """The first :data:`MAX_LISTED`."""
    changed_by_later_loads: int = 0
    note: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["differences"] = [asdict(d) for d in self.differences]
        return out


def verify_source(
    source: Source,
    session: Session,
    options: PrepareOptions | None = None,
    s3: Any = None,
) -> Verification:
    """Re-read one source and compare it with fund_data now (never raises for a bad source)."""
    conn = session.connection()
    latest = ledger.latest_load(conn, source.key)
    recorded = ledger.latest_digest(conn, source.key)
    note = None
    version = latest.identity.version if latest else None
    if isinstance(source, S3Object) and not source.version_id and version:
        if current_version(source, s3) == version or _exists(source, version, s3):
            source = replace(source, version_id=version)
        else:
            note = f"version {version} that the ledger recorded is gone: read the current one"
    prepared = prepare_source(source, options, s3=s3)
    try:
        if prepared.failure is not None:
            return Verification(source.key, "error", error=prepared.failure.message, note=note)
        assert prepared.staging is not None
        rows = typed(prepared.staging.frame())
        mine = group_digests(rows)
        conn.rollback()  # the ledger's reads above opened one
        conn.start_transaction(isolation_level="READ COMMITTED")
        try:
            cur: Any = conn.cursor()
            theirs = digests_of_file_keys(cur, mine, rows)
            differ = mine.join(theirs, on=KEYS[:2], how="left", suffix="_db").filter(
                (pl.col("rows") != pl.col("rows_db")).fill_null(True)
                | (pl.col("digest") != pl.col("digest_db")).fill_null(True)
            )
            stored = stored_rows(cur, differ.select(KEYS[:2])) if differ.height else None
        finally:
            conn.rollback()
        base = Verification(
            source.key,
            "match",
            rows=rows.height,
            groups=mine.height,
            digest=load_digest(mine),
            recorded_digest=recorded,
            version=prepared.identity.version,
            note=note,
        )
        if stored is None:
            return base
        return _differences(base, rows, differ, stored, source.key)
    finally:
        prepared.discard()


def _differences(
    base: Verification, rows: pl.DataFrame, differ: pl.DataFrame, stored: pl.DataFrame, key: str
) -> Verification:
    """The keys of the differing groups, compared one by one."""
    expected = (
        rows.select(
            "d_trade",
            *(pl.col(c).cast(pl.String) for c in KEYS[1:]),
            pl.col("value_numeric").cast(pl.String).alias("expected_numeric"),
            pl.col("value_text").cast(pl.String).alias("expected_text"),
        )
        .join(differ.select(KEYS[:2]), on=KEYS[:2], how="semi")
        .join(stored, on=KEYS, how="left")
    )
    same = pl.col("expected_numeric").eq_missing(pl.col("stored_numeric")) & pl.col(
        "expected_text"
    ).eq_missing(pl.col("stored_text"))
    changed = expected.filter(~same)
    later = changed.filter(pl.col("stored_source").is_not_null() & (pl.col("stored_source") != key))
    wrong = changed.join(later.select(KEYS), on=KEYS, how="anti").sort(KEYS)
    listed = tuple(
        Difference(
            **{k: r[k] for k in (*KEYS, "expected_numeric", "expected_text")},
            stored_numeric=r["stored_numeric"],
            stored_text=r["stored_text"],
            missing=r["stored_source"] is None,
        )
        for r in wrong.head(MAX_LISTED).iter_rows(named=True)
    )
    return replace(
        base,
        verdict="differs" if wrong.height else "match",
        differing=wrong.height,
        differences=listed,
        changed_by_later_loads=later.height,
    )


def _exists(source: S3Object, version: str, s3: Any) -> bool:
    from loader import aws

    client = s3 or aws.client("s3")
    try:
        client.head_object(Bucket=source.bucket, Key=source.key, VersionId=version)
    except Exception:
        return False
    return True


def sources_of_days(session: Session, first: date, last: date) -> list[str]:
    """The source keys whose loads touched these trade dates, latest load first."""
    return ledger.sources_of_days(session.connection(), first, last)
