"""``fundsync migrate``: apply the numbered SQL files in ``loader/mysql/migrations/`` once each.

The files are package data: they travel with the package into a wheel, an installed
``fundsync`` (``uv tool install``, ``pipx``) and the Lambda image. No file found is an
error (an incomplete installation), never "up to date".

Applied versions are recorded in ``fundsync_schema_migrations`` with the
file's checksum. A named server lock (``GET_LOCK``) serialises concurrent
runs, so two processes migrating at once apply each file exactly once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import MigrationError

SQL_DIR = Path(__file__).resolve().parent / "migrations"
LOCK_NAME = "fundsync.migrate"
_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")

TRACKING_TABLE = """
CREATE TABLE IF NOT EXISTS fundsync_schema_migrations (
    version    INT UNSIGNED NOT NULL PRIMARY KEY,
    name       VARCHAR(255) NOT NULL,
    checksum   CHAR(64)     NOT NULL,
    applied_at DATETIME(6)  NOT NULL
) ENGINE = InnoDB
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        return statements(self.sql)


def statements(text: str) -> list[str]:
    """The statements of an SQL file: ``--`` comment lines dropped, split on ``;``."""
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        if match := _FILE.match(path.name):
            found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    if not found:
        raise MigrationError(
            f"no migration files in {sql_dir}: this installation of fund-data-sync is "
            "incomplete (reinstall it); nothing was applied"
        )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {sql_dir}")
    return found


def migrate(conn: MySQLConnectionAbstract, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Apply what is missing; return the migrations applied by this call."""
    cur: Any = conn.cursor()
    cur.execute("SELECT GET_LOCK(%s, 120)", (LOCK_NAME,))
    (got,) = cur.fetchone()
    if got != 1:
        raise MigrationError("another fundsync migrate held the migration lock for 120 s")
    try:
        cur.execute(TRACKING_TABLE)
        cur.execute("SELECT version, checksum FROM fundsync_schema_migrations")
        applied = {int(v): str(c) for v, c in cur.fetchall()}
        done = []
        for migration in migrations(sql_dir):
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:03d}_{migration.name} changed after it "
                        "was applied; add a new migration instead of editing an applied one"
                    )
                continue
            for statement in migration.statements():
                cur.execute(statement)
            cur.execute(
                "INSERT INTO fundsync_schema_migrations (version, name, checksum, applied_at) "
                "VALUES (%s, %s, %s, NOW(6))",
                (migration.version, migration.name, migration.checksum),
            )
            conn.commit()
            done.append(migration)
        return done
    finally:
        cur.execute("SELECT RELEASE_LOCK(%s)", (LOCK_NAME,))
        cur.fetchall()
        cur.close()
