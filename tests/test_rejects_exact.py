"""Bad input is rejected at once and rejected rows are never lost: a BOM file with a bad
byte, the rows a bad-row allowance leaves out, CR-only line endings. Against a real
MariaDB; each test failed on the code before its fix."""

from __future__ import annotations

import codecs
import json
import subprocess
from pathlib import Path

import pytest

from loader.mysql.session import Session
from tests.conftest import csv_bytes, load_file, table
from tests.helpers import export, fundsync, fundsync_command, plain_url, statuses

pytestmark = pytest.mark.db


# -- every byte validated: a BOM file with a bad byte is rejected, not failed -----------


def test_a_bom_file_with_a_bad_byte_is_rejected_at_once(db, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(
        codecs.BOM_UTF8 + csv_bytes("2025-12-09,S\xe9,T,C,1").replace(b"\xc3\xa9", b"\xe9")
    )
    with Session(db) as session:
        report = load_file(session, path)
    assert (report.status, report.error_type) == ("rejected", "FileRejected")
    assert report.errors[0]["offset"] == path.read_bytes().index(b"\xe9")
    assert table(db) == [] and statuses(db) == ["rejected"]


# -- rejected rows under an allowance are never lost -------------------------------------


def test_every_rejected_row_is_written_beside_the_file(db, tmp_path):
    rows = [f"2025-12-09,S{i},T,C,{i}" for i in range(300)]
    rows += [f"2025-12-09,,T,C,{i}" for i in range(150)]  # 150 bad rows: more than the 100 listed
    path = export(tmp_path / "day.csv", *rows)
    run = fundsync("load", "--json", "--max-bad-rows", "200", str(path), "--db", plain_url(db))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["rejected_rows"] == 150 and len(report["errors"]) == 100
    assert report["rejects_uri"] == f"{path}.rejects.csv"
    written = Path(report["rejects_uri"]).read_text().splitlines()
    assert len(written) == 151 and written[1].endswith("stock: stock is empty")
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "fund_data_2025-12-10.csv").write_bytes(
        path.read_bytes().replace(b"2025-12-09", b"2025-12-10")
    )
    done = subprocess.run(
        [fundsync_command(), "backfill", str(folder), "--max-bad-rows", "200", "--json", "--db", plain_url(db)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    beside = folder / "fund_data_2025-12-10.csv.rejects.csv"
    assert len(beside.read_text().splitlines()) == 151


def test_cr_only_line_endings_are_named_as_such(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(csv_bytes("2025-12-09,S,T,C,1", newline="\r"))
    report = json.loads(fundsync("parse", "--json", str(path)).stdout)
    assert report["status"] == "rejected" and "CR only" in report["errors"][0]["reason"]
