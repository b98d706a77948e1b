"""One key packer for the composite key, shared by the deduplication and the staging order.

The composite key is a day and three strings. Both users turn each string
into a small integer (a *rank*: dense over the codes a file uses for the
deduplication, lexical for the staging order) and pack the day and the three
ranks into one 64-bit word: equal words mean equal keys, and the words sort
as the ranks do. Sorting or comparing one integer column is several times
faster than four columns with three of strings. Keys too wide for 64 bits
(never seen in practice) get no packer: the caller takes its plain way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def bits_for(largest: int) -> int:
    """Bits needed for the integers 0..largest (at least one)."""
    return max(int(largest), 1).bit_length()


def dense_ranks(codes_present: np.ndarray) -> tuple[np.ndarray, int]:
    """A lookup from each category code present to its rank among them, and the rank bits."""
    present = np.sort(codes_present.astype(np.int64, copy=False))
    table = np.zeros(int(present[-1]) + 1 if len(present) else 1, dtype=np.uint64)
    table[present] = np.arange(len(present), dtype=np.uint64)
    return table, bits_for(len(present) - 1)


@dataclass(frozen=True, slots=True)
class KeyPacker:
    """Packs (day, rank, rank, rank) into one uint64, day in the high bits."""

    first_day: int
    lookups: tuple[np.ndarray, ...]
    """Per string column: category code -> rank."""
    widths: tuple[int, ...]

    @classmethod
    def build(
        cls, first_day: int, last_day: int, columns: Sequence[tuple[np.ndarray, int]]
    ) -> KeyPacker | None:
        """A packer for days ``first_day..last_day`` and these (lookup, bits) columns; None
        when the key does not fit in 64 bits."""
        widths = tuple(width for _, width in columns)
        if bits_for(last_day - first_day) + sum(widths) > 64:
            return None
        return cls(first_day, tuple(lookup for lookup, _ in columns), widths)

    def pack_into(self, out: np.ndarray, days: np.ndarray, codes: Sequence[np.ndarray]) -> None:
        """Write the packed keys of these rows into ``out`` (a uint64 array of their length).

        Works in place with one scratch array, so packing 10M rows costs the
        output and one more array, nothing per column.
        """
        np.subtract(days, self.first_day, out=out, casting="unsafe")
        scratch = np.empty(len(out), dtype=np.uint64)
        for lookup, code, width in zip(self.lookups, codes, self.widths, strict=True):
            np.take(lookup, code, out=scratch)
            out <<= np.uint64(width)
            out |= scratch

    def pack(self, days: np.ndarray, codes: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty(len(days), dtype=np.uint64)
        self.pack_into(out, days, codes)
        return out
