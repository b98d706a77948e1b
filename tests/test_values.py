"""spec §1.1 and §1.2: the value grammar, exactness in DECIMAL(38,12), text kept verbatim."""

from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import csv_bytes, one_value, parse, reject, values_of

D = Decimal


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("12.5", D("12.5")),
        ("-12.5", D("-12.5")),
        ("+7", D(7)),
        (".5", D("0.5")),
        ("5.", D(5)),
        ("-.5", D("-0.5")),
        ("1,234,567.89", D("1234567.89")),
        ("-1,234", D(-1234)),
        ("(12.50)", D("-12.5")),
        ("(1,000)", D(-1000)),
        ("1.5E+3", D(1500)),
        ("1.5e3", D(1500)),
        ("15E-1", D("1.5")),
        ("2e-12", D("2E-12")),
        ("-0", D(0)),
        ("0e999999999999", D(0)),
        ("1.5000000000000000", D("1.5")),
        ("00000000000000000000000000000042", D(42)),
        ("99999999999999999999999999.999999999999", D("99999999999999999999999999.999999999999")),
        ("1E+25", D("1E+25")),
        ("(1.5E2)", D(-150)),
    ],
)
def test_numbers_become_exact_decimals(written, expected):
    numeric, text = one_value(written)
    assert text is None
    assert numeric == expected


@pytest.mark.parametrize(
    "written",
    [
        "NaN", "inf", "-Infinity", "12.5%", "1.234,50", "$5", "5 USD", "1,23", "12,3456", ",123",
        "1,,234", "(-5)", "(+5)", "-(5)", "((5))", "(5", "5)", ".", "-", "e5", "1e", "1.2.3",
        "٣", "１２３", "0x1F", "1_000",
        # do not fit DECIMAL(38,12): kept as written, never rounded
        "0.0000000000001", "1.1234567890123", "123456789012345678901234567", "1E+26", "1.0E+26",
        "1e-13",
    ],
)  # fmt: skip
def test_everything_else_is_text_kept_verbatim(written):
    assert one_value(written) == (None, written)


def test_text_is_trimmed_but_otherwise_verbatim():
    assert one_value("  Suspended\u00a0") == (None, "Suspended")
    assert one_value("a\tb") == (None, "a\tb")


def test_text_up_to_65535_bytes_is_kept_and_longer_is_a_row_error():
    fits = "ก" * (65_535 // 3)  # 3 bytes each in UTF-8
    assert one_value(fits) == (None, fits)
    too_long = "x" * 65_536
    error = reject(csv_bytes(f"2025-12-09,S,T,C,{too_long}"))
    assert (error.errors[0].line, error.errors[0].column) == (2, "value")
    assert "65535 bytes" in error.errors[0].reason


# -- properties ----------------------------------------------------------------

fitting = st.decimals(
    min_value=D("-99999999999999999999999999.999999999999"),
    max_value=D("99999999999999999999999999.999999999999"),
    places=12,
    allow_nan=False,
    allow_infinity=False,
)


def _group(digits: str) -> str:
    head = len(digits) % 3 or 3
    return ",".join([digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)])


@st.composite
def notations(draw: st.DrawFn) -> tuple[Decimal, str]:
    with localcontext(prec=100):  # the default 28 digits would round the 38-digit values
        return _notation(draw)


def _notation(draw: st.DrawFn) -> tuple[Decimal, str]:
    value = draw(fitting)
    style = draw(st.sampled_from(["plain", "exponent", "grouped", "parens", "padded", "signed"]))
    if style == "exponent":
        text = f"{value:E}" if draw(st.booleans()) else f"{value:e}"
        # Python writes the full significand; move the point for variety
        shift = draw(st.integers(-5, 5))
        mantissa = value.scaleb(-shift)
        text = f"{mantissa:f}e{shift:+d}" if shift else text
    elif style == "grouped":
        whole, _, frac = f"{abs(value):f}".partition(".")
        text = ("-" if value < 0 else "") + _group(whole) + (f".{frac}" if frac else "")
    elif style == "parens" and value < 0:
        text = f"({abs(value):f})"
    elif style == "padded":
        text = f"{value:f}"
        if "." in text:
            text += "0" * draw(st.integers(0, 10))
        text = (
            text.replace("-", "-" + "0" * draw(st.integers(0, 5)), 1)
            if value < 0
            else "0" * draw(st.integers(0, 5)) + text
        )
    elif style == "signed" and value >= 0:
        text = f"+{value:f}"
    else:
        text = f"{value:f}"
    return value, text


@settings(max_examples=300, deadline=None)
@given(notations())
def test_any_fitting_decimal_in_any_accepted_notation_reads_back_equal(case):
    value, written = case
    numeric, text = one_value(written)
    assert text is None, written
    assert numeric == value, written


@settings(max_examples=100, deadline=None)
@given(st.lists(notations(), min_size=1, max_size=50))
def test_many_numbers_in_one_file_read_back_equal(cases):
    data = csv_bytes(*(f'2025-12-09,S{i},T,C,"{w}"' for i, (_, w) in enumerate(cases)))
    assert [n for n, _ in values_of(parse(data))] == [v for v, _ in cases]


text_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
).filter(lambda t: t == t.strip() and t.upper() not in ("NULL", "\\N"))


@settings(max_examples=200, deadline=None)
@given(text_values)
def test_any_text_value_comes_back_unchanged(text):
    numeric, got = one_value(text)
    if numeric is None:
        assert got == text
    else:  # it happened to be a number: then it must be exactly that number
        assert got is None and numeric == Decimal(text.replace(",", "").strip("()")) * (
            -1 if text.startswith("(") else 1
        )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-(10**20), 10**20),
    st.integers(0, 10**12 - 1),
    st.integers(13, 20),
    st.sampled_from(["", "0", "7", "0007", "5", "1"]),
)
def test_a_fraction_written_past_twelve_digits_is_a_number_only_when_it_fits(
    whole, frac, width, tail
):
    """The export writes floats in full: more fraction digits than DECIMAL(38,12) keeps. Such
    a value is the number exactly when the digits past the twelfth are zeros, else text as
    written (the fast path for them and the general form agree)."""
    digits = f"{frac:012d}{tail}".ljust(width, "0")
    written = f"{'-' if whole < 0 else ''}{abs(whole)}.{digits}"
    numeric, text = one_value(written)
    exact = Decimal(written)
    with localcontext(prec=100):
        fits = exact == exact.quantize(Decimal("1E-12"))
    if fits:
        assert (numeric, text) == (exact, None), written
    else:
        assert (numeric, text) == (None, written), written


def test_the_arrow_table_holds_value_text_as_plain_text_like_the_keys():
    """The rows hold value_text as categories (4 bytes a row); the Arrow table a caller gets
    is plain UTF-8, the type of the key strings, never a dictionary."""
    import pyarrow as pa

    result = parse(csv_bytes("2025-12-09,S,T,NAV,n/a", "2025-12-09,S,T,AUM,1.5"))
    table = result.to_arrow()
    assert table.schema.field("value_text").type == table.schema.field("stock").type
    assert not pa.types.is_dictionary(table.schema.field("value_text").type)
    assert sorted(table.column("value_text").to_pylist(), key=str) == [None, "n/a"]
