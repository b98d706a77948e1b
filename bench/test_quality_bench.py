"""Micro-benchmark of the quality gate's profile of a backfill file (pytest-benchmark): each
trade date's rows filtered from the file, against gathered by their run of the key order
(the key order's own sort counted, as the gate may have to sort for it). Run with
``just bench-stages``."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from loader.mysql import quality
from loader.prepare.keyorder import key_order

ROWS, DATES, FUNDS, CODES = 2_000_000, 500, 2_000, 20


@pytest.fixture(scope="module")
def backfill() -> pl.DataFrame:
    """A file of many trade dates in shuffled order (as a backfill export may be written)."""
    rng = np.random.default_rng(20251209)
    first = (date(2024, 1, 1) - date(1970, 1, 1)).days
    i = np.arange(ROWS)
    return pl.DataFrame(
        {
            "d_trade": pl.Series((rng.integers(0, DATES, ROWS) + first).astype(np.int32)).cast(
                pl.Date
            ),
            "stock": pl.Series([f"F{f:05d}" for f in i % FUNDS], dtype=pl.Categorical),
            "ticker": pl.Series([f"F{f:05d}-A" for f in i % FUNDS], dtype=pl.Categorical),
            "col_code": pl.Series(
                [f"C{c:02d}" for c in (i // FUNDS) % CODES], dtype=pl.Categorical
            ),
            "value_numeric": pl.Series(rng.integers(0, 10**9, ROWS)).cast(pl.Decimal(38, 12)),
            "value_text": pl.Series([None] * ROWS, dtype=pl.Categorical),
        }
    )


@pytest.mark.parametrize("by", ["filter", "key order"])
def test_profile_of_a_backfill(benchmark, backfill, by):
    days = {date(2024, 1, 1) + timedelta(days=d) for d in range(DATES)}

    def run():
        order = key_order(backfill) if by == "key order" else None
        return quality.profile(backfill, days, order)

    funds, codes = benchmark.pedantic(run, rounds=3, iterations=1)
    assert funds["row_count"].sum() == ROWS and codes.height == DATES * CODES
    benchmark.extra_info["rows"] = ROWS
    benchmark.extra_info["dates"] = DATES
