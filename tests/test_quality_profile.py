"""The quality gate's profile of a file's whole trade dates (loader/mysql/quality.py), against
a count by hand: rows per fund, and per col_code rows, NULLs, texts and the median value."""

from __future__ import annotations

import random
import statistics
from datetime import date

import pytest

from loader.mysql import quality
from loader.parse.file import parse_file
from loader.prepare.keyorder import key_order
from tests.conftest import csv_bytes

DATES = ("2025-12-08", "2025-12-09", "2025-12-10")


@pytest.mark.parametrize("by", ["filter", "key order"])
def test_each_whole_date_is_profiled_alone_and_a_partial_date_not_at_all(tmp_path, by):
    """Each date's rows found by a filter, or by their run of the key order, in a file whose
    dates are interleaved."""
    rng = random.Random(7)
    lines, numbers = [], {}
    for d in DATES:
        for f in range(rng.randint(30, 60)):
            for code in rng.sample(["NAV", "AUM", "UNITS", "FEE"], rng.randint(1, 4)):
                kind = rng.random()
                value = (
                    ""
                    if kind < 0.1
                    else "n/a"
                    if kind < 0.2
                    else f"{rng.randint(-999, 999)}.{rng.randint(0, 99):02d}"
                )
                lines.append(f"{d},F{f:03d},F{f:03d}-A,{code},{value}")
                numbers[(d, f"F{f:03d}", code)] = value
    rng.shuffle(lines)
    path = tmp_path / "days.csv"
    path.write_bytes(csv_bytes(*lines))
    rows = parse_file(path).rows
    whole = {date.fromisoformat(DATES[0]), date.fromisoformat(DATES[2])}

    profiled = quality.profile(rows, whole, key_order(rows) if by == "key order" else None)
    assert profiled is not None
    funds, codes = profiled

    want_funds: dict[tuple, int] = {}
    want_codes: dict[tuple, list] = {}
    for (d, stock, code), value in numbers.items():
        day = date.fromisoformat(d)
        if day in whole:
            want_funds[(day, stock)] = want_funds.get((day, stock), 0) + 1
            want_codes.setdefault((day, code), []).append(value)
    assert {
        (d, s): n for d, s, n in funds.select("d_trade", "stock", "row_count").rows()
    } == want_funds
    got = {
        (d, c): (n, nulls, texts, median)
        for d, c, n, nulls, texts, median in codes.select(
            "d_trade", "col_code", "row_count", "nulls", "texts", "median"
        ).rows()
    }
    expected = {}
    for key, values in want_codes.items():
        plain = [float(v) for v in values if v not in ("", "n/a")]
        median = statistics.median(plain) if plain else None
        expected[key] = (len(values), values.count(""), values.count("n/a"), median)
    assert got.keys() == expected.keys()
    for key, (n, nulls, texts, median) in expected.items():
        assert got[key][:3] == (n, nulls, texts), key
        assert (got[key][3] is None) == (median is None), key
        if median is not None:
            assert abs(got[key][3] - median) < 1e-9, key


def test_no_whole_date_no_profile(tmp_path):
    path = tmp_path / "one.csv"
    path.write_bytes(csv_bytes(f"{DATES[0]},F1,F1-A,NAV,1.5"))
    assert quality.profile(parse_file(path).rows, set()) is None
