"""Benchmarks share generated exports, cached under bench/data/ (not committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.devtools.samples import ExportSpec, write_export

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def typical_export() -> Path:
    """A typical daily export: 1M rows, ~5% text, a few duplicates, CRLF, UTF-8."""
    DATA.mkdir(exist_ok=True)
    path = DATA / "typical_1000000.csv"
    if not path.exists():
        write_export(path, ExportSpec(rows=1_000_000))
    return path


@pytest.fixture(scope="session")
def cp1252_export() -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / "cp1252_1000000.csv.gz"
    if not path.exists():
        write_export(path, ExportSpec(rows=1_000_000, encoding="cp1252", gzip=True))
    return path


@pytest.fixture(scope="session")
def bench_db():
    """A throwaway MariaDB with a migrated database, for the database stages."""
    from loader.devtools.dbserver import ThrowawayServer, fresh_database

    with ThrowawayServer() as server, fresh_database(server.url) as config:
        yield config
