"""The staging text streamed through a named pipe while LOAD DATA reads it (StagedRows).

The pipe holds 64 KiB, so the frames here are large enough that the writer
blocks on a full pipe: every way the reader can behave (read it all, twice;
never open it; stop early) must leave no writer thread and no pipe behind, and
an error of the writer must reach the caller with nothing of the load kept.
"""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

import loader.prepare.stagetext as stage
from loader.mysql.session import Session
from loader.parse import parse_file
from loader.prepare.stagedir import StagingDir
from loader.prepare.stagetext import write_staging_file
from loader.prepare.staging import StagedRows
from tests.conftest import csv_bytes, load_file, query

ROWS = 40_000  # about 1.5 MB of staging text: many times the pipe's buffer


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fundsync-staging-writer"]


@pytest.fixture
def parsed(tmp_path):
    path = tmp_path / "day.csv"
    path.write_bytes(
        csv_bytes(
            *(f"2025-12-09,S{i % 997},T{i},NAV,{i}.125" for i in range(ROWS)),
            '2025-12-09,S,T,NOTE,"tab\there, back\\\\slash"',
        )
    )
    return parse_file(path).rows


def read_all(path: Path) -> bytes:
    with open(path, "rb") as pipe:
        return pipe.read()


def test_each_open_streams_the_whole_staging_file_text(parsed, tmp_path):
    reference = tmp_path / "reference.tsv"
    write_staging_file(parsed, reference)
    with StagingDir(str(tmp_path)) as directory:
        stream = StagedRows(parsed)
        for _ in range(2):  # a retry reads it all again
            with stream.open(directory) as path:
                assert path.is_fifo()
                assert read_all(path) == reference.read_bytes()
        assert list(directory.path.iterdir()) == []
    assert writers() == []


@pytest.mark.parametrize("in_file", [False, True], ids=["in-memory", "worker-file"])
def test_the_text_of_some_positions_is_theirs_alone_in_key_order(parsed, tmp_path, in_file):
    """What the diff writes: the rows at some positions, from the rows themselves."""
    chosen = pl.Series([5, ROWS, 17, 3, 39_999], dtype=pl.UInt32)  # any order, the text row too
    reference = tmp_path / "reference.tsv"
    write_staging_file(parsed[chosen], reference)
    staged = StagedRows(parsed)
    if in_file:
        staged = staged.to_file(tmp_path)  # its rows read back, in the file's own order
        chosen = pl.Series(range(staged.height), dtype=pl.UInt32).sample(5, seed=1)
        reference.unlink()
        write_staging_file(staged.rows[chosen], reference)
    with StagingDir(str(tmp_path)) as directory:
        with staged.open(directory, only=chosen) as path:
            text = read_all(path)
        with staged.open(directory, only=chosen[:0]) as path:
            assert read_all(path) == b""
    assert text == reference.read_bytes() and text.count(b"\n") == 5
    assert writers() == []


def test_a_reader_that_never_comes_or_stops_early_leaves_nothing_behind(parsed, tmp_path):
    with StagingDir(str(tmp_path)) as directory:
        stream = StagedRows(parsed)
        with stream.open(directory):
            pass  # the statement failed before it read the file
        with stream.open(directory) as path, open(path, "rb") as pipe:
            assert len(pipe.read(1000)) == 1000  # and this one failed after a little
        assert list(directory.path.iterdir()) == []
    assert writers() == []


@pytest.fixture
def second_chunk_fails(monkeypatch):
    """The writer formats 10,000-row chunks and runs out of memory on the second one."""
    real = stage._as_text
    calls = []

    def failing(part, escape):
        calls.append(part.height)
        if len(calls) == 2:
            raise MemoryError("out of memory formatting the second chunk")
        return real(part, escape)

    monkeypatch.setattr(stage, "_as_text", failing)
    monkeypatch.setattr(stage, "WRITE_CHUNK_ROWS", 10_000)
    return lambda: monkeypatch.setattr(stage, "_as_text", real)  # heals it


def test_an_error_of_the_writer_reaches_the_reader_s_caller(parsed, tmp_path, second_chunk_fails):
    with StagingDir(str(tmp_path)) as directory:
        stream = StagedRows(parsed)
        with pytest.raises(MemoryError), stream.open(directory) as path:
            text = read_all(path)
        assert text.count(b"\n") == 10_000  # the reader saw the text end early
    assert writers() == []


@pytest.mark.db
def test_a_load_whose_writer_fails_keeps_nothing_and_the_loader_goes_on(
    db, tmp_path, second_chunk_fails
):
    path = tmp_path / "day.csv"
    path.write_bytes(csv_bytes(*(f"2025-12-09,S{i},T,NAV,{i}.5" for i in range(30_000))))
    with Session(db) as session:
        failed = load_file(session, path)
        assert (failed.status, failed.failure.error_type) == ("failed", "MemoryError")
        assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]  # 10,000 were sent
        second_chunk_fails()  # healed
        again = load_file(session, path)  # the same session, its connection rolled back
    assert (again.status, again.inserted) == ("loaded", 30_000)
    assert query(db, "SELECT COUNT(*) FROM fund_data") == [(30_000,)]
    ledger = query(db, "SELECT status, error FROM fund_data_loads ORDER BY id")
    assert [s for s, _ in ledger] == ["failed", "loaded"] and "out of memory" in ledger[0][1]
    assert writers() == []
