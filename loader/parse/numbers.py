"""The ``value`` column: exact DECIMAL(38,12) or verbatim text, vectorised (spec §1.1, §1.2).

A value is a number when it matches the grammar: optional sign, ASCII
digits with optional ``,`` groups of exactly three, optional ``.`` fraction,
optional exponent; or an unsigned such number in parentheses (negative).
A number is stored in ``value_numeric`` only when DECIMAL(38,12) holds it
exactly (at most 26 significant integer digits and 12 fraction digits once
leading and trailing zeros are dropped and the exponent applied); otherwise
the trimmed text is kept in ``value_text`` as written.

Every value goes through one canonical form, built with string expressions:
all its significant digits ``D`` and the position ``p`` of the decimal point
within them. That form is what gets cast, so the cast can never round.
"""

from __future__ import annotations

import polars as pl

INT_DIGITS = 26
FRAC_DIGITS = 12
DECIMAL = pl.Decimal(38, FRAC_DIGITS)

# Most exports write plain decimals; these need no normalising.
_SIMPLE = rf"^[+-]?[0-9]{{1,{INT_DIGITS}}}(?:\.[0-9]{{0,{FRAC_DIGITS}}})?$"
_MANTISSA = (
    r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:(?P<dot>\.)(?P<frac>[0-9]*))?"
    r"(?:[eE](?P<exp>[+-]?[0-9]+))?"
)
_SIGNED = rf"^(?P<sign>[+-]?){_MANTISSA}$"
# A plain decimal with more fraction digits than DECIMAL(38,12) keeps (a float written in
# full by the export): it fits exactly when its trailing zeros take it back to _SIMPLE.
_LONG_FRACTION = rf"^[+-]?[0-9]{{1,{INT_DIGITS}}}\.[0-9]{{{FRAC_DIGITS + 1},}}$"
# A loose superset of the grammar: what fails it is text without further work.
_MAYBE_NUMBER = r"^\(?[+-]?[0-9.,]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?\)?$"
_EXP_CAP = 6  # exponent digits beyond this can only fit if the value is zero


def split_values(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(value_numeric, value_text) for trimmed, null-normalised values.

    Plain decimals take the fast path (one regex, one cast that cannot
    round), those with more than 12 fraction digits too once their trailing
    zeros are dropped (what is left either fits or is text); only the rest go
    through the general canonical form.
    """
    frame = values.alias("v").to_frame()
    simple = frame.select(pl.col("v").str.contains(_SIMPLE).fill_null(False)).to_series()
    numeric = frame.select(pl.when(simple).then(pl.col("v")).cast(DECIMAL, strict=True)).to_series()
    rest = (values.is_not_null() & ~simple).arg_true()  # all further work is on these only
    if len(rest):
        others = frame[rest]
        long = others.select(pl.col("v").str.contains(_LONG_FRACTION)).to_series()
        if long.any():
            trimmed = others.filter(long).select(pl.col("v").str.strip_chars_end("0"))
            fits = trimmed.select(
                pl.when(pl.col("v").str.contains(_SIMPLE)).then(pl.col("v")).cast(DECIMAL)
            ).to_series()
            numeric = numeric.scatter(rest.filter(long), fits)
            rest, others = rest.filter(~long), others.filter(~long)
    if len(rest):
        maybe = others.select(pl.col("v").str.contains(_MAYBE_NUMBER)).to_series()
        rest, others = rest.filter(maybe), others.filter(maybe)
    if len(rest):
        general = others.select(_general_number(pl.col("v"))).to_series()
        numeric = numeric.scatter(rest, general)
    text = frame.select(
        pl.when(pl.col("v").is_not_null() & numeric.is_null()).then(pl.col("v"))
    ).to_series()
    return numeric.alias("value_numeric"), text.alias("value_text")


def _general_number(value: pl.Expr) -> pl.Expr:
    """Exact Decimal for every number the fast path does not take; null for text."""
    paren = value.str.starts_with("(") & value.str.ends_with(")")
    body = pl.when(paren).then(value.str.slice(1, value.str.len_chars() - 2)).otherwise(value)
    parts = body.str.extract_groups(_SIGNED)
    sign_written = parts.struct.field("sign")
    int_digits = parts.struct.field("int").str.replace_all(",", "", literal=True)
    frac_digits = parts.struct.field("frac").fill_null("")
    has_digit = (int_digits.str.len_bytes() + frac_digits.str.len_bytes()) > 0
    is_number = parts.struct.field("int").is_not_null() & has_digit
    # "(-5)", "(+5)": inside parentheses only an unsigned number is allowed
    is_number = is_number & ~(paren & (sign_written.str.len_bytes() > 0))
    negative = paren | (sign_written == "-")

    exp_text = parts.struct.field("exp").fill_null("0")
    exp_digits = exp_text.str.strip_chars_start("+-").str.strip_chars_start("0")
    exp_sign = pl.when(exp_text.str.starts_with("-")).then(-1).otherwise(1)
    exponent = (
        pl.when(exp_digits.str.len_bytes() > _EXP_CAP)
        .then(10**_EXP_CAP)
        .otherwise(pl.concat_str(pl.lit("0"), exp_digits).cast(pl.Int64, strict=False))
        * exp_sign
    )

    digits = pl.concat_str(int_digits, frac_digits)
    point = int_digits.str.len_bytes().cast(pl.Int64) + exponent
    stripped = digits.str.strip_chars_start("0")
    point = point - (digits.str.len_bytes() - stripped.str.len_bytes()).cast(pl.Int64)
    significant = stripped.str.strip_chars_end("0")
    n_sig = significant.str.len_bytes().cast(pl.Int64)
    is_zero = n_sig == 0
    int_count = pl.max_horizontal(point, pl.lit(0))
    frac_count = pl.max_horizontal(n_sig - point, pl.lit(0))
    fits = is_zero | ((int_count <= INT_DIGITS) & (frac_count <= FRAC_DIGITS))

    # value * 10**12 as a digit string, then the point put back before the last 12
    total = pl.when(fits & ~is_zero).then(point + FRAC_DIGITS).otherwise(1)
    scaled = significant.str.pad_end(total, "0").str.zfill(FRAC_DIGITS + 1)
    canonical = pl.concat_str(
        pl.when(negative).then(pl.lit("-")).otherwise(pl.lit("")),
        scaled.str.slice(0, scaled.str.len_bytes() - FRAC_DIGITS),
        pl.lit("."),
        scaled.str.slice(-FRAC_DIGITS),
    )
    canonical = pl.when(is_zero).then(pl.lit("0")).otherwise(canonical)
    return pl.when(is_number & fits).then(canonical).cast(DECIMAL, strict=True)
