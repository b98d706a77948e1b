"""The skip rule (spec §1.2, issue 21.3): "already loaded" is the same content asked the same
way. A file loaded as an upsert and given again with --mode replace-days must load (and delete
what it lacks); so must one asked for a proof the earlier load did not give, or read with a
forced encoding. The same content asked the same way is skipped, and says why."""

from __future__ import annotations

import json

import pytest

from loader.mysql.session import Session
from loader.settings import ParseSettings
from tests.conftest import csv_bytes, load_file, query, table
from tests.helpers import fundsync, plain_url

pytestmark = pytest.mark.db


def test_the_same_file_asked_for_replace_days_after_an_upsert_loads_and_deletes(db, tmp_path):
    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes("2025-12-09,S,T,A,1", "2025-12-09,S,T,B,1", "2025-12-09,S,T,C,1"))
    day = tmp_path / "day.csv"
    day.write_bytes(csv_bytes("2025-12-09,S,T,A,1", "2025-12-09,S,T,B,1"))
    with Session(db) as session:
        assert load_file(session, first).status == "loaded"
        assert load_file(session, day).status == "loaded"  # an upsert: C stays
        again = load_file(session, day, mode="replace-days", allow_mass_delete=True)
        assert again.status == "loaded", again.note
        assert again.to_dict()["deleted"] == 1
        assert [r[3] for r in table(db)] == ["A", "B"]
        same = load_file(session, day, mode="replace-days", allow_mass_delete=True)
        assert same.status == "skipped"
        assert "the same content, asked the same way (mode=replace-days)" in same.note
    requests = query(db, "SELECT status, mode, request FROM fund_data_loads ORDER BY id")
    assert requests[-2:] == [
        ("loaded", "replace-days", "mode=replace-days"),
        ("skipped", "replace-days", "mode=replace-days"),
    ]


def test_a_proof_asked_is_not_answered_by_a_load_that_gave_none(db, tmp_path):
    path = tmp_path / "day.csv"
    path.write_bytes(csv_bytes("2025-12-09,S,T,A,1.5"))
    url = plain_url(db)
    assert (
        json.loads(fundsync("load", "--json", "--db", url, str(path)).stdout)["status"] == "loaded"
    )
    verified = json.loads(fundsync("load", "--json", "--verify", "--db", url, str(path)).stdout)
    assert (verified["status"], verified["verified"]) == ("loaded", True)
    for extra in ([], ["--verify"]):  # a verified load answers both
        again = json.loads(fundsync("load", "--json", *extra, "--db", url, str(path)).stdout)
        assert again["status"] == "skipped", extra


def test_a_forced_encoding_or_another_date_order_is_another_request(db, tmp_path):
    path = tmp_path / "day.csv"
    path.write_bytes(csv_bytes("01/02/2025,S,T,A,Zoë", encoding="cp1252"))
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
        day_first = load_file(session, path, default_date_order="day-first")
        assert day_first.status == "loaded"
        assert day_first.request == "mode=upsert date-order=day-first"
        forced = load_file(session, path, encoding="cp1252", default_date_order="day-first")
        assert forced.status == "loaded"
        assert load_file(
            session, path, encoding="cp1252", default_date_order="day-first"
        ).status == ("skipped")


def test_the_request_names_only_what_changes_the_outcome():
    assert ParseSettings().request_for("k") == "mode=upsert"
    settings = ParseSettings(
        mode_by_prefix=(("raw/eu/", "replace-days"),),
        encoding_by_prefix=(("raw/eu/", "cp1252"),),
        buddhist_era=True,
    )
    assert settings.request_for("raw/eu/x.csv") == "mode=replace-days encoding=cp1252 buddhist-era"
    assert settings.request_for("raw/th/x.csv") == "mode=upsert buddhist-era"


@pytest.mark.aws
def test_a_redelivered_object_asked_another_way_is_not_skipped_before_its_download(
    handler, lake, db, monkeypatch
):
    from loader.pipeline.events import s3_notification
    from loader.sources import S3Object

    key = lake.put("2025-12-09/day.csv", csv_bytes("2025-12-09,S,T,A,1", "2025-12-09,S,T,B,1"))
    event = handler.event(s3_notification(S3Object(lake.bucket, key)))
    assert handler(event) == []
    query(db, "INSERT INTO fund_data VALUES ('2025-12-09', 'S', 'T', 'Z', 1, NULL, 'x', NOW(6))")
    monkeypatch.setenv("FUNDSYNC_MODE", "replace-days")
    monkeypatch.setenv("FUNDSYNC_ALLOW_MASS_DELETE", "1")
    handler.module.reset()
    assert handler(event) == []
    assert [r[3] for r in table(db)] == ["A", "B"]  # the snapshot deleted what it lacks
