"""spec §1: delimiter, quoting, line endings, header, empty files, ragged rows, line numbers."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import HEADER, csv_bytes, parse, reject, rows_of


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_the_delimiter_is_detected_from_the_header(delimiter):
    data = csv_bytes(
        delimiter.join(["2025-12-09", "S", "T", "C", "1,5" if delimiter != "," else "1.5"]),
        header=delimiter.join(["d_trade", "stock", "ticker", "col_code", "value"]),
    )
    result = parse(data)
    assert result.delimiter == delimiter
    assert rows_of(result)[0][1:4] == ("S", "T", "C")


def test_header_names_are_trimmed_case_insensitive_and_may_be_quoted():
    data = csv_bytes("S,2025-12-09,1,C,T", header=' Stock ,"D_TRADE",VALUE,  col_code,"Ticker"  ')
    [row] = rows_of(parse(data))
    assert row == (date(2025, 12, 9), "S", "T", "C", Decimal(1), None)


def test_a_missing_required_column_rejects_the_file_naming_it():
    error = reject(csv_bytes("2025-12-09,S,T,1", header="d_trade,stock,ticker,value"))
    assert error.kind == "header"
    assert [(e.line, e.column) for e in error.errors] == [(1, "col_code")]
    assert "missing" in error.errors[0].reason


def test_extra_columns_are_ignored_and_named():
    data = csv_bytes(
        "x,2025-12-09,S,T,C,1,y", header="note,d_trade,stock,ticker,col_code,value,Source"
    )
    result = parse(data)
    assert result.extra_columns == ["note", "Source"]
    assert rows_of(result)[0][4] == Decimal(1)


def test_duplicate_header_names_reject_the_file():
    error = reject(csv_bytes("2025-12-09,S,T,C,1,2", header=HEADER + ",VALUE"))
    assert error.kind == "header" and error.errors[0].column == "VALUE"


def test_unnamed_columns_are_ignored_but_rows_keep_the_header_field_count():
    result = parse(csv_bytes("2025-12-09,S,T,C,1,", header=HEADER + ",,"[:-1]))
    assert result.extra_columns == [] and result.rows_read == 1
    error = reject(csv_bytes("2025-12-09,S,T,C,1", header=HEADER + ","))
    assert error.errors[0].line == 2 and "expected 6 fields, found 5" in error.errors[0].reason


@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"\n\n  \r\n\t\n", HEADER.encode(), (HEADER + "\r\n\r\n").encode()],
    ids=["zero-bytes", "bom-only", "blank-lines", "header-only", "header-and-blank"],
)
def test_empty_files_are_a_successful_load_of_zero_rows(data):
    result = parse(data)
    assert result.rows_read == 0 and result.row_count == 0 and result.errors == []


def test_blank_and_whitespace_lines_are_skipped_and_lines_stay_physical():
    data = csv_bytes(
        "", "2025-12-09,S,T,C,1", "   ", "\t", "2025-12-09,S2,T,C,bad date?", "2025-13-09,S3,T,C,1"
    )
    error = reject(data)
    assert [e.line for e in error.errors] == [7]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_lf_and_crlf_line_endings(newline):
    result = parse(csv_bytes("2025-12-09,S,T,C,text", "2025-12-09,S,T,D,2", newline=newline))
    assert [r[4:] for r in rows_of(result)] == [(None, "text"), (Decimal(2), None)]


def test_rfc4180_quoting():
    data = csv_bytes(
        '2025-12-09,"S,1",T,C,"a ""quoted"" word"',
        '2025-12-09,S2,T,C,"line one\r\nline two"',
        '2025-12-09,S3,T,C,"x\ny"',
    )
    rows = rows_of(parse(data))
    assert rows[0][1] == "S,1" and rows[0][5] == 'a "quoted" word'
    assert rows[1][5] == "line one\r\nline two"  # CR LF inside quotes kept as written
    assert rows[2][5] == "x\ny"


def test_an_error_after_multi_line_records_is_on_its_physical_line():
    data = csv_bytes(
        '2025-12-09,S,T,C,"a\nb\nc"', "2025-12-09,,T,C,1", '2025-12-09,S,T,C,"d\ne"', "x,S,T,C,1"
    )
    error = reject(data)
    assert [(e.line, e.column) for e in error.errors] == [(5, "stock"), (8, "d_trade")]


def test_an_error_inside_a_multi_line_record_is_reported_at_its_first_line():
    data = csv_bytes("2025-12-09,S,T,C,1", '2025-13-01,S,T,C,"one\ntwo"')
    assert reject(data).errors[0].line == 3


def test_ragged_rows_are_row_errors():
    error = reject(csv_bytes("2025-12-09,S,T,C", "2025-12-09,S,T,C,1,extra", "2025-12-09,S,T,C,1"))
    assert [(e.line, e.column) for e in error.errors] == [(2, None), (3, None)]
    assert "found 4" in error.errors[0].reason and "found 6" in error.errors[1].reason


@pytest.mark.parametrize("field", ['"never closed', 'a lone " quote'])
def test_an_unbalanced_quote_rejects_the_file_at_its_record(field):
    error = reject(
        csv_bytes("2025-12-09,S,T,C,1", f"2025-12-09,S,T,C,{field}", "2025-12-09,S,T,C,2")
    )
    assert error.errors[0].line == 3 and "unterminated" in error.errors[0].reason


@pytest.mark.parametrize(
    "field", ['ab"c"d', '"abc"def', '"a"b""'], ids=["inside", "after-closing", "unpaired-inside"]
)
def test_misplaced_quotes_are_row_errors(field):
    error = reject(csv_bytes("2025-12-09,S,T,C,1", f"2025-12-09,S,T,C,{field}"))
    assert error.errors[0].line == 3 and error.errors[0].column == "value"
    assert "quote" in error.errors[0].reason


@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u3000", "\x1c", "\u2009"])
@pytest.mark.parametrize("blank_line", [False, True], ids=["fast-path", "slow-path"])
def test_unicode_whitespace_is_trimmed_on_every_field_quoted_or_not(space, blank_line):
    s = space
    row = f'{s}2025-12-09{s},{s}S{s},"{s}T{s}",{s}C{s},"{s}text value{s}"'
    data = csv_bytes(*([row, ""] if blank_line else [row]))  # a blank line takes the slow path
    assert rows_of(parse(data))[0] == (date(2025, 12, 9), "S", "T", "C", None, "text value")


@pytest.mark.parametrize(
    "spelling", ["", "NULL", "null", "NuLl", "\\N", "\\n", '""', '"NULL"', '" \\N "', " "]
)
def test_empty_null_and_backslash_n_are_null_quoted_or_not(spelling):
    [row] = rows_of(parse(csv_bytes(f"2025-12-09,S,T,C,{spelling}")))
    assert row[4:] == (None, None)


def test_null_like_text_inside_longer_values_is_kept():
    rows = rows_of(parse(csv_bytes("2025-12-09,S,T,C,NULL value", "2025-12-09,S,T,D,a\\Nb")))
    assert [r[5] for r in rows] == ["NULL value", "a\\Nb"]


def test_control_characters_inside_values_are_kept():
    [row] = rows_of(parse(csv_bytes('2025-12-09,S,T,C,"a\x01b\x07c\x1bd"')))
    assert row[5] == "a\x01b\x07c\x1bd"


# -- property: whatever an RFC 4180 writer produces, the parser reads back ----------

text_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
).filter(lambda t: t.strip() == t and t and t.upper() not in ("NULL", "\\N"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(text_values, min_size=1, max_size=40),
    blank_lines=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    chunk=st.sampled_from([1024, 4096, 1 << 20]),
)
def test_any_csv_writer_output_reads_back(values, blank_lines, newline, chunk):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER.split(","))
    for i, value in enumerate(values):
        writer.writerow(["2025-12-09", f"S{i}", "T", "C", value])
        if blank_lines and i % 3 == 0:
            out.write(newline)
    result = parse(out.getvalue().encode("utf-8"), chunk_bytes=chunk)
    got = {r[1]: (r[4], r[5]) for r in rows_of(result)}
    for i, value in enumerate(values):
        numeric, text = got[f"S{i}"]
        if numeric is not None:
            assert text is None  # a number: checked exactly in test_values
        else:
            assert text == value


def test_results_do_not_depend_on_how_the_file_is_cut_into_pieces():
    rows = [
        f'2025-12-09,S{i},T,C{i % 7},"v ""{i}""\nnext"'
        if i % 5 == 0
        else f"2025-12-09,S{i},T,C{i % 7},{i}.5"
        for i in range(3000)
    ]
    rows[1500] = '2025-12-09,MANY,T,C,"' + "line\n" * 300 + 'end"'  # many LFs inside one quote
    data = csv_bytes(*rows)
    whole = rows_of(parse(data))
    assert any(r[1] == "MANY" and r[5].count("\n") == 300 for r in whole)
    for chunk in (1024, 3000, 65536):
        assert rows_of(parse(data, chunk_bytes=chunk)) == whole


def test_ragged_rows_whose_field_counts_cancel_out_are_still_row_errors():
    # 6 + 4 fields add up to 2 x 5: a count of delimiters alone would miss both
    error = reject(csv_bytes("2025-12-09,S,T,C,1,extra", "2025-12-09,S,T,C"))
    assert [(e.line, "found 6" in e.reason or "found 4" in e.reason) for e in error.errors] == [
        (2, True),
        (3, True),
    ]
    error = reject(csv_bytes("2025-12-09,S,T,C", "2025-12-09,S,T,C,1,extra"))
    assert [e.line for e in error.errors] == [2, 3]


@pytest.mark.parametrize("short", ["2025-12-09,S,T,", "2025-12-09,S,T,C", '2025-12-09,S,T,""'])
def test_a_short_record_among_regular_ones_is_a_row_error(short):
    rows = ["2025-12-09,S,T,C,1"] * 50 + [short] + ["2025-12-09,S,T,C,"] * 3
    error = reject(csv_bytes(*rows))
    assert [e.line for e in error.errors] == [52]
    assert "expected 5 fields, found 4" in error.errors[0].reason


def test_an_empty_last_field_is_not_a_short_record():
    result = parse(csv_bytes("2025-12-09,S,T,C,", "2025-12-09,S,T,D,1", '2025-12-09,S,T,E,""'))
    assert [r[4:] for r in rows_of(result)] == [(None, None), (Decimal(1), None), (None, None)]


def test_many_empty_last_fields_and_one_short_record():
    rows = ["2025-12-09,S,T,C,"] * 3000 + ["2025-12-09,S,T,C"]
    error = reject(csv_bytes(*rows))
    assert [e.line for e in error.errors] == [3002]
