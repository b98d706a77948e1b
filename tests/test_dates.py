"""spec §1.1 and §1.2: the four date formats, the midnight suffix, day/month order, years."""

from datetime import date

import pytest

from tests.conftest import csv_bytes, parse, reject, rows_of


def dates_of(*d_trades: str, **settings):
    result = parse(csv_bytes(*(f"{d},S{i},T,C,1" for i, d in enumerate(d_trades))), **settings)
    return result, [r[0] for r in rows_of(result)]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("2025-12-09", "YYYY-MM-DD"),
        ("20251209", "YYYYMMDD"),
        ("12/09/2025", "MM/DD/YYYY"),
        ("2025-12-09 00:00:00.000", "YYYY-MM-DD"),
        ("2025-12-09T00:00", "YYYY-MM-DD"),
        ("2025-12-09 00:00:00", "YYYY-MM-DD"),
        ("2025-12-09 00:00:00.0000000", "YYYY-MM-DD"),
        ("20251209 00:00:00.0", "YYYYMMDD"),
        ("12/9/2025 00:00:00.000", "MM/DD/YYYY"),
    ],
)
def test_accepted_formats_with_or_without_the_midnight_suffix(text, fmt):
    result, days = dates_of(text)
    assert days == [date(2025, 12, 9)]
    assert result.date_format == fmt


@pytest.mark.parametrize(
    "text",
    ["2025-12-09 13:45:00", "2025-12-09 00:00:01", "2025-12-09 00:00:00.0001", "20251209T10:00"],
)
def test_a_non_midnight_time_is_an_error(text):
    error = reject(csv_bytes(f"{text},S,T,C,1"))
    assert error.errors[0].column == "d_trade" and "not midnight" in error.errors[0].reason


@pytest.mark.parametrize(
    "text",
    [
        "2025-12-9",
        "2025/12/09",
        "09.12.2025",
        "Dec 9 2025",
        "2025-12-09 00:00:00.00000000",
        "٢٠٢٥-١٢-٠٩",
    ],
)
def test_other_shapes_are_not_dates(text):
    error = reject(csv_bytes(f"{text},S,T,C,1"))
    assert (error.errors[0].line, error.errors[0].column) == (2, "d_trade")


@pytest.mark.parametrize(
    ("text", "ok"),
    [("1900-01-01", True), ("2100-12-31", True), ("1899-12-31", False), ("2101-01-01", False)],
)
def test_years_outside_1900_2100_are_errors(text, ok):
    if ok:
        assert dates_of(text)[1] == [date.fromisoformat(text)]
    else:
        assert "outside 1900..2100" in reject(csv_bytes(f"{text},S,T,C,1")).errors[0].reason


def test_buddhist_era_years_are_errors_unless_converted():
    assert "outside" in reject(csv_bytes("2568-12-09,S,T,C,1")).errors[0].reason
    assert dates_of("2568-12-09", buddhist_era=True)[1] == [date(2025, 12, 9)]
    assert dates_of("09/12/2568", buddhist_era=True, default_date_order="day-first")[1] == [
        date(2025, 12, 9)
    ]


@pytest.mark.parametrize("text", ["2025-02-29", "2025-04-31", "20251301", "2025-00-10"])
def test_impossible_calendar_dates_are_errors(text):
    assert "valid" in reject(csv_bytes(f"{text},S,T,C,1")).errors[0].reason


def test_leap_days():
    assert dates_of("2024-02-29")[1] == [date(2024, 2, 29)]
    assert dates_of("2000-02-29")[1] == [date(2000, 2, 29)]
    reject(csv_bytes("1900-02-29,S,T,C,1"))


def test_a_first_part_over_12_proves_day_first():
    result, days = dates_of("03/04/2025", "25/12/2025")
    assert (result.date_order, result.date_order_proven) == ("day-first", True)
    assert result.date_format == "DD/MM/YYYY"
    assert days == [date(2025, 4, 3), date(2025, 12, 25)]


def test_a_second_part_over_12_proves_month_first():
    result, days = dates_of("03/04/2025", "12/25/2025")
    assert (result.date_order, result.date_order_proven) == ("month-first", True)
    assert days == [date(2025, 3, 4), date(2025, 12, 25)]


@pytest.mark.parametrize("order", ["month-first", "day-first"])
def test_no_proof_uses_the_configured_default_and_says_so(order):
    result, days = dates_of("03/04/2025", "1/2/2025", default_date_order=order)
    assert (result.date_order, result.date_order_proven) == (order, False)
    expected = (
        [date(2025, 3, 4), date(2025, 1, 2)]
        if order == "month-first"
        else [date(2025, 4, 3), date(2025, 2, 1)]
    )
    assert days == expected


@pytest.mark.parametrize("proof", ["25/12/2025", "12/25/2025"])
def test_proof_late_in_the_file_decides_the_order_of_every_earlier_row(proof):
    rows = [f"0{1 + i % 9}/1{i % 3}/2025,S{i},T,C,{i}" for i in range(120_000)]
    rows.append(f"{proof},LATE,T,C,1")
    result = parse(csv_bytes(*rows))
    day_first = proof.startswith("25")
    assert result.date_order == ("day-first" if day_first else "month-first")
    assert result.date_order_proven
    first = rows_of(result)[0]
    assert first[0] == (date(2025, 10, 1) if day_first else date(2025, 1, 10))


def test_proof_of_both_orders_rejects_the_file():
    error = reject(csv_bytes("25/12/2025,S,T,C,1", "01/01/2025,S,T,C,1", "12/25/2025,S2,T,C,1"))
    assert error.kind == "rows"
    assert error.errors[0].line == 4 and "both" in error.errors[0].reason


def test_a_second_date_format_rejects_the_whole_file_even_with_an_allowance():
    data = csv_bytes("2025-12-09,S,T,C,1", "2025-12-09 00:00:00,S2,T,C,1", "20251210,S3,T,C,1")
    error = reject(
        data, max_bad_rows=__import__("loader.settings").settings.BadRowAllowance(count=100)
    )
    assert error.errors[0].line == 4 and "YYYYMMDD" in error.errors[0].reason


def test_an_invalid_date_still_counts_for_the_one_format_rule():
    error = reject(csv_bytes("2025-12-09,S,T,C,1", "02/30/2025,S2,T,C,1"))
    assert "differs" in error.errors[0].reason and error.errors[0].line == 3


def test_report_fields_for_non_slash_and_empty_files():
    result, _ = dates_of("20251209")
    assert (result.date_format, result.date_order, result.date_order_proven) == (
        "YYYYMMDD",
        None,
        None,
    )
    empty = parse(csv_bytes())
    assert empty.date_format is None and empty.date_order is None


def test_a_late_proof_reorders_dates_whose_parts_are_12():
    # read month-first until the proof; 03/12 was March 12 then, and must become 3 December
    result, days = dates_of("03/12/2025", "12/12/2025", "12/01/2025", "13/01/2025")
    assert result.date_order == "day-first"
    assert days == [date(2025, 12, 3), date(2025, 12, 12), date(2025, 1, 12), date(2025, 1, 13)]
