"""The digest pre-pass: the server's and the client's canonical text agree for every value the
parse stage can produce, and a correction stages only the (trade date, fund) groups it changes."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.mysql.connection import connect
from loader.mysql.digest import server_digests
from loader.mysql.session import Session
from loader.prepare.digest import group_digests
from tests.conftest import csv_bytes, load_file, parse, query, table
from tests.test_roundtrip import texts
from tests.test_values import notations

pytestmark = pytest.mark.db

keys = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(lambda t: t and t.upper() not in ("NULL", "\\N"))  # those spell an empty key
)
values = st.one_of(
    notations().map(lambda pair: pair[1]),  # every number notation the parse stage reads
    texts,  # any text it keeps
    st.sampled_from(["", "NULL", "1E+26", "0.0000000000001", "-0", "(0.5)", "12.5%"]),
)


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def export_of(rows: list[tuple[str, str, str, str, str]]) -> bytes:
    return csv_bytes(*(",".join([day, *(quoted(v) for v in rest)]) for day, *rest in rows))


def digests_in_server(config, groups: pl.DataFrame) -> pl.DataFrame:
    conn = connect(config)
    try:
        conn.start_transaction()
        found = server_digests(conn.cursor(), groups)
        conn.rollback()
    finally:
        conn.close()
    assert found is not None
    return found


def ordered(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select("d_trade", "stock", "rows", "digest").rows())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["2025-12-09", "2025-12-10"]), keys, keys, keys, values),
        min_size=1,
        max_size=25,
    )
)
def test_the_server_and_the_client_digest_every_parsed_value_alike(db, tmp_path, rows):
    data = export_of(rows)
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    query(db, "DELETE FROM fund_data")
    with Session(db) as session:
        report = load_file(session, path, force=True)
    assert report.status == "loaded", report.failure
    mine = group_digests(parse(data).rows)
    assert ordered(digests_in_server(db, mine.select("d_trade", "stock"))) == ordered(mine)
    assert ordered(group_digests(parse(data).rows, chunk_rows=2)) == ordered(mine)  # in slices


def test_a_changed_value_changes_its_groups_digest_only(db, tmp_path):
    rows = [f"2025-12-09,F{f},F{f}-A,C{c},{f}.{c}5" for f in range(4) for c in range(3)]
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes(*rows))
    with Session(db) as session:
        load_file(session, path)
    mine = group_digests(parse(csv_bytes(*rows)).rows)
    query(
        db,
        "UPDATE fund_data SET value_numeric = 1.25000000000001 WHERE stock = 'F2' AND col_code = 'C1'",
    )
    theirs = digests_in_server(db, mine.select("d_trade", "stock"))
    differ = set(ordered(mine)) ^ set(ordered(theirs))
    assert {row[1] for row in differ} == {"F2"}


@pytest.mark.parametrize("layout", ["surrogate-id"])  # the staged way (the diff needs the PK)
def test_a_correction_stages_only_the_groups_it_changes(db, tmp_path, layout):
    rows = [f"2025-12-09,F{f},F{f}-A,C{c},{f}.{c}5" for f in range(50) for c in range(4)]
    first = tmp_path / "day.csv"
    first.write_bytes(csv_bytes(*rows))
    fixed = list(rows)
    fixed[7] = fixed[7].rsplit(",", 1)[0] + ",99.5"  # F1's C3
    fixed[120] = fixed[120].rsplit(",", 1)[0] + ",Closed"  # F30's C0, now text
    fixed.append("2025-12-09,F50,F50-A,C0,1")  # a new fund
    second = tmp_path / "day-fix.csv"
    second.write_bytes(csv_bytes(*fixed))
    with Session(db) as session:
        load_file(session, first)
        report = load_file(session, second)
    assert (report.inserted, report.updated, report.unchanged) == (1, 2, 198)
    assert report.merged is not None and report.merged.unstaged == 48 * 4
    stored = {(r[1], r[3]): (r[4], r[5], r[6]) for r in table(db)}
    assert stored[("F1", "C3")][0] == pytest.approx(99.5) and stored[("F1", "C3")][2].endswith(
        "day-fix.csv"
    )
    assert stored[("F30", "C0")][1:] == ("Closed", str(second))
    assert stored[("F1", "C0")][2] == str(first)  # unchanged rows keep their lineage
    assert len(stored) == 201


@pytest.mark.parametrize("layout", ["surrogate-id"])  # the staged way (the diff needs the PK)
def test_a_group_with_rows_the_file_lacks_is_merged_not_skipped(db, tmp_path, layout):
    first = tmp_path / "day.csv"
    first.write_bytes(csv_bytes("2025-12-09,F,F-A,C0,1", "2025-12-09,F,F-A,C1,2"))
    second = tmp_path / "part.csv"
    second.write_bytes(csv_bytes("2025-12-09,F,F-A,C0,1"))
    with Session(db) as session:
        load_file(session, first)
        report = load_file(session, second)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 1)
    assert report.merged is not None and report.merged.unstaged == 0
    assert len(table(db)) == 2


def test_an_empty_file_loads_nothing_and_fails_nothing(db, tmp_path):
    day = tmp_path / "day.csv"
    day.write_bytes(csv_bytes("2025-12-09,F,F-A,C0,1"))
    header = tmp_path / "header.csv"
    header.write_bytes(csv_bytes())
    with Session(db) as session:
        load_file(session, day)
        report = load_file(session, header)
    assert (report.status, report.rows_merged, report.unchanged) == ("loaded", 0, 0)
    assert len(table(db)) == 1


def test_a_file_of_many_funds_reads_whole_days_with_the_same_result(db, tmp_path):
    """At WHOLE_DAY_FUNDS funds a day and more the server's side is read per date, not per
    fund: the same groups must come out equal, and the verification agrees."""
    from dataclasses import replace

    from loader.mysql.digest import WHOLE_DAY_FUNDS

    funds = WHOLE_DAY_FUNDS + 200
    rows = [f"2025-12-09,F{f:05d},T,C,{f}.25" for f in range(funds)]
    first = tmp_path / "day.csv"
    first.write_bytes(csv_bytes(*rows))
    fixed = tmp_path / "fix.csv"
    fixed.write_bytes(csv_bytes(*rows[:-1], f"2025-12-09,F{funds - 1:05d},T,C,0.5"))
    with Session(replace(db, verify=True)) as session:
        assert load_file(session, first).to_dict()["verified"] is True  # a whole-day read
        report = load_file(session, fixed)
    assert (report.status, report.updated, report.merged.unstaged) == ("loaded", 1, funds - 1)
    assert report.to_dict()["verified"] is True
