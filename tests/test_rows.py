"""spec §1.1: keys, deduplication, bad rows (strict and with an allowance)."""

from datetime import date
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.errors import FileRejected, RowError
from loader.outcome import outcome_of
from loader.parse import dedup
from loader.rejects import rejects_path, write_rejects_file
from loader.settings import BadRowAllowance
from tests.conftest import csv_bytes, parse, reject, rows_of


def test_keys_are_trimmed():
    [row] = rows_of(parse(csv_bytes(" 2025-12-09 ,  KFAFIX\t,\u00a0KFAFIX-A , NAV ,1")))
    assert row[:4] == (date(2025, 12, 9), "KFAFIX", "KFAFIX-A", "NAV")


@pytest.mark.parametrize("column", ["stock", "ticker", "col_code", "d_trade"])
@pytest.mark.parametrize("blank", ["", "   ", "NULL", "\\N", '""'])
def test_empty_keys_are_row_errors(column, blank):
    fields = {"d_trade": "2025-12-09", "stock": "S", "ticker": "T", "col_code": "C"}
    fields[column] = blank
    line = ",".join([fields["d_trade"], fields["stock"], fields["ticker"], fields["col_code"], "1"])
    error = reject(csv_bytes("2025-12-09,OK,T,C,1", line))
    assert [(e.line, e.column) for e in error.errors] == [(3, column)]
    assert "empty" in error.errors[0].reason


@pytest.mark.parametrize(("column", "limit"), [("stock", 32), ("ticker", 32), ("col_code", 64)])
def test_key_length_limits_count_characters(column, limit):
    fields = {"stock": "S", "ticker": "T", "col_code": "C"}
    fields[column] = "ก" * limit  # 3 bytes each: the limit is in characters
    ok = parse(csv_bytes(f"2025-12-09,{fields['stock']},{fields['ticker']},{fields['col_code']},1"))
    assert ok.row_count == 1
    fields[column] = "x" * (limit + 1)
    error = reject(
        csv_bytes(f"2025-12-09,{fields['stock']},{fields['ticker']},{fields['col_code']},1")
    )
    assert error.errors[0].column == column and f"longer than {limit}" in error.errors[0].reason


def test_key_case_and_spacing_inside_are_significant():
    result = parse(
        csv_bytes("2025-12-09,abc,T,C,1", "2025-12-09,ABC,T,C,2", "2025-12-09,a bc,T,C,3")
    )
    assert result.row_count == 3 and result.duplicates_in_file == 0


def test_the_last_occurrence_wins_and_duplicates_are_counted():
    data = csv_bytes(
        "2025-12-09,S,T,C,1.50",
        "2025-12-09,S,T,D,x",
        "2025-12-09,S,T,C,1.5",
        "2025-12-09 00:00:00,S,T,D,y",  # the same key as line 3 once the date is read
        "2025-12-09,S,T,C,2",  # the survivor for C
    )
    result = parse(data)
    assert result.rows_read == 5
    assert result.duplicates_in_file == 3
    # dropped: line 2 (1.50 vs survivor 2), line 3 (x vs y), line 4 (1.5 vs 2)
    assert result.conflicting_duplicates == 3
    assert sorted((r[3], r[4], r[5]) for r in rows_of(result)) == [
        ("C", Decimal(2), None),
        ("D", None, "y"),
    ]


def test_equal_values_in_different_notation_do_not_conflict_but_too_large_texts_do():
    result = parse(
        csv_bytes(
            "2025-12-09,S,T,C,1.50",
            "2025-12-09,S,T,C,1.5",
            "2025-12-09,S,T,D,1E+26",
            "2025-12-09,S,T,D,1.0E+26",
        )
    )
    assert (result.duplicates_in_file, result.conflicting_duplicates) == (2, 1)


