"""``fundsync verify``: does the database still hold what a loaded file said? One verdict a source.

:func:`verify_source` finds the source's latest successful load in the ledger, re-reads the
source (a local file, or the S3 object at the version the ledger recorded, while that version
exists) exactly as that load read it (its recorded request and encoding: the same mode, date
order, Buddhist-era years, bad-row allowance), and compares it with ``fund_data`` now, group
by group with the digests of the load path (:mod:`loader.prepare.digest`,
:mod:`loader.mysql.digest`); only the (trade date, fund) groups whose digests differ are read
row by row, to name the keys. Read only. The verdicts:

- ``match``: fund_data holds every key of the file with the file's value;
- ``superseded``: every key the file does not hold any more was changed by a later load, or
  deleted by a later whole-day snapshot (replace-days) of its date: newer data, not a loss;
- ``differs``: a key holds another value while the file is still its lineage (a manual fix,
  a restore, a writer outside the loader), or is missing with no later load to explain it;
- ``reverted``: the source's latest load was undone by ``fundsync revert`` (fund_data holds
  what it held before that load, by the operator's decision);
- ``never loaded``: the ledger has no successful load of this source (never tried, or every
  attempt was rejected or failed);
- ``source missing``: the file or object is gone, so it cannot be read again;
- ``source changed``: the source's content is not what its latest load merged (its hash
  differs): the file was rewritten, or an unversioned object overwritten, since;
- ``error``: the source could not be read or compared (the reason says why).

``match``, ``superseded`` and ``reverted`` are the healthy verdicts (exit status 0); any
other is a finding (exit status 1). Keys the database holds beyond the file are not the
file's to judge (an upsert keeps them). ``version`` names the object version (or ETag)
verified against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any, Literal

import polars as pl

from loader.mysql import ledger, lineage
from loader.mysql.digest import stored_rows
from loader.mysql.proof import digests_of_file_keys
from loader.mysql.session import Session
from loader.parse.result import KEY_COLUMNS
from loader.prepare.digest import group_digests, load_digest
from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.sources import S3Object, Source, current_version

MAX_LISTED = 100
KEYS = list(KEY_COLUMNS)
Verdict = Literal[
    "match",
    "superseded",
    "reverted",
    "differs",
    "never loaded",
    "source missing",
    "source changed",
    "error",
]
HEALTHY: frozenset[str] = frozenset({"match", "superseded", "reverted"})


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
    """What the ledger recorded for the source's latest load, if it was verified."""
    version: str | None = None
    """The object version or ETag verified against (None: a local file)."""
    load_id: int | None = None
    """The ledger row of the load verified against."""
    differing: int = 0
    differences: tuple[Difference, ...] = ()
    """The first :data:`MAX_LISTED`."""
    changed_by_later_loads: int = 0
    deleted_by_later_loads: int = 0
    note: str | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.verdict in HEALTHY

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
    try:
        return _verify(source, session, options or PrepareOptions(), s3)
    except Exception as error:  # a database or AWS failure: this source's verdict, not the run's
        session.rollback_quietly()
        return Verification(source.key, "error", error=f"{type(error).__name__}: {error}")


def _verify(source: Source, session: Session, options: PrepareOptions, s3: Any) -> Verification:
    conn = session.connection()
    latest = ledger.latest_load(conn, source.key)
    undone = lineage.reverted_load(conn, source.key)
    conn.rollback()  # end the ledger read's snapshot
    if undone is not None and (latest is None or latest.ledger_id < undone[0]):
        held = (
            f"load #{undone[0]} was reverted by #{undone[1]}: fund_data holds what it held before"
        )
        return Verification(source.key, "reverted", load_id=undone[0], note=held)
    if latest is None:
        return Verification(source.key, "never loaded", note=_attempts_note(session, source.key))
    source, note = _loaded_version(source, latest.identity.version, s3)
    options = replace(options, parse=options.parse.as_requested(latest.request, latest.encoding))
    prepared = prepare_source(source, options, s3=s3)
    base = Verification(
        source.key,
        "match",
        recorded_digest=latest.digest,
        version=prepared.identity.version or latest.identity.version,
        load_id=latest.ledger_id,
        note=note,
    )
    try:
        if prepared.failure is not None:
            missing = prepared.failure.error_type == "SourceMissing"
            verdict: Verdict = "source missing" if missing else "error"
            return replace(base, verdict=verdict, error=prepared.failure.message)
        if prepared.identity.content_hash != latest.identity.content_hash:
            changed = (
                f"its content (sha256 {prepared.identity.content_hash[:16]}) is not what load "
                f"#{latest.ledger_id} merged ({latest.identity.content_hash[:16]})"
            )
            return replace(base, verdict="source changed", error=changed)
        assert prepared.staging is not None
        return _compare(session, base, prepared.staging.rows)
    finally:
        prepared.discard()


