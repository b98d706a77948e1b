"""Deduplication on the composite key: the last row per key wins (spec §1.1, §1.2)."""

from __future__ import annotations

import numpy as np
import polars as pl

from loader.parse.keys import KeyPacker, dense_ranks
from loader.parse.result import KEY_COLUMNS, KEY_LIMITS


def key_codes(chunk: pl.DataFrame) -> list[np.ndarray]:
    """The day number and the three category codes of every row of one batch."""
    codes = chunk.select(
        pl.col("d_trade").to_physical(), *(pl.col(k).to_physical() for k in KEY_LIMITS)
    )
    return [codes[c].to_numpy() for c in KEY_COLUMNS]


def packed_keys(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None
) -> tuple[KeyPacker, np.ndarray] | None:
    """The packer and one uint64 per row that is equal exactly when the composite keys are,
    or None.

    Category codes are process-wide, so they are first renumbered densely
    over the codes this file uses; the widths then almost always add up to
    64 bits or less. Packing runs batch by batch into one preallocated array:
    fresh memory is what costs most here.
    """
    if codes_seen is None:
        codes_seen = {
            k: set(np.unique(np.concatenate([key_codes(c)[i] for c in chunks])).tolist())
            for i, k in enumerate(KEY_COLUMNS)
            if k in KEY_LIMITS
        }
    days = [c["d_trade"].to_physical() for c in chunks if c.height]
    first = min(int(d.min()) for d in days)  # type: ignore[arg-type]
    last = max(int(d.max()) for d in days)  # type: ignore[arg-type]
    columns = [
        dense_ranks(np.fromiter(codes_seen.get(column, ()), dtype=np.int64))
        for column in KEY_LIMITS
    ]
    packer = KeyPacker.build(first, last, columns)
    if packer is None:
        return None
    key = np.empty(sum(c.height for c in chunks), dtype=np.uint64)
    pos = 0
    for chunk in chunks:
        day, *codes = key_codes(chunk)
        packer.pack_into(key[pos : pos + len(day)], day, codes)
        pos += len(day)
    return packer, key


def _duplicated_keys(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None
) -> tuple[KeyPacker, np.ndarray] | None:
    """(the packer, the sorted distinct packed keys that occur more than once), or None when
    the keys do not fit in 64 bits.

    The only full-length array is the packed keys, sorted in place: a file
    with no duplicates (the usual case) costs 8 bytes a row and nothing more.
    """
    found = packed_keys(chunks, codes_seen)
    if found is None:
        return None
    packer, keys = found
    if bool((keys[1:] > keys[:-1]).all()):
        return packer, np.empty(0, dtype=np.uint64)  # strictly increasing: all distinct
    keys.sort()
    repeated = keys[1:][keys[1:] == keys[:-1]]
    del keys
    return packer, np.unique(repeated)


def _rows_of_keys(
    chunks: list[pl.DataFrame], packer: KeyPacker, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """File positions and packed keys of the rows whose key is one of ``wanted`` (sorted).

    The keys are packed again a batch at a time, so nothing here is the
    file's length but the answer.
    """
    positions: list[np.ndarray] = []
    found: list[np.ndarray] = []
    pos = 0
    for chunk in chunks:
        day, *codes = key_codes(chunk)
        keys = packer.pack(day, codes)
        at = np.searchsorted(wanted, keys).clip(max=len(wanted) - 1)
        hit = np.flatnonzero(wanted[at] == keys)
        positions.append(hit + pos)
        found.append(keys[hit])
        pos += len(day)
    return np.concatenate(positions), np.concatenate(found)


def _dropped_rows(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(file positions of the rows a later row of the same key replaces, the file position
    of that key's survivor for each), both in the order of the sorted keys."""
    duplicated = _duplicated_keys(chunks, codes_seen)
    if duplicated is not None:
        packer, wanted = duplicated
        if len(wanted) == 0:
            return wanted.astype(np.int64), wanted.astype(np.int64)
        positions, keys = _rows_of_keys(chunks, packer, wanted)
        order = np.argsort(keys, kind="stable")  # each key's rows together, in file order
        positions, keys = positions[order], keys[order]
        last = np.ones(len(keys), dtype=bool)
        last[:-1] = keys[1:] != keys[:-1]
    else:
        columns = [np.concatenate(parts) for parts in zip(*map(key_codes, chunks), strict=True)]
        positions = np.lexsort(columns[::-1])
        different = np.zeros(n - 1, dtype=bool)
        for column in columns:
            ordered_column = column[positions]
            different |= ordered_column[1:] != ordered_column[:-1]
        last = np.ones(n, dtype=bool)
        last[:-1] = different
    dropped = np.flatnonzero(~last)
    return positions[dropped], positions[_run_ends(dropped)]


def deduplicate(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None = None
) -> tuple[list[pl.DataFrame], int, int]:
    """Keep the last row per key; count dropped rows and conflicting ones (spec §1.2).

    ``chunks`` are the batches of good rows in file order. Keys are compared
    as integers: the day number and the key strings' category codes, which
    are equal exactly when the strings are. The packed keys are sorted once
    to find the keys that repeat; only those keys' rows are then ordered
    (stably, so the last of each run survives). Hashing four columns is
    several times slower. Survivors keep file order; batches are filtered
    one at a time, each let go of (``chunks`` is emptied) as its survivors
    are taken, so the file is never held twice.
    """
    n = sum(c.height for c in chunks)
    if n == 0:
        return chunks, 0, 0
    dropped, kept_for = _dropped_rows(chunks, codes_seen, n)
    duplicates = len(dropped)
    if duplicates == 0:
        return chunks, 0, 0
    values = pl.concat([c.select("value_numeric", "value_text") for c in chunks], rechunk=False)
    a, b = values[dropped], values[kept_for]
    del values
    differs = ~(a["value_numeric"].eq_missing(b["value_numeric"])) | ~(
        a["value_text"].eq_missing(b["value_text"])
    )
    conflicts = int(differs.sum())
    keep = np.ones(n, dtype=bool)
    keep[dropped] = False
    del dropped, kept_for
    kept: list[pl.DataFrame] = []
    pos = 0
    chunks.reverse()
    while chunks:  # each batch is let go as soon as its survivors are taken
        chunk = chunks.pop()
        mask = keep[pos : pos + chunk.height]
        pos += chunk.height
        kept.append(chunk if mask.all() else chunk.filter(pl.Series(mask)))
        del chunk
    return kept, duplicates, conflicts


def _run_ends(dropped: np.ndarray) -> np.ndarray:
    """For each dropped sorted position, the position of its run's survivor.

    Dropped positions of one key are contiguous and its survivor follows
    them; two keys' dropped positions are always separated by a survivor.
    Only arrays the size of ``dropped`` are made.
    """
    if len(dropped) == 0:
        return dropped
    block_end = np.empty(len(dropped), dtype=bool)
    block_end[-1] = True
    block_end[:-1] = dropped[1:] != dropped[:-1] + 1
    survivors = dropped[block_end] + 1
    block = np.concatenate(([0], np.cumsum(block_end[:-1])))
    return survivors[block]
