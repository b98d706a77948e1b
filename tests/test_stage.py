"""The staging file's key order: the packed sort equals the plain sort of the key columns."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.prepare.keyorder import key_sorted

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


def test_group_digests_in_slices_never_split_a_group():
    """The digests are built a slice of rows at a time; a slice ends only where a group does,
    however long the group (one here is longer than the look-ahead window)."""
    from loader.prepare.digest import group_digests

    sizes = {"F1": 3, "F2": 700, "F3": 1, "F4": 40}
    rows = [
        (date(2025, 12, d), stock, f"{stock}-A", f"C{c:04d}", f"{c}.5")
        for d in (9, 10)
        for stock, size in sizes.items()
        for c in range(size)
    ]
    frame = pl.DataFrame(
        rows, schema=["d_trade", "stock", "ticker", "col_code", "value"], orient="row"
    ).select(
        "d_trade",
        *(pl.col(c).cast(pl.Categorical) for c in ("stock", "ticker", "col_code")),
        pl.col("value").cast(pl.Decimal(38, 12)).alias("value_numeric"),
        pl.lit(None, dtype=pl.String).alias("value_text"),
    )
    whole = group_digests(frame)
    assert whole.height == 8 and whole["rows"].to_list() == [3, 700, 1, 40] * 2
    for chunk_rows in (1, 2, 50, 701):
        assert group_digests(frame.reverse(), chunk_rows=chunk_rows).equals(whole), chunk_rows