def _loaded_version(source: Source, version: str | None, s3: Any) -> tuple[Source, str | None]:
    """The S3 object at the version its latest load recorded, and a note when the object was
    overwritten since (or that version is gone)."""
    if not isinstance(source, S3Object) or source.version_id or not version:
        return source, None
    current = current_version(source, s3)
    if current == version:
        return replace(source, version_id=version), None
    if _exists(source, version, s3):
        note = (
            f"the object was overwritten since its load (current version {current}): verified "
            f"against the version loaded, {version}"
        )
        return replace(source, version_id=version), note
    return source, f"version {version} that the ledger recorded is gone: read the current one"


def _compare(session: Session, base: Verification, rows: pl.DataFrame) -> Verification:
    mine = group_digests(rows)
    conn = session.connection()
    conn.start_transaction(isolation_level="READ COMMITTED")
    try:
        cur: Any = conn.cursor()
        theirs = digests_of_file_keys(cur, mine, rows, lock=False)  # read only: no locks
        differ = mine.join(theirs, on=KEYS[:2], how="left", suffix="_db").filter(
            (pl.col("rows") != pl.col("rows_db")).fill_null(True)
            | (pl.col("digest") != pl.col("digest_db")).fill_null(True)
        )
        stored = stored_rows(cur, differ.select(KEYS[:2])) if differ.height else None
    finally:
        conn.rollback()
    found = replace(base, rows=rows.height, groups=mine.height, digest=load_digest(mine))
    if stored is None:
        return found
    return _differences(session, found, rows, differ, stored)


def _differences(
    session: Session,
    base: Verification,
    rows: pl.DataFrame,
    differ: pl.DataFrame,
    stored: pl.DataFrame,
) -> Verification:
    """The keys of the differing groups, compared one by one: changed by a later load,
    deleted by a later snapshot of the date, or a difference."""
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
    key = base.source
    later = changed.filter(pl.col("stored_source").is_not_null() & (pl.col("stored_source") != key))
    missing = changed.filter(pl.col("stored_source").is_null())
    assert base.load_id is not None
    snapshots = lineage.later_snapshot_days(
        session.connection(), missing["d_trade"].unique().to_list(), base.load_id
    )
    session.connection().rollback()
    deleted = missing.filter(pl.col("d_trade").is_in(snapshots))
    explained = pl.concat([later.select(KEYS), deleted.select(KEYS)])
    wrong = changed.join(explained, on=KEYS, how="anti").sort(KEYS)
    listed = tuple(
        Difference(
            **{k: r[k] for k in (*KEYS, "expected_numeric", "expected_text")},
            stored_numeric=r["stored_numeric"],
            stored_text=r["stored_text"],
            missing=r["stored_source"] is None,
        )
        for r in wrong.head(MAX_LISTED).iter_rows(named=True)
    )
    verdict: Verdict = "differs" if wrong.height else "superseded" if explained.height else "match"
    return replace(
        base,
        verdict=verdict,
        differing=wrong.height,
        differences=listed,
        changed_by_later_loads=later.height,
        deleted_by_later_loads=deleted.height,
    )


def _attempts_note(session: Session, key: str) -> str:
    conn = session.connection()
    attempts = lineage.attempts_of(conn, key)
    conn.rollback()
    if not attempts:
        return "the ledger has no attempt to load it"
    status, error = attempts[-1]
    reason = f": {error.strip().splitlines()[0]}" if error and error.strip() else ""
    return f"{len(attempts)} attempt(s), none loaded; the last was {status}{reason}"


def _exists(source: S3Object, version: str, s3: Any) -> bool:
    from loader import aws

    client = s3 or aws.client("s3")
    try:
        client.head_object(Bucket=source.bucket, Key=source.key, VersionId=version)
    except Exception:
        return False
    return True
