"""Who a source is: one local file is one source however it is named, and the bytes hashed are
the bytes parsed (issue 21, items 5 and 21)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loader.sources import LocalFile, ledger_keys, local_key
from tests.conftest import csv_bytes, load_file, query
from tests.helpers import fundsync, plain_url


def test_every_form_of_a_local_path_is_one_key(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    path.write_bytes(b"d_trade\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(path)
    monkeypatch.chdir(tmp_path)
    forms = ["x.csv", "./x.csv", str(path), f"{tmp_path}/sub/../x.csv", "latest.csv"]
    assert {LocalFile(form).key for form in forms} == {str(path.resolve())}
    assert local_key("missing.csv") == str(tmp_path / "missing.csv")


def test_an_s3_source_is_its_key_in_both_forms():
    assert ledger_keys("s3://lake/raw/a.csv") == ["raw/a.csv"]
    assert ledger_keys("raw/a.csv")[-1] == "raw/a.csv"


@pytest.mark.db
def test_a_file_named_three_ways_loads_once_and_every_command_finds_it(db, tmp_path):
    (tmp_path / "x.csv").write_bytes(csv_bytes("2025-12-09,S,T,C,1.5"))
    url = plain_url(db)
    first = fundsync("load", "--json", "--db", url, "x.csv", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["source"] == str((tmp_path / "x.csv").resolve())
    for form in ("./x.csv", str(tmp_path / "x.csv")):
        again = fundsync("load", "--json", "--db", url, form, cwd=tmp_path)
        assert json.loads(again.stdout)["status"] == "skipped", form
    assert query(db, "SELECT COUNT(DISTINCT source_key) FROM fund_data_loads") == [(1,)]
    for form in ("x.csv", "./x.csv", str(tmp_path / "x.csv")):
        history = fundsync("history", "--json", "--db", url, form, cwd=tmp_path)
        assert history.returncode == 0, (form, history.stderr)
        statuses = [a["status"] for a in json.loads(history.stdout)["attempts"]]
        assert statuses == ["loaded", "skipped", "skipped"], form
        show = fundsync("show", "--db", url, form, cwd=tmp_path)
        assert show.returncode == 0 and "1 inserted" in show.stdout, (form, show.stderr)
        rows = fundsync("query", "--format", "csv", "--source", form, "--db", url, cwd=tmp_path)
        assert rows.stdout.count("\n") == 2, (form, rows.stdout)
        verify = fundsync("verify", "--json", "--db", url, form, cwd=tmp_path)
        assert json.loads(verify.stdout)["verdict"] == "match", (form, verify.stdout)


@pytest.mark.db
def test_an_s3_source_is_found_by_its_uri_and_by_its_key(db, tmp_path):
    from loader.mysql.session import Session

    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes("2025-12-09,S,T,C,1"))
    with Session(db) as session:
        assert load_file(session, path, key="raw/d/a.csv").status == "loaded"
    url = plain_url(db)
    for form in ("raw/d/a.csv", "s3://lake/raw/d/a.csv"):
        history = fundsync("history", "--json", "--db", url, form)
        assert history.returncode == 0, (form, history.stderr)
        assert json.loads(history.stdout)["source"] == "raw/d/a.csv"
        assert fundsync("show", "--db", url, form).returncode == 0


def _replace_while_parsing(monkeypatch, path: Path, new: bytes, in_place: bool) -> None:
    """A writer that replaces the file after it was hashed, before it is parsed."""
    import loader.prepare.prepare as prepare

    real = prepare.parse_file

    def parse_after_a_writer(*args, **kwargs):
        if in_place:
            path.write_bytes(new)  # truncate and write: the same inode
        else:
            swap = path.with_suffix(".new")
            swap.write_bytes(new)
            os.replace(swap, path)  # an atomic rename over it: another inode
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare, "parse_file", parse_after_a_writer)


@pytest.mark.db
@pytest.mark.parametrize("in_place", [True, False])
def test_a_file_replaced_while_it_loads_is_not_recorded_under_the_old_hash(
    db, tmp_path, monkeypatch, in_place
):
    from loader.local_files import hash_file
    from loader.mysql.session import Session

    path = tmp_path / "day.csv"
    old = csv_bytes("2025-12-09,S,T,C,1")
    new = csv_bytes("2025-12-09,S,T,C,2", "2025-12-09,S,T,D,\x00x")
    path.write_bytes(old)
    old_hash = hash_file(path)[0]
    with Session(db) as session:
        _replace_while_parsing(monkeypatch, path, new, in_place)
        report = load_file(session, path)
        monkeypatch.undo()
        assert report.status == "failed" and report.error_type == "SourceChanged"
        assert "changed while it was read" in report.failure.message
        assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]
        assert query(db, "SELECT COUNT(*) FROM fund_data_loads WHERE status = 'loading'") == [(0,)]
        loaded = query(db, "SELECT content_hash FROM fund_data_loads WHERE status = 'loaded'")
        assert (old_hash,) not in loaded
        # the writer is done: the next attempt reads the new file whole (and rejects its NUL)
        again = load_file(session, path)
        assert again.status == "rejected" and again.identity.content_hash == hash_file(path)[0]
        path.write_bytes(old)
        assert load_file(session, path).status == "loaded"
