"""Watch the data (issue 25): the quality gate against the previous trade date (hold, warn,
release, discard), acknowledgements, and ``status`` paging only for what still needs a look.
Realistic days: 600 funds of five figures each."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import pytest

from loader.mysql import quality
from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, query
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db

MONDAY, TUESDAY = "2025-12-08", "2025-12-09"
CODES = ("NAV", "AUM", "UNITS", "FEE", "RISK")


def day(d: str, funds: int = 600, skip: int = 0, blank: str | None = None) -> list[str]:
    """One export: ``funds`` funds (the first ``skip`` left out), every figure; the col_code
    ``blank`` with every value empty (NULL)."""
    lines = []
    for f in range(skip, funds):
        for c, code in enumerate(CODES):
            value = "" if code == blank else f"{10 + f % 17 + c}.{f % 100:02d}"
            lines.append(f"{d},F{f:04d},F{f:04d}-A,{code},{value}")
    return lines


def write(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_bytes(csv_bytes(*lines))
    return path


def load(db, path, **settings):
    with Session(db) as session:
        return load_file(session, path, **settings)


def status(db) -> tuple[int, dict]:
    run = fundsync("status", "--json", "--db", plain_url(db))
    return run.returncode, json.loads(run.stdout)


def test_a_normal_day_passes_the_gate(db, tmp_path):
    assert load(db, write(tmp_path, "mon.csv", day(MONDAY))).status == "loaded"
    report = load(db, write(tmp_path, "tue.csv", day(TUESDAY)))
    assert (report.status, report.quality) == ("loaded", ())
    code, state = status(db)
    assert (code, state["needs_look"]) == (0, [])


def test_a_day_with_40_of_600_funds_missing_is_held_then_released(db, tmp_path):
    load(db, write(tmp_path, "mon.csv", day(MONDAY)))
    path = write(tmp_path, "tue.csv", day(TUESDAY, skip=40))
    report = load(db, path)
    assert report.status == "held"
    assert [(f["check"], f["policy"]) for f in report.quality] == [("funds_missing", "hold")]
    assert "40 of the 600 funds" in report.quality[0]["detail"]
    assert query(db, "SELECT COUNT(*) FROM fund_data WHERE d_trade = %s", (TUESDAY,)) == [(0,)]
    held = query(db, "SELECT status, error, quality IS NOT NULL FROM fund_data_loads "
                     "ORDER BY id DESC LIMIT 1")  # fmt: skip
    assert held[0][0] == "held" and "funds_missing" in held[0][1] and held[0][2] == 1
    code, state = status(db)
    assert code == 1 and state["needs_look"] == ["1 file(s) held by the quality gate"]
    url = plain_url(db)
    shown = fundsync("status", "--db", url)
    assert "held by the quality gate" in shown.stdout and "40 of the 600" in shown.stdout
    released = fundsync("release", str(path), "--db", url)
    assert released.returncode == 0, released.stderr
    assert query(db, "SELECT COUNT(*) FROM fund_data WHERE d_trade = %s", (TUESDAY,)) == [
        (560 * 5,)
    ]
    assert status(db)[0] == 0  # released: nothing to page for
    again = fundsync("release", str(path), "--db", url)
    assert again.returncode == 1 and "nothing held" in again.stderr


def test_a_backfill_of_many_dates_is_profiled_date_by_date(db, tmp_path):
    """A file of more dates than are filtered one by one (each date's rows are then gathered
    by the key order) in shuffled lines: each date is compared with the date fund_data held
    before it, the short date is named, and once released the next day's gate reads the
    file's last date."""
    dates = [date(2025, 11, 3) + timedelta(days=i) for i in range(quality.FILTERED_DATES + 4)]
    before = (dates[0] - timedelta(days=1)).isoformat()
    assert load(db, write(tmp_path, "before.csv", day(before))).status == "loaded"
    short = dates[-3].isoformat()
    lines = [
        line for d in dates for line in day(d.isoformat(), skip=40 if d.isoformat() == short else 0)
    ]
    random.Random(3).shuffle(lines)
    path = write(tmp_path, "backfill.csv", lines)
    report = load(db, path)
    assert report.status == "held"
    assert [(f["check"], f["d_trade"]) for f in report.quality] == [("funds_missing", short)]
    released = fundsync("release", str(path), "--db", plain_url(db))
    assert released.returncode == 0, released.stderr
    after = dates[-1] + timedelta(days=1)
    report = load(db, write(tmp_path, "next.csv", day(after.isoformat(), skip=40)))
    assert [(f["check"], f["d_trade"]) for f in report.quality] == [
        ("funds_missing", after.isoformat())
    ]


