"""Shared helpers. Tests without a ``db`` or ``aws`` marker are the fast ``unit`` tier."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from loader.errors import FileRejected
from loader.parse import parse_file
from loader.result import ParseResult
from loader.settings import ParseSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(m) for m in ("db", "aws")):
            item.add_marker(pytest.mark.unit)


HEADER = "d_trade,stock,ticker,col_code,value"


def csv_bytes(
    *rows: str, header: str = HEADER, newline: str = "\n", encoding: str = "utf-8"
) -> bytes:
    """An export from text lines (header first unless ``header`` is empty)."""
    lines = ([header] if header else []) + list(rows)
    return (newline.join(lines) + newline).encode(encoding)


def parse(data: bytes, name: str = "test.csv", **settings: Any) -> ParseResult:
    return parse_file(data, name=name, settings=ParseSettings(**settings))


def reject(data: bytes, name: str = "test.csv", **settings: Any) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse(data, name=name, **settings)
    return caught.value


Row = tuple[Any, str, str, str, Decimal | None, str | None]


def rows_of(result: ParseResult) -> list[Row]:
    """Rows as plain Python values, in the result's order."""
    frame = result.to_arrow()
    out = []
    for r in frame.to_pylist():
        numeric = r["value_numeric"]
        out.append(
            (
                r["d_trade"],
                r["stock"],
                r["ticker"],
                r["col_code"],
                None if numeric is None else Decimal(numeric),
                r["value_text"],
            )
        )
    return out


def values_of(result: ParseResult) -> list[tuple[Decimal | None, str | None]]:
    return [(r[4], r[5]) for r in rows_of(result)]


def one_value(value: str, **settings: Any) -> tuple[Decimal | None, str | None]:
    """Parse a single value through a whole file; (value_numeric, value_text)."""
    quoted = '"' + value.replace('"', '""') + '"'
    result = parse(csv_bytes(f"2025-12-09,S,T,C,{quoted}"), **settings)
    [pair] = values_of(result)
    return pair


# -- a real database for the ``db`` tier -------------------------------------------

import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@pytest.fixture(scope="session")
def db_server_url() -> Iterator[str]:
    """FUNDSYNC_TEST_DB_URL, else a private throwaway server for this test session."""
    if url := os.environ.get("FUNDSYNC_TEST_DB_URL"):
        yield url
        return
    from loader.dbserver import ThrowawayServer
    from loader.errors import ConfigError

    try:
        server = ThrowawayServer().start()
    except ConfigError as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


def _admin(url: str):
    from loader.db import DbConfig, connect

    config = DbConfig.from_url(url)
    return config, connect(config.with_database("mysql"))


@pytest.fixture(params=["composite-pk", "surrogate-id"])
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(db_server_url: str, request: pytest.FixtureRequest):
    """A fresh, migrated database of its own; the layout parameter when the test asks for it."""
    from loader.migrate import migrate

    config, admin = _admin(db_server_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.commit()
    config = config.with_database(name)
    from loader.db import connect

    conn = connect(config)
    if "layout" in request.fixturenames and request.getfixturevalue("layout") == "surrogate-id":
        c = conn.cursor()
        c.execute(_ddl(SQL_DIR / "layouts" / "fund_data_surrogate_id.sql"))
        c.close()
    migrate(conn)
    conn.close()
    try:
        yield config
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.commit()
        admin.close()


def _ddl(path: Path) -> str:
    body = "\n".join(
        line for line in path.read_text().splitlines() if not line.strip().startswith("--")
    )
    return body.strip().rstrip(";")


def query(config, statement: str, params: tuple = ()) -> list[tuple]:
    from loader.db import connect

    conn = connect(config)
    try:
        cur = conn.cursor()
        cur.execute(statement, params)
        rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def table(config) -> list[tuple]:
    """fund_data as (d_trade, stock, ticker, col_code, value_numeric, value_text, source), key order."""
    return query(
        config,
        "SELECT d_trade, stock, ticker, col_code, value_numeric, value_text, s3_source_key "
        "FROM fund_data ORDER BY d_trade, stock, ticker, col_code",
    )
