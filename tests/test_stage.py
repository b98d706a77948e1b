"""The staging file's key order: the packed sort equals the plain sort of the key columns."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.prepare.staging import key_sorted

keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4000), keys, keys, st.sampled_from(["NAV", "AUM", "BID", "Ä", "a"])
        ),
        min_size=0,
        max_size=60,
    ),
    st.booleans(),
)
def test_packed_key_order_is_byte_order(rows, categorical):
    start = date(1990, 1, 1)
    frame = pl.DataFrame(
        {
            "d_trade": [start + timedelta(days=d) for d, *_ in rows],
            "stock": [r[1] for r in rows],
            "ticker": [r[2] for r in rows],
            "col_code": [r[3] for r in rows],
            "line": list(range(len(rows))),
        },
        schema={
            "d_trade": pl.Date,
            "stock": pl.String,
            "ticker": pl.String,
            "col_code": pl.String,
            "line": pl.UInt32,
        },
    )
    if categorical:
        frame = frame.with_columns(pl.col("stock", "ticker", "col_code").cast(pl.Categorical))
    got = key_sorted(frame)
    as_bytes = sorted(
        zip(
            frame["d_trade"],
            frame["stock"].cast(pl.String),
            frame["ticker"].cast(pl.String),
            frame["col_code"].cast(pl.String),
            strict=True,
        ),
        key=lambda r: (r[0], r[1].encode(), r[2].encode(), r[3].encode()),
    )
    assert (
        list(
            zip(
                got["d_trade"],
                got["stock"].cast(pl.String),
                got["ticker"].cast(pl.String),
                got["col_code"].cast(pl.String),
                strict=True,
            )
        )
        == as_bytes
    )
