"""Exact round trip through the staging file and LOAD DATA: text byte for byte, decimals exact."""

from datetime import date
from decimal import Decimal, localcontext

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.mysql import sql
from loader.mysql.connection import connect
from loader.parse.numbers import DECIMAL
from loader.prepare.stagedir import StagingDir
from loader.prepare.stagetext import write_staging_file
from tests.test_values import fitting

pytestmark = pytest.mark.db

# What the parse stage can produce as value_text: no NUL, no surrogates, no
# leading/trailing whitespace, never exactly NULL or \N, at most 65,535 bytes.
texts = (
    st.one_of(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            min_size=1,
            max_size=200,
        ),
        st.sampled_from(
            [
                "a\tb",
                "x\r\ny",
                "l1\nl2",
                '"q"',
                "back\\slash",
                "\\N inside",
                "NULL value",
                "\\",
                "\\\\N",
                "ไทย 🚀",
                "a\x01\x1b\x7fb",
                "end\\",
            ]
        ),
    )
    .map(lambda t: t.strip())
    .filter(lambda t: t and t.upper() not in ("NULL", "\\N"))
)
keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1, max_size=32
)


def roundtrip(config, frame: pl.DataFrame) -> list[tuple]:
    with StagingDir() as staging:
        conn = connect(config, staging_dir=staging.path)
        try:
            cur = conn.cursor()
            cur.execute(sql.CREATE_STAGE)
            cur.execute(sql.TRUNCATE_STAGE)
            path = staging.new_file()
            written = write_staging_file(frame, path, sort=False)
            cur.execute(sql.load_data(sql.STAGE_TABLE), (str(path),))
            assert (cur.rowcount, cur.warning_count) == (written, 0)
            cur.execute(f"SELECT stock, value_numeric, value_text FROM {sql.STAGE_TABLE}")
            return cur.fetchall()
        finally:
            conn.close()


def rows_frame(values: list[tuple[str, Decimal | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "d_trade": [date(2025, 12, 9)] * len(values),
            "stock": [v[0] for v in values],
            "ticker": ["T"] * len(values),
            "col_code": ["C"] * len(values),
            "value_numeric": pl.Series([v[1] for v in values], dtype=DECIMAL),
            "value_text": pl.Series([v[2] for v in values], dtype=pl.String),
        }
    ).with_columns(pl.col("stock", "ticker", "col_code").cast(pl.Categorical))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(keys, st.one_of(st.none(), fitting), st.one_of(st.none(), texts)),
        min_size=1,
        max_size=30,
    )
)
def test_any_value_reads_back_identical(db, values):
    with localcontext(prec=100):
        back = roundtrip(db, rows_frame(values))
    assert [(s, n, t) for s, n, t in back] == [
        (k, None if n is None else Decimal(n), t) for k, n, t in values
    ]
    for (_, _, sent), (_, _, got) in zip(values, back, strict=True):
        if sent is not None:
            assert got.encode("utf-8") == sent.encode("utf-8")


def test_a_65535_byte_text_reads_back_identical(db):
    longest = "ก" * 21_845  # 65,535 bytes of UTF-8
    mixed = ("\\\t\r\n" * 16_383) + "xyz"  # escapes double it in the file, not in the column
    back = roundtrip(db, rows_frame([("A", None, longest), ("B", None, mixed)]))
    assert [r[2] for r in back] == [longest, mixed]
