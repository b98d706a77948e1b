"""``fundsync query``: every key of a day (--date), a range of days (--since/--until), one
col_code (--col-code), streamed; and the one-line usage errors."""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import csv_bytes
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db


@pytest.fixture
def loaded(db, tmp_path):
    rows = [f"2025-12-{d:02d},F{f},F{f}-A,{c},{d}.{f}" for d in (8, 9, 10) for f in range(3)
            for c in ("NAV", "AUM")]  # fmt: skip
    path = tmp_path / "days.csv"
    path.write_bytes(csv_bytes(*rows))
    url = plain_url(db)
    assert fundsync("load", str(path), "--db", url).returncode == 0
    return url


def rows(url: str, *args: str) -> list[dict]:
    run = fundsync("query", *args, "--format", "csv", "--db", url)
    assert run.returncode == 0, run.stderr
    return list(csv.DictReader(io.StringIO(run.stdout)))


def test_every_key_of_a_day_and_of_one_col_code(loaded):
    day = rows(loaded, "--date", "2025-12-09")
    assert [(r["d_trade"], r["stock"], r["col_code"]) for r in day] == [
        ("2025-12-09", f"F{f}", c) for f in range(3) for c in ("AUM", "NAV")
    ]
    nav = rows(loaded, "--date", "2025-12-09", "--col-code", "NAV")
    assert [(r["stock"], r["value_numeric"]) for r in nav] == [
        ("F0", "9.000000000000"), ("F1", "9.100000000000"), ("F2", "9.200000000000")
    ]  # fmt: skip
    span = rows(loaded, "--since", "2025-12-09", "--until", "2025-12-10", "--col-code", "AUM")
    assert {(r["d_trade"], r["stock"]) for r in span} == {
        (f"2025-12-{d:02d}", f"F{f}") for d in (9, 10) for f in range(3)
    }
    ticker = rows(loaded, "--ticker", "F1-A", "--col-code", "NAV", "--until", "2025-12-09")
    assert [r["d_trade"] for r in ticker] == ["2025-12-08", "2025-12-09"]


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "query needs --ticker, --source, --date or --since/--until"),
        (("--date", "2025-12-09", "--since", "2025-12-01"), "--date is one trade date"),
        (("--source", "x.csv", "--col-code", "NAV"), "--source takes no other filter"),
        (("--date", "2025-12-09", "--history"), "--history goes with --ticker and --col-code"),
    ],
)
def test_a_query_asked_wrongly_is_one_line_and_exit_2(loaded, args, message):
    run = fundsync("query", *args, "--db", loaded)
    assert run.returncode == 2 and run.stderr.startswith(f"fundsync: {message}"), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
