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
) -> np.ndarray | None:
    """One uint64 per row that is equal exactly when the composite keys are, or None.

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
    return key


def _last_of_each_key(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(stable key order, whether each sorted row is the last of its key); None when every
    key is distinct already (a key-ordered export)."""
    keys = packed_keys(chunks, codes_seen)
    if keys is not None:
        if bool((keys[1:] > keys[:-1]).all()):
            return None  # strictly increasing: all distinct
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        del keys
        last = np.ones(n, dtype=bool)
        last[:-1] = ordered[1:] != ordered[:-1]
        return order, last
    columns = [np.concatenate(parts) for parts in zip(*map(key_codes, chunks), strict=True)]
    order = np.lexsort(columns[::-1])
    different = np.zeros(n - 1, dtype=bool)
    for column in columns:
        ordered_column = column[order]
        different |= ordered_column[1:] != ordered_column[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = different
    return order, last


def deduplicate(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None = None
) -> tuple[list[pl.DataFrame], int, int]:
    """Keep the last row per key; count dropped rows and conflicting ones (spec §1.2).

    ``chunks`` are the batches of good rows in file order. Keys are compared
    as integers: the day number and the key strings' category codes, which
    are equal exactly when the strings are. A stable sort puts each key's
    rows together in file order, so the last of each run survives. Hashing
    four columns is several times slower. Survivors keep file order; batches
    are filtered one at a time, each let go of (``chunks`` is emptied) as its
    survivors are taken, so the file is never held twice.
    """
    n = sum(c.height for c in chunks)
    found = _last_of_each_key(chunks, codes_seen, n) if n else None
    if found is None:
        return chunks, 0, 0
    order, last = found
    duplicates = n - int(last.sum())
    if duplicates == 0:
        return chunks, 0, 0
    dropped = np.flatnonzero(~last)
    kept_for = _run_ends(dropped)
    values = pl.concat([c.select("value_numeric", "value_text") for c in chunks], rechunk=False)
    a, b = values[order[dropped]], values[order[kept_for]]
    del values
    differs = ~(a["value_numeric"].eq_missing(b["value_numeric"])) | ~(
        a["value_text"].eq_missing(b["value_text"])
    )
    conflicts = int(differs.sum())
    keep = np.empty(n, dtype=bool)
    keep[order] = last  # back to file order, without an index array of survivors
    del order, dropped, kept_for, last
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
