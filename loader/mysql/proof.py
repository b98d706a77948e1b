"""The proof of a load: inside the merge's transaction, fund_data holds every key of the
file with exactly the file's values (``--verify``, ``FUNDSYNC_VERIFY=1``), and the load
digest the ledger records.

Per (trade date, fund) group, the server's count and digest of what it holds over the
file's keys (:func:`loader.mysql.digest.server_digests`) against the staged rows' own
digests (:meth:`~loader.prepare.staging.StagedRows.digests`). The groups the digest
pre-pass already proved equal under this transaction's locks are not read again.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from loader.errors import VerificationFailed
from loader.mysql import sql
from loader.mysql.digest import SCHEMA, reads_whole_days, server_digests, stored_rows
from loader.prepare.digest import NUMERIC_DTYPE, group_digests, keys_frame, load_digest
from loader.prepare.staging import StagedRows


def verify_load(
    cur: Any,
    key: str,
    staging: StagedRows,
    proven: pl.DataFrame | None = None,
    kept_newer: pl.DataFrame | None = None,
) -> str:
    """Prove, inside the merge's transaction, that fund_data holds every key of the file with
    exactly the file's values; returns the load digest (:func:`load_digest`).

    The client's group digests are the staged rows' own (computed once); ``proven``: groups the
    pre-pass proved equal under this transaction's shared locks (not read again);
    ``kept_newer``: keys left as a newer file wrote them (not the file's to prove). A group
    the server holds more rows of than the file (keys the file lacks: an upsert keeps them)
    is compared over the file's keys only. Raises :class:`VerificationFailed` with both
    load digests.
    """
    rows = staging.rows
    if kept_newer is not None and not kept_newer.is_empty():
        rows = rows.with_columns(
            pl.col(c).cast(pl.String) for c in ("stock", "ticker", "col_code")
        ).join(kept_newer, on=["d_trade", "stock", "ticker", "col_code"], how="anti")
        mine = group_digests(rows)
    else:
        mine = staging.digests()
    if mine.is_empty():
        return load_digest(mine)
    check = mine if proven is None else mine.join(proven, on=["d_trade", "stock"], how="anti")
    if check.is_empty():  # every group proven by the pre-pass, under this transaction's locks
        return load_digest(mine)
    whole = check.height * 2 >= mine.height  # else name the funds: a correction's few
    theirs = digests_of_file_keys(cur, check, rows, whole)
    expected = load_digest(check)
    found = load_digest(theirs)
    if expected == found:
        return load_digest(mine)
    differ = check.join(theirs, on=["d_trade", "stock"], how="left", suffix="_found").filter(
        (pl.col("rows") != pl.col("rows_found")).fill_null(True)
        | (pl.col("digest") != pl.col("digest_found")).fill_null(True)
    )
    first = differ.row(0, named=True) if differ.height else {}
    raise VerificationFailed(
        f"{key}: after the merge fund_data does not hold the file's values in "
        f"{differ.height} (trade date, fund) group(s); first {first.get('d_trade')} "
        f"{first.get('stock')!r}: expected {first.get('rows')} rows with digest "
        f"{first.get('digest')}, found {first.get('rows_found')} with "
        f"{first.get('digest_found')}; load digest expected {expected}, found {found}; "
        "rolled back",
        expected,
        found,
    )


def digests_of_file_keys(
    cur: Any, check: pl.DataFrame, rows: pl.DataFrame, whole: bool = True, lock: bool = True
) -> pl.DataFrame:
    """The server's digests of the groups in ``check``, over the file's keys only.

    A group the server holds more rows of than the file (keys an upsert keeps), or one too
    long for the server to digest, is read row by row and digested here over the file's
    keys, in statements of bounded size: no group is too large to prove. ``whole``: the
    groups are most of their dates' funds, so read whole dates when they are many (else
    name the funds)."""
    if check.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    funds = check.group_by("d_trade").agg(pl.len().alias("funds"))
    whole = whole and reads_whole_days(funds)
    theirs = server_digests(cur, check.select("d_trade", "stock"), whole_days=whole, lock=lock)
    theirs = theirs.join(check.select("d_trade", "stock"), on=["d_trade", "stock"], how="semi")
    by_rows = (
        theirs.join(check, on=["d_trade", "stock"], suffix="_file")
        .filter((pl.col("rows") > pl.col("rows_file")) | pl.col("digest").is_null())
        .select("d_trade", "stock")
    )
    if by_rows.is_empty():
        return theirs
    return pl.concat(
        [
            theirs.join(by_rows, on=["d_trade", "stock"], how="anti"),
            _digests_of_stored(cur, rows, by_rows),
        ]
    )


def _digests_of_stored(cur: Any, rows: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """The digests of what fund_data holds in ``groups``, over the file's keys, computed here
    from the rows read back (the same canonical text as the server's)."""
    file_keys = keys_frame(rows).join(groups, on=["d_trade", "stock"], how="semi")
    stored = stored_rows(cur, groups).join(file_keys, on=list(sql.KEY_COLUMNS), how="semi")
    held = stored.select(
        *sql.KEY_COLUMNS,
        pl.col("stored_numeric").cast(NUMERIC_DTYPE).alias("value_numeric"),
        pl.col("stored_text").alias("value_text"),
    )
    return group_digests(held).select(list(SCHEMA))