@pytest.mark.parametrize(
    ("earlier", "later", "conflicts"),
    [("1", "NULL", 1), ("NULL", "1", 1), ("", "NULL", 0), ("text", "", 1), ("x", "x", 0)],
)
def test_a_null_value_conflicts_with_a_non_null_one(earlier, later, conflicts):
    result = parse(csv_bytes(f"2025-12-09,S,T,C,{earlier}", f"2025-12-09,S,T,C,{later}"))
    assert (result.duplicates_in_file, result.conflicting_duplicates) == (1, conflicts)


def test_survivors_keep_file_order_and_their_line():
    result = parse(csv_bytes("2025-12-09,B,T,C,1", "2025-12-09,A,T,C,2", "2025-12-09,B,T,C,3"))
    assert [(r[1], r[4]) for r in rows_of(result)] == [("A", Decimal(2)), ("B", Decimal(3))]
    assert result.rows["line"].to_list() == [3, 4]


keys = st.tuples(
    st.sampled_from(["2025-12-09", "2025-12-10", "20251209"][:2]),
    st.sampled_from(["S1", "S2", "ก"]),
    st.sampled_from(["T1", "T2"]),
    st.sampled_from(["C1", "C2", "C3"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(keys, st.integers(0, 3)), min_size=1, max_size=80), st.booleans())
def test_deduplication_keeps_the_last_row_per_key(rows, packed):
    data = csv_bytes(*(f"{d},{s},{t},{c},{v}" for (d, s, t, c), v in rows))
    expected: dict[tuple[str, ...], int] = {}
    for key, value in rows:
        expected.pop(key, None)
        expected[key] = value  # re-insert: dict order = order of last occurrence
    original = dedup.packed_keys
    if not packed:  # exercise the fallback that sorts the four columns
        dedup.packed_keys = lambda *a: None
    try:
        result = parse(data)
    finally:
        dedup.packed_keys = original
    got = [(r[0].isoformat(), r[1], r[2], r[3], int(r[4])) for r in rows_of(result)]
    assert got == [(*k, v) for k, v in expected.items()]
    assert result.duplicates_in_file == len(rows) - len(expected)
    last = {}
    conflicts = 0
    for key, value in reversed(rows):
        if key in last:
            conflicts += value != last[key]
        else:
            last[key] = value
    assert result.conflicting_duplicates == conflicts


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(keys, st.integers(0, 3)), min_size=1, max_size=60),
    st.lists(st.integers(1, 7), min_size=1, max_size=20),
)
def test_deduplication_across_batches_keeps_the_last_row_per_key(rows, cuts):
    """The batches' rows are one file: positions carry across batch boundaries."""
    from loader.parse.numbers import DECIMAL

    frame = pl.DataFrame(
        {
            "d_trade": [date.fromisoformat(d) for (d, _, _, _), _ in rows],
            "stock": [s for (_, s, _, _), _ in rows],
            "ticker": [t for (_, _, t, _), _ in rows],
            "col_code": [c for (_, _, _, c), _ in rows],
            "value_numeric": [Decimal(v) for _, v in rows],
            "value_text": [None] * len(rows),
            "line": list(range(2, len(rows) + 2)),
        },
        schema_overrides={"value_numeric": DECIMAL, "value_text": pl.String, "line": pl.UInt32},
    ).with_columns(pl.col("stock", "ticker", "col_code").cast(pl.Categorical))
    chunks, start = [], 0
    for size in cuts * (len(rows) // sum(cuts) + 1):
        if start < len(rows):
            chunks.append(frame.slice(start, size))
            start += size
    kept, duplicates, conflicts = dedup.deduplicate(chunks)
    expected: dict[tuple[str, ...], tuple[int, int]] = {}
    for line, (key, value) in enumerate(rows, start=2):
        expected.pop(key, None)
        expected[key] = (line, value)
    got = pl.concat(kept) if kept else frame.clear()
    assert got["line"].to_list() == [line for line, _ in expected.values()]
    assert duplicates == len(rows) - len(expected)
    later = {key: value for key, (_, value) in expected.items()}
    assert conflicts == sum(
        value != later[key]
        for line, (key, value) in enumerate(rows, start=2)
        if expected[key][0] != line
    )


# -- bad rows --------------------------------------------------------------------


def bad_file(bad: int, good: int = 10) -> bytes:
    rows = [f"2025-12-09,S{i},T,C,{i}" for i in range(good)]
    rows += [f"2025-13-{i % 28 + 1:02d},B{i},T,C,1" for i in range(bad)]
    return csv_bytes(*rows)


def test_strict_mode_rejects_the_file_listing_the_first_100_errors():
    error = reject(bad_file(150))
    assert isinstance(error, FileRejected) and error.kind == "rows"
    assert len(error.errors) == 100 and error.error_count == 150
    assert [e.line for e in error.errors] == list(range(12, 112))
    assert all(e.column == "d_trade" for e in error.errors)


def test_errors_are_values_with_fields():
    error = reject(bad_file(1))
    as_dict = error.to_dict()
    assert as_dict["type"] == "FileRejected" and as_dict["source"] == "test.csv"
    assert outcome_of(error).status == "rejected"  # a bad file: never retried
    assert as_dict["errors"][0] == {
        "line": 12,
        "column": "d_trade",
        "reason": error.errors[0].reason,
    }
    assert RowError(3, None, "x", 7).to_dict() == {
        "line": 3,
        "column": None,
        "reason": "x",
        "offset": 7,
    }
    assert "line 12" in str(error)


def test_several_errors_in_one_row_are_all_listed_in_column_order():
    error = reject(csv_bytes("bad,,T," + "c" * 70 + ",1"))
    assert [e.column for e in error.errors] == ["d_trade", "stock", "col_code"]
    assert error.error_count == 3


def test_an_allowance_count_loads_good_rows_and_returns_the_rejects(tmp_path):
    result = parse(bad_file(3), max_bad_rows=BadRowAllowance(count=3))
    assert (result.rows_read, result.row_count, result.rejected_rows) == (13, 10, 3)
    assert result.rejects is not None and result.rejects.height == 3
    first = result.rejects.sort("line").row(0, named=True)
    assert first["line"] == 12 and first["stock"] == "B0" and "d_trade" in first["reason"]
    written = write_rejects_file(result.rejects, tmp_path / "x.csv.rejects.csv")
    assert written is not None
    assert written.read_text().splitlines()[0] == "line,d_trade,stock,ticker,col_code,value,reason"
    assert rejects_path("raw/x.csv").name == "x.csv.rejects.csv"


def test_over_the_allowance_the_file_is_rejected():
    error = reject(bad_file(4), max_bad_rows=BadRowAllowance(count=3))
    assert error.error_count == 4


def test_an_allowance_fraction_counts_against_rows_read():
    assert parse(bad_file(1, good=9), max_bad_rows=BadRowAllowance(fraction=0.1)).rejected_rows == 1
    reject(bad_file(2, good=9), max_bad_rows=BadRowAllowance(fraction=0.1))


def test_ragged_rows_count_as_bad_rows_under_an_allowance():
    result = parse(
        csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,S,T"), max_bad_rows=BadRowAllowance(count=1)
    )
    assert result.rejected_rows == 1 and result.rejects["reason"].to_list() == [
        "expected 5 fields, found 3"
    ]


def test_every_column_of_a_parsed_file_is_cut_at_the_same_rows():
    # Polars copies a whole frame whose columns are chunked differently to select or drop one
    # of them: for a 10M-row file, a second copy of the rows (docs/parsing.md, "Memory")
    rows = [
        f"2025-12-{1 + i % 9:02d},S{i % 997},T{i % 13},C{i % 7},"
        + (f"{i}.{i % 1000:03d}" if i % 11 else "n/a")
        for i in range(200_000)
    ]
    result = parse(csv_bytes(*rows), chunk_bytes=1 << 20)
    chunks = result.rows.n_chunks("all")
    assert chunks[0] > 1, "the file was parsed in one piece: nothing to align"
    assert len(set(chunks)) == 1, dict(zip(result.rows.columns, chunks, strict=True))