def test_a_backfill_of_more_col_codes_than_a_day_allows_in_all_is_still_checked(db, tmp_path):
    """The col_code limit is a day's: a backfill of 260 dates of 20 col_codes (5,200 in all,
    over the 5,000 a day may hold) keeps its per-col_code checks and profile."""
    first = date(2024, 1, 1)
    dates = [first + timedelta(days=i) for i in range(quality.MAX_CODES // 20 + 10)]
    codes = [f"C{c:02d}" for c in range(20)]
    before = (first - timedelta(days=1)).isoformat()
    lines = [f"{before},F1,F1-A,{code},10" for code in codes]
    assert load(db, write(tmp_path, "before.csv", lines)).status == "loaded"
    jump = dates[100].isoformat()
    lines = [
        f"{d.isoformat()},F1,F1-A,{code},{100 if d.isoformat() == jump and code == 'C07' else 10}"
        for d in dates
        for code in codes
    ]
    report = load(db, write(tmp_path, "backfill.csv", lines))
    assert report.status == "loaded"
    assert [(f["check"], f["d_trade"]) for f in report.quality] == [("jumps", jump)]
    recorded = query(
        db, "SELECT COUNT(*) FROM fund_data_day_codes WHERE d_trade >= %s", (first.isoformat(),)
    )
    assert recorded == [(len(dates) * len(codes),)]


def test_release_refuses_a_source_whose_content_changed_and_discard_drops_it(db, tmp_path):
    load(db, write(tmp_path, "mon.csv", day(MONDAY)))
    path = write(tmp_path, "tue.csv", day(TUESDAY, skip=40))
    assert load(db, path).status == "held"
    write(tmp_path, "tue.csv", day(TUESDAY, skip=41))
    url = plain_url(db)
    refused = fundsync("release", str(path), "--db", url)
    assert refused.returncode == 1 and "no longer what was held" in refused.stderr
    assert query(db, "SELECT COUNT(*) FROM fund_data WHERE d_trade = %s", (TUESDAY,)) == [(0,)]
    dropped = fundsync("discard", str(path), "--note", "upstream resends", "--db", url)
    assert dropped.returncode == 0, dropped.stderr
    assert query(db, "SELECT status, acked_by IS NOT NULL, ack_note FROM fund_data_loads "
                     "ORDER BY id DESC LIMIT 1") == [("discarded", 1, "upstream resends")]  # fmt: skip
    assert status(db)[0] == 0


def test_a_column_all_null_warns_and_an_ack_stops_the_page(db, tmp_path):
    load(db, write(tmp_path, "mon.csv", day(MONDAY)))
    path = write(tmp_path, "tue.csv", day(TUESDAY, blank="FEE"))
    report = load(db, path)
    assert report.status == "loaded"
    assert [(f["check"], f["policy"]) for f in report.quality] == [("nulls", "warn")]
    code, state = status(db)
    assert code == 1 and state["needs_look"] == ["1 load(s) with quality warnings not acknowledged"]
    url = plain_url(db)
    acked = fundsync("ack", str(path), "--note", "FEE is published weekly now", "--db", url,
                     env={"FUNDSYNC_OPERATOR": "ops-anna"})  # fmt: skip
    assert acked.returncode == 0, acked.stderr
    assert status(db)[0] == 0
    assert query(db, "SELECT acked_by, ack_note FROM fund_data_loads ORDER BY id DESC LIMIT 1") == [
        ("ops-anna", "FEE is published weekly now")
    ]
    nothing = fundsync("ack", str(path), "--note", "again", "--db", url)
    assert nothing.returncode == 1


def test_duplicates_warn_and_a_policy_flag_turns_a_hold_into_a_warning(db, tmp_path):
    load(db, write(tmp_path, "mon.csv", day(MONDAY)))
    lines = day(TUESDAY, skip=40)
    lines += lines[:3]  # three keys twice
    run = fundsync("load", "--json", "--quality", "funds_missing=warn", str(write(tmp_path,
                   "tue.csv", lines)), "--db", plain_url(db))  # fmt: skip
    report = json.loads(run.stdout.splitlines()[0])
    assert report["status"] == "loaded", report
    assert sorted((f["check"], f["policy"]) for f in report["quality"]) == [
        ("duplicates", "warn"), ("funds_missing", "warn")
    ]  # fmt: skip
    # the table shows the warnings under the file (the date is held now: only the file's own)
    table = fundsync("load", "--force", str(tmp_path / "tue.csv"), "--db", plain_url(db))
    assert "    quality warn: duplicates: 3 duplicate key(s) in the file" in table.stdout


def test_a_problem_a_later_load_resolved_does_not_page(db, tmp_path):
    url = plain_url(db)
    path = tmp_path / "tue.csv"
    path.write_bytes(b"d_trade,stock,ticker,col_code,value\n2025-13-45,F,F-A,NAV,1\n")
    assert fundsync("load", str(path), "--db", url).returncode == 1
    code, state = status(db)
    assert code == 1 and state["needs_look"][0].startswith("1 rejected or failed")
    path.write_bytes(csv_bytes(*day(TUESDAY, funds=20)))
    assert fundsync("load", str(path), "--db", url).returncode == 0
    code, state = status(db)
    assert (code, state["problems"][0]["resolved_by"]) == (0, 2), state["needs_look"]
    assert "resolved: #2 loaded it" in fundsync("status", "--db", url).stdout


@pytest.mark.aws
def test_a_held_file_is_neither_retried_nor_dead_lettered(handler, lake, db):
    lake.put(f"{MONDAY}/fund_data_{MONDAY}.csv", csv_bytes(*day(MONDAY)))
    handler.drain()
    lake.put(f"{TUESDAY}/fund_data_{TUESDAY}.csv", csv_bytes(*day(TUESDAY, skip=40)))
    mapping = handler.drain()
    assert [r["batchItemFailures"] for r in mapping.responses] == [[]]
    assert lake.receive(lake.dlq_url) == [] and lake.receive() == []
    assert query(db, "SELECT status FROM fund_data_loads ORDER BY id") == [("loaded",), ("held",)]


def test_a_missing_weekday_is_late_after_its_deadline_and_not_on_a_holiday(db, tmp_path):
    from datetime import datetime, timezone

    today = datetime.now(timezone(timedelta(hours=7))).date()  # the loader's default zone
    # Exactly the seven days status looks back on, up to yesterday: every weekday of them but
    # the gap is loaded, whichever day of the week the test runs on (it started two days back,
    # so from Tuesday to Saturday yesterday was a weekday missing too).
    weekdays = [today - timedelta(days=n) for n in range(1, 8)]
    weekdays = [d for d in weekdays if d.weekday() < 5]
    gap = weekdays[1]  # neither the newest nor the oldest: a hole in the days
    for d in weekdays:
        if d != gap:
            load(db, write(tmp_path, f"{d}.csv", day(d.isoformat(), funds=20)))
    url = plain_url(db)

    def late(*flags: str) -> tuple[int, list[date]]:
        run = fundsync("status", "--json", "--deadline", "00:00", *flags, "--db", url)
        return run.returncode, [date.fromisoformat(d) for d in json.loads(run.stdout)["late"]]

    assert late() == (1, [gap])
    assert late("--holidays", gap.isoformat()) == (0, [])
    holidays = tmp_path / "holidays.txt"
    holidays.write_text(f"# the exchange's calendar\n{gap}  # a holiday\n")
    assert late("--holidays", str(holidays)) == (0, [])
    plain = json.loads(fundsync("status", "--json", "--db", url).stdout)
    assert plain["late"] == []  # no deadline set: freshness is off


def test_replace_days_dry_run_shows_what_would_be_deleted_and_writes_nothing(db, tmp_path):
    load(db, write(tmp_path, "mon.csv", day(MONDAY, funds=100)))
    before = query(db, "SELECT * FROM fund_data ORDER BY 1, 2, 3, 4")
    ledger = query(db, "SELECT COUNT(*) FROM fund_data_loads")
    snapshot = write(tmp_path, "mon-fix.csv", day(MONDAY, funds=98))
    run = fundsync("load", "--mode", "replace-days", "--dry-run", str(snapshot),
                   "--db", plain_url(db))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "deleted" in run.stdout.splitlines()[0]  # the table's header names the column
    line = next(x for x in run.stdout.splitlines() if x.startswith("loaded"))
    assert line.split()[5] == "10" and "dry run: rolled back, nothing written" in run.stdout
    assert query(db, "SELECT * FROM fund_data ORDER BY 1, 2, 3, 4") == before
    assert query(db, "SELECT COUNT(*) FROM fund_data_loads") == ledger


@pytest.mark.aws
def test_the_scheduled_check_reports_late_trade_dates_as_a_metric(handler, db, monkeypatch, capsys):
    from loader.pipeline.handler import CHECK_FRESHNESS

    monkeypatch.setenv("FUNDSYNC_DEADLINE", "00:00")
    answer = handler.module.lambda_handler(CHECK_FRESHNESS, None)
    assert answer["late"], answer  # an empty table: every expected day of the week is late
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if '"_aws"' in line]  # fmt: skip
    late = [m["LateTradeDates"] for m in metrics if "LateTradeDates" in m]
    assert late == [[float(len(answer["late"]))]]  # one EMF document, the count of late dates


def test_a_policy_that_does_not_parse_is_a_usage_error_before_any_file(db, tmp_path):
    """A typo in --quality (or FUNDSYNC_QUALITY) used to fail every file as 'failed' (retried
    by the pipeline for ever) instead of stopping at once."""
    path = write(tmp_path, "mon.csv", day(MONDAY, funds=5))
    for args, env in (
        (("--quality", "bogus=hold"), {}),
        ((), {"FUNDSYNC_QUALITY": "jumps=maybe"}),
    ):
        run = fundsync("load", *args, str(path), "--db", plain_url(db), env=env)
        assert run.returncode == 2, run.stdout + run.stderr
        assert run.stderr.startswith("fundsync: quality ") and len(run.stderr.splitlines()) == 1
        assert run.stdout == ""
    assert query(db, "SELECT COUNT(*) FROM fund_data_loads") == [(0,)]


def test_a_calendar_that_does_not_parse_is_one_line_before_any_connection():
    for flag, value in (("--deadline", "25:99"), ("--holidays", "2025-13-01")):
        run = fundsync("status", flag, value, "--db", "mysql://root@127.0.0.1:1/nowhere")
        assert run.returncode == 2 and run.stderr.startswith("fundsync: calendar: "), run.stderr
        assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr


def test_fund_names_of_any_bytes_are_profiled_verbatim_and_compared(db, tmp_path):
    """The profile is written as literals built on the client and read back as one text:
    a quote, a backslash, a comma, SQL and non-ASCII in a fund's name are data, kept exact,
    and the next day's comparison matches each name with its record."""
    odd = ["O'Brien", "back\\slash", "a,b", "x'); DROP TABLE fund_data; --", "Zürich ƒ"]
    lines = [f'{MONDAY},"{name}",T{i},NAV,{i}.5' for i, name in enumerate(odd)]
    assert load(db, write(tmp_path, "mon.csv", day(MONDAY) + lines)).status == "loaded"
    recorded = query(db, "SELECT stock, row_count FROM fund_data_day_funds WHERE d_trade = %s "
                         "AND stock NOT LIKE 'F0%%'", (MONDAY,))  # fmt: skip
    assert sorted(recorded) == sorted((name, 1) for name in odd)
    tuesday = [line.replace(MONDAY, TUESDAY) for line in lines[1:]]  # O'Brien missing
    report = load(db, write(tmp_path, "tue.csv", day(TUESDAY, skip=40) + tuesday))
    assert report.status == "held"
    # 40 plain funds and O'Brien: the four other odd names matched their records exactly
    assert "41 of the 605 funds" in report.quality[0]["detail"]
