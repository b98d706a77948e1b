"""One connection to the target database, kept while it works, and its private staging directory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import mysql.connector
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.mysql import ledger, sql
from loader.mysql.config import DbConfig
from loader.mysql.connection import classify, connect, staging_privilege
from loader.mysql.schema import check_target
from loader.prepare.stagedir import StagingDir


class Session:
    """The database a process loads into: a connection made on first use, kept while it works.

    LOCAL INFILE is allowed only from the session's staging directory (its
    own, or the one given: the backfill shares one with its worker
    processes). A lost connection is made again at the next use.
    """

    def __init__(
        self,
        config: DbConfig,
        staging: StagingDir | None = None,
        staging_parent: str | None = None,
    ) -> None:
        self.config = config
        self._own_staging = staging is None
        self.staging = staging or StagingDir(staging_parent)
        self._conn: MySQLConnectionAbstract | None = None
        self.mariadb = False
        self.max_packet = 4 << 20
        self._read_limit = config.read_timeout
        self._has_stage = False
        self.composite_key = False
        """Rows may be replaced in place: fund_data's primary key is the composite key and it
        has no trigger (checked before every merge)."""

    def connection(self) -> MySQLConnectionAbstract:
        """The live connection (made again if it was lost)."""
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)
            except mysql.connector.Error:
                self._conn = None
        if self._conn is None:
            self._conn = connect(self.config, staging_dir=self.staging.path)
            self._has_stage = False
            with self.classified():
                cur: Any = self._conn.cursor()
                cur.execute("SELECT VERSION(), @@max_allowed_packet")
                version, packet = cur.fetchone()
                cur.close()
            self.mariadb, self.max_packet = "mariadb" in str(version).lower(), int(packet)
            conn: Any = self._conn
            conn.read_timeout = self._read_limit
        return self._conn

    def empty_stage(self, ledger_id: int) -> str:
        """An empty staging table for one load attempt, made before its transaction (DDL
        commits): the connection's TEMPORARY table truncated, or (``staging_table=regular``)
        a regular table of the load's own, made afresh. Returns its name."""
        cur: Any = self.connection().cursor()
        try:
            if self.config.staging_table == "temporary":
                if not self._has_stage:  # made on first use: verify and status never need it
                    cur.execute(sql.CREATE_STAGE)
                    self._has_stage = True
                cur.execute(sql.TRUNCATE_STAGE)
                return sql.STAGE_TABLE
            table = sql.regular_stage(ledger_id)
            cur.execute(sql.drop_stage(table))
            cur.execute(sql.create_regular_stage(table))
            return table
        except mysql.connector.Error as error:
            raise classify(error, self.config, staging_privilege(self.config)) from None
        finally:
            cur.close()

    def drop_stage(self, table: str) -> None:
        """Drop a load's regular staging table (best effort: a leftover is dropped by the
        next load, see :meth:`drop_leftover_stages`). The TEMPORARY one stays for the next."""
        if table == sql.STAGE_TABLE or self._conn is None:
            return
        with contextlib.suppress(mysql.connector.Error):
            cur: Any = self._conn.cursor()
            cur.execute(sql.drop_stage(table))
            cur.close()

    def drop_leftover_stages(self) -> int:
        """Drop the regular staging tables of attempts whose connection is gone (killed
        mid-load; their named lock is free); how many. A live load's table is never touched:
        its attempt holds the lock until it ends."""
        conn = self.connection()
        cur: Any = conn.cursor()
        try:
            cur.execute(sql.LEFTOVER_STAGES)
            names = [str(name) for (name,) in cur.fetchall()]
            dropped = 0
            for name in names:
                suffix = name[len(sql.REGULAR_STAGE_PREFIX) :]
                if not name.startswith(sql.REGULAR_STAGE_PREFIX) or not suffix.isdigit():
                    continue
                if ledger.lock_held(conn, int(suffix)):
                    continue
                cur.execute(sql.drop_stage(name))
                dropped += 1
            return dropped
        finally:
            cur.close()

    @contextlib.contextmanager
    def classified(self) -> Iterator[None]:
        """Driver errors raised inside the block as :class:`~loader.errors.DatabaseError`
        (scrubbed of the password, with a hint where one helps)."""
        try:
            yield
        except mysql.connector.Error as error:
            raise classify(error, self.config) from None

    def check_target(self) -> None:
        """Check fund_data before a merge relies on it: every time, since another session may
        have changed it while this connection was kept (a warm Lambda, a worker)."""
        self.composite_key = check_target(self.connection())

    def limit_read_time(self, seconds: float | None) -> None:
        """Wait at most this long for any answer of the server (the rest of an invocation);
        None: the configured read timeout again."""
        limit = self.config.read_timeout
        if seconds is not None:
            limit = max(1, min(limit, int(seconds)))
        self._read_limit = limit
        if self._conn is not None:
            conn: Any = self._conn
            conn.read_timeout = limit

    def rollback_quietly(self) -> None:
        """Roll back what is open; a connection that cannot even do that is dropped."""
        try:
            if self._conn is not None:
                self._conn.rollback()
        except mysql.connector.Error:
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(mysql.connector.Error):
                self._conn.close()
            self._conn = None
        if self._own_staging:
            self.staging.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
