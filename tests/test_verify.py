"""Verified loads: before the commit, the server's digests of the file's keys must equal the
client's of the parsed rows; a difference rolls the load back (issue: proof that the database
holds the file)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from loader.mysql.config import DbConfig
from loader.mysql.session import Session
from loader.pipeline.events import s3_notification
from loader.prepare.digest import group_digests, load_digest
from tests.conftest import csv_bytes, load_file, parse, query, table
from tests.helpers import fundsync, original_after_its_correction, plain_url

pytestmark = pytest.mark.db

DAY = [f"2025-12-09,F{f},F{f}-A,C{c},{f}.{c}5" for f in range(6) for c in range(4)]


def verified(config: DbConfig) -> DbConfig:
    return replace(config, verify=True)


def export(tmp_path, name: str, rows: list[str]):
    path = tmp_path / name
    path.write_bytes(csv_bytes(*rows))
    return path


def sabotage(config, when: str, statement: str) -> None:
    """A trigger: a writer inside the server that the loader does not know of."""
    query(
        config,
        f"CREATE TRIGGER sabotage {when} ON fund_data FOR EACH ROW "
        f"BEGIN IF NEW.stock = 'F2' AND NEW.col_code = 'C1' THEN {statement}; END IF; END",
    )


def test_a_verified_load_records_the_digest_both_sides_agreed_on(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    with Session(verified(db)) as session:
        report = load_file(session, path)
    assert report.status == "loaded"
    expected = load_digest(group_digests(parse(csv_bytes(*DAY)).rows))
    assert report.to_dict()["verified"] is True and report.to_dict()["digest"] == expected
    assert query(db, "SELECT digest FROM fund_data_loads WHERE status = 'loaded'") == [(expected,)]


def test_an_unverified_load_says_so(db, tmp_path):
    with Session(db) as session:
        report = load_file(session, export(tmp_path, "day.csv", DAY))
    assert (report.to_dict()["verified"], report.to_dict()["digest"]) == (False, None)
    assert query(db, "SELECT digest FROM fund_data_loads") == [(None,)]


@pytest.mark.parametrize("verify", [True, False])
def test_a_value_changed_behind_the_loader_on_insert_rolls_the_load_back(db, tmp_path, verify):
    sabotage(db, "BEFORE INSERT", "SET NEW.value_numeric = NEW.value_numeric + 1")
    config = verified(db) if verify else db
    with Session(config) as session:
        report = load_file(session, export(tmp_path, "day.csv", DAY))
    if not verify:  # what verification is for: without it the wrong value is committed
        assert report.status == "loaded" and len(table(db)) == len(DAY)
        return
    assert (report.status, report.error_type) == ("failed", "VerificationFailed")
    message = report.failure.message
    assert "F2" in message and message.count("load digest expected") == 1
    error = report.failure.error
    assert error.expected != error.found and error.expected in message and error.found in message
    assert table(db) == []  # rolled back
    assert query(db, "SELECT status FROM fund_data_loads") == [("failed",)]


def test_a_value_changed_behind_the_loader_in_a_correction_rolls_it_back(db, tmp_path):
    with Session(verified(db)) as session:
        assert load_file(session, export(tmp_path, "day.csv", DAY)).status == "loaded"
        before = table(db)
        sabotage(db, "BEFORE UPDATE", "SET NEW.value_text = 'tampered'")
        fixed = [line.replace(",2.15", ",2.75") for line in DAY]  # F2 C1 changes
        report = load_file(session, export(tmp_path, "fix.csv", fixed))
    assert (report.status, report.error_type) == ("failed", "VerificationFailed")
    assert table(db) == before


def test_a_group_holding_keys_the_file_lacks_is_verified_over_the_files_keys(db, tmp_path):
    with Session(verified(db)) as session:
        load_file(session, export(tmp_path, "day.csv", DAY))
        part = [line.replace(",0.05", ",9.5") for line in DAY if ",C0," in line]  # C0 only
        report = load_file(session, export(tmp_path, "part.csv", part))
    assert report.status == "loaded", report.failure
    assert (report.updated, report.to_dict()["verified"]) == (1, True)
    assert len(table(db)) == len(DAY)


def test_a_correction_verified_reads_only_the_groups_it_changed(db, tmp_path):
    with Session(verified(db)) as session:
        load_file(session, export(tmp_path, "day.csv", DAY))
        fixed = [line.replace(",2.15", ",2.75") for line in DAY]
        report = load_file(session, export(tmp_path, "fix.csv", fixed))
    assert (report.status, report.updated, report.merged.unstaged) == ("loaded", 1, len(DAY) - 1)
    assert report.to_dict()["digest"] == load_digest(group_digests(parse(csv_bytes(*fixed)).rows))


def test_rows_a_newer_file_wrote_are_not_the_older_files_to_prove(handler, lake, db, monkeypatch):
    monkeypatch.setenv("FUNDSYNC_VERIFY", "1")
    handler.module.reset()
    original, _ = original_after_its_correction(handler, lake)
    assert [(r[3], r[4]) for r in table(db)] == [("A", 2), ("B", 2), ("C", 1)]
    [(inserted, unchanged, digest)] = query(
        db,
        "SELECT inserted, unchanged, digest FROM fund_data_loads WHERE source_key = %s",
        (original,),
    )  # the ledger, not the log: another test may have turned the log level down
    assert (inserted, unchanged) == (1, 2) and digest is not None


def test_verification_is_asked_for_by_flag_url_or_environment(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    run = fundsync("load", "--json", "--verify", str(path), "--db", plain_url(db))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[0])["verified"] is True
    url = plain_url(db)
    assert DbConfig.from_url(url + ("&" if "?" in url else "?") + "verify=1").verify
    assert DbConfig.from_env(plain_url(db), {"FUNDSYNC_VERIFY": "1"}).verify
    assert not DbConfig.from_env(plain_url(db), {}).verify


# -- fundsync verify ---------------------------------------------------------------------


def test_verify_says_match_for_what_was_loaded_and_finds_the_ledgers_digest(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    assert fundsync("load", "--verify", str(path), "--db", plain_url(db)).returncode == 0
    run = fundsync("verify", "--json", str(path), "--db", plain_url(db))
    assert run.returncode == 0, run.stdout + run.stderr
    found = json.loads(run.stdout)
    assert (found["verdict"], found["rows"], found["groups"]) == ("match", len(DAY), 6)
    assert found["digest"] == found["recorded_digest"] is not None


def test_verify_names_a_value_changed_by_hand_and_a_row_deleted(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    with Session(db) as session:
        load_file(session, path)
    query(db, "UPDATE fund_data SET value_numeric = 7 WHERE stock = 'F3' AND col_code = 'C2'")
    query(db, "DELETE FROM fund_data WHERE stock = 'F5' AND col_code = 'C0'")
    run = fundsync("verify", str(path), "--db", plain_url(db))
    assert run.returncode == 1
    assert run.stdout.startswith("differs") and "2 keys differ" in run.stdout
    assert "2025-12-09 F3 F3-A C2: stored 7.000000000000, expected 3.250000000000" in run.stdout
    assert "2025-12-09 F5 F5-A C0: stored missing, expected 5.050000000000" in run.stdout
    found = json.loads(fundsync("verify", "--json", str(path), "--db", plain_url(db)).stdout)
    assert found["verdict"] == "differs" and found["differing"] == 2
    assert [(d["stock"], d["missing"]) for d in found["differences"]] == [
        ("F3", False),
        ("F5", True),
    ]


def test_keys_a_later_file_changed_are_counted_not_listed(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    fixed = export(tmp_path, "fix.csv", [line.replace(",2.15", ",2.75") for line in DAY])
    with Session(db) as session:
        load_file(session, path)
        load_file(session, fixed)
    run = fundsync("verify", "--json", "--date", "2025-12-09", "--db", plain_url(db))
    assert run.returncode == 0, run.stdout + run.stderr
    found = {f["source"]: f for f in map(json.loads, run.stdout.splitlines())}
    assert list(found) == [str(fixed), str(path)]  # the latest load first
    earlier = found[str(path)]
    assert (earlier["verdict"], earlier["changed_by_later_loads"]) == ("superseded", 1)
    assert (found[str(fixed)]["verdict"], found[str(fixed)]["changed_by_later_loads"]) == (
        "match",
        0,
    )


def test_verify_is_one_line_for_a_usage_mistake_or_an_unreadable_source(db, tmp_path):
    run = fundsync("verify", "--db", plain_url(db))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "SOURCE" in run.stderr
    run = fundsync("verify", str(tmp_path / "gone.csv"), "--db", plain_url(db))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stdout.startswith("never loaded: ") and "no attempt" in run.stdout


def test_verify_reads_the_version_the_ledger_recorded(handler, lake, db):
    from loader.mysql.session import Session as DbSession
    from loader.sources import S3Object as Object
    from loader.verify import verify_source

    lake.s3.put_bucket_versioning(Bucket=lake.bucket, VersioningConfiguration={"Status": "Enabled"})
    key = lake.put("day.csv", csv_bytes(*DAY))
    lake.clear()
    assert handler(handler.event(s3_notification(Object(lake.bucket, key)))) == []
    loaded = lake.s3.head_object(Bucket=lake.bucket, Key=key)["VersionId"]
    lake.put("day.csv", csv_bytes(*DAY[:3]))  # a new version nobody loaded yet
    with DbSession(db) as session:
        found = verify_source(Object(lake.bucket, key), session, s3=lake.s3)
    assert (found.verdict, found.rows, found.version) == ("match", len(DAY), loaded)
    # the overwrite is said, with the version verified against (issue 21.14)
    assert "overwritten since its load" in found.note and loaded in found.note


# -- issue 21: every verdict true --------------------------------------------------------------


def verdicts(db, *args, cwd=None) -> tuple[int, dict]:
    run = fundsync("verify", "--json", *args, "--db", plain_url(db), cwd=cwd)
    assert "Traceback" not in run.stderr, run.stderr
    found = {f["source"]: f for f in map(json.loads, run.stdout.splitlines())}
    return run.returncode, found


def test_a_source_never_loaded_or_only_rejected_is_never_loaded_not_match(db, tmp_path):
    never = export(tmp_path, "never.csv", DAY)
    bad = export(tmp_path, "bad.csv", [*DAY, "2025-12-09,F9,F9-A,C0,1,extra"])
    with Session(db) as session:
        assert load_file(session, bad).status == "rejected"
    code, found = verdicts(db, str(never), str(bad))
    assert code == 1
    assert found[str(never)]["verdict"] == "never loaded"
    assert found[str(bad)]["verdict"] == "never loaded"
    assert "none loaded; the last was rejected" in found[str(bad)]["note"]


def test_a_file_changed_since_its_load_is_said_so_whatever_path_names_it(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    with Session(db) as session:
        load_file(session, path)
    path.write_bytes(csv_bytes(*DAY[:-1], "2025-12-09,F5,F5-A,C3,99"))
    code, found = verdicts(db, "./day.csv", cwd=tmp_path)
    assert code == 1
    assert found[str(path)]["verdict"] == "source changed"


def test_keys_deleted_by_a_later_snapshot_are_superseded_not_missing(db, tmp_path):
    path = export(tmp_path, "day.csv", DAY)
    smaller = export(tmp_path, "snapshot.csv", DAY[:20])
    with Session(db) as session:
        load_file(session, path)
        assert load_file(session, smaller, mode="replace-days", allow_mass_delete=True).status == (
            "loaded"
        )
    code, found = verdicts(db, str(path), str(smaller))
    assert code == 0
    first = found[str(path)]
    assert (first["verdict"], first["deleted_by_later_loads"], first["differing"]) == (
        "superseded",
        4,
        0,
    )
    assert found[str(smaller)]["verdict"] == "match"


def test_a_day_first_load_is_verified_as_it_was_read(db, tmp_path):
    rows = [f"03/{d:02d}/2025,F{d},F{d}-A,C0,{d}" for d in range(1, 13)]  # proves nothing
    path = export(tmp_path, "slash.csv", rows)
    with Session(db) as session:
        report = load_file(session, path, default_date_order="day-first")
    assert report.status == "loaded"
    code, found = verdicts(db, str(path))  # verify without saying the order again
    assert (code, found[str(path)]["verdict"]) == (0, "match")


def test_verify_by_date_gives_each_source_its_verdict_when_one_is_gone(db, tmp_path):
    kept = export(tmp_path, "kept.csv", DAY[:12])
    gone = export(tmp_path, "gone.csv", DAY[12:])
    with Session(db) as session:
        load_file(session, kept)
        load_file(session, gone)
    gone.unlink()
    code, found = verdicts(db, "--date", "2025-12-09")
    assert code == 1
    assert found[str(kept)]["verdict"] == "match"
    assert found[str(gone)]["verdict"] == "source missing"


@pytest.mark.slow
def test_a_group_longer_than_the_server_can_digest_loads_verified_and_verifies(tmp_path):
    """One (date, fund) group of about 24 MB of canonical text, on a server whose
    max_allowed_packet is MariaDB's default 16 MiB: the load with --verify and fundsync
    verify once both failed on it (issue 21.8); such a group is compared row by row."""
    from loader.devtools.dbserver import ThrowawayServer, fresh_database
    from loader.mysql.connection import connect
    from loader.sources import LocalFile
    from loader.verify import verify_source

    long = "Y" * 56
    rows = [f"2025-12-09,BIG,T{i % 50:030d},{long}{i:08d},{i}.5" for i in range(200_000)]
    rows += [f"2025-12-09,SMALL,S,C{i},{i}" for i in range(10)]
    path = export(tmp_path, "big.csv", rows)
    with ThrowawayServer() as server, fresh_database(server.url) as config:
        admin = connect(config)
        admin.cursor().execute("SET GLOBAL max_allowed_packet = 16777216")
        admin.close()
        with Session(verified(config)) as session:
            first = load_file(session, path)
            assert (first.status, first.to_dict()["verified"]) == ("loaded", True), first.failure
            again = load_file(session, path, force=True)  # the staged way: every group compared
            assert (again.status, again.to_dict()["verified"]) == ("loaded", True), again.failure
            assert again.unchanged == len(rows)
        with Session(config) as session:
            found = verify_source(LocalFile(str(path)), session)
        assert found.verdict == "match", found
