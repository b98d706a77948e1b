"""How many funds each trade date of a file holds (the rule that picks reading whole dates)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.prepare import digest

pairs = st.lists(
    st.tuples(st.integers(-3, 40), st.sampled_from(["A", "B", "C", "ä", "fund 9", "Z" * 20])),
    min_size=1,
    max_size=60,
)


@pytest.mark.parametrize("cells", [digest.FUNDS_TABLE_CELLS, 1])  # a table, or sorted pairs
@given(pairs=pairs, chunk_rows=st.integers(1, 7))
@settings(max_examples=60, deadline=None)
def test_funds_per_day_counts_each_dates_distinct_funds(cells, pairs, chunk_rows):
    first = date(1969, 12, 25)  # days before and after 1970: day numbers of both signs
    rows = pl.DataFrame(
        {
            "d_trade": [first + timedelta(days=d * 7) for d, _ in pairs],
            "stock": pl.Series([s for _, s in pairs], dtype=pl.Categorical),
        }
    )
    expected: dict[date, set[str]] = {}
    for d, s in pairs:
        expected.setdefault(first + timedelta(days=d * 7), set()).add(s)
    got = digest.funds_per_day(rows, chunk_rows=chunk_rows, table_cells=cells)
    assert got.schema == pl.Schema({"d_trade": pl.Date, "funds": pl.UInt32})
    assert got.rows() == sorted((day, len(funds)) for day, funds in expected.items())
    as_text = digest.funds_per_day(rows.with_columns(pl.col("stock").cast(pl.String)))
    assert as_text.rows() == got.rows()
