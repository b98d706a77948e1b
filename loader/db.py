"""Database settings, connections and error classification for MySQL 8 / Aurora MySQL 3 / MariaDB.

The URL is ``mysql://user:password@host:port/db`` with optional query
parameters ``unix_socket``, ``ssl_ca``, ``ssl_cert``, ``ssl_key``,
``ssl_verify_identity`` (true/false), ``ssl_disabled`` and ``connect_timeout``.
Without one, ``FUNDSYNC_DB_URL``, then ``AURORA_HOST``/``AURORA_PORT``/
``AURORA_USER``/``AURORA_PASSWORD``/``AURORA_DATABASE``. The password is
never printed: :meth:`DbConfig.redacted` and ``repr`` hide it, and errors
raised here never include it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import mysql.connector
from mysql.connector import errorcode
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import ConfigError, PermanentError, TransientError

DB_ENV = {
    "url": "FUNDSYNC_DB_URL",
    "secret": "FUNDSYNC_DB_SECRET_ARN",
    "time_zone": "FUNDSYNC_TIME_ZONE",
    "host": "AURORA_HOST",
    "port": "AURORA_PORT",
    "user": "AURORA_USER",
    "password": "AURORA_PASSWORD",
    "database": "AURORA_DATABASE",
}
DEFAULT_TIME_ZONE = "+07:00"  # Asia/Bangkok, no DST
STRICT_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class DbConfig:
    """Where the database is and how to talk to it. ``repr`` never shows the password."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    database: str = "fundsync"
    unix_socket: str | None = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_identity: bool = False
    ssl_disabled: bool = False
    connect_timeout: int = 10
    time_zone: str = DEFAULT_TIME_ZONE

    @classmethod
    def from_url(cls, url: str, time_zone: str | None = None) -> DbConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+mysqlconnector"):
            raise ConfigError(
                f"database URL must start with mysql:// (got {parts.scheme or 'none'}://)"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        known = {
            "unix_socket",
            "ssl_ca",
            "ssl_cert",
            "ssl_key",
            "ssl_verify_identity",
            "ssl_disabled",
            "connect_timeout",
            "time_zone",
        }
        if unknown := set(query) - known:
            raise ConfigError(f"unknown database URL parameter(s): {', '.join(sorted(unknown))}")
        try:
            port = parts.port or 3306
        except ValueError:
            raise ConfigError("database URL has an invalid port") from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")) or "fundsync",
            unix_socket=query.get("unix_socket"),
            ssl_ca=query.get("ssl_ca"),
            ssl_cert=query.get("ssl_cert"),
            ssl_key=query.get("ssl_key"),
            ssl_verify_identity=query.get("ssl_verify_identity", "").lower() in _TRUE,
            ssl_disabled=query.get("ssl_disabled", "").lower() in _TRUE,
            connect_timeout=int(query.get("connect_timeout", "10")),
            time_zone=time_zone or query.get("time_zone") or DEFAULT_TIME_ZONE,
        )

    @classmethod
    def from_env(cls, url: str | None = None, environ: Mapping[str, str] | None = None) -> DbConfig:
        """An explicit URL, else FUNDSYNC_DB_URL, else the secret, else the AURORA_* variables.

        The secret (FUNDSYNC_DB_SECRET_ARN, as the Lambda is deployed) is read
        from Secrets Manager in the RDS format (username, password, host,
        port, dbname).
        """
        env = os.environ if environ is None else environ
        zone = env.get(DB_ENV["time_zone"])
        if url or (url := env.get(DB_ENV["url"])):
            return cls.from_url(url, time_zone=zone)
        if secret := env.get(DB_ENV["secret"]):
            from loader.aws import db_config_from_secret

            return db_config_from_secret(secret, time_zone=zone)
        if env.get(DB_ENV["host"]):
            return cls(
                host=env[DB_ENV["host"]],
                port=int(env.get(DB_ENV["port"], "3306")),
                user=env.get(DB_ENV["user"], "root"),
                password=env.get(DB_ENV["password"], ""),
                database=env.get(DB_ENV["database"], "fundsync"),
                time_zone=zone or DEFAULT_TIME_ZONE,
            )
        raise ConfigError(
            "no database given: use --db mysql://user:password@host:port/db, "
            f"or set {DB_ENV['url']}, {DB_ENV['secret']} or {DB_ENV['host']}"
        )

    def with_database(self, database: str) -> DbConfig:
        return replace(self, database=database)

    def redacted(self) -> str:
        """The URL with the password replaced by ``***``."""
        auth = quote(self.user, safe="") + (":***" if self.password else "")
        where = f"{self.host}:{self.port}"
        extra = f"?unix_socket={self.unix_socket}" if self.unix_socket else ""
        return f"mysql://{auth}@{where}/{self.database}{extra}"

    def __str__(self) -> str:
        return self.redacted()


class DatabaseError(TransientError):
    """The database failed in a way a retry may fix (connection, deadlock, lock wait, timeout)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class SchemaError(PermanentError):
    """The target table is not one the loader can merge into safely."""


TRANSIENT_ERRNOS = {
    errorcode.ER_LOCK_DEADLOCK,  # 1213
    errorcode.ER_LOCK_WAIT_TIMEOUT,  # 1205
    errorcode.CR_CONNECTION_ERROR,  # 2002
    errorcode.CR_CONN_HOST_ERROR,  # 2003
    errorcode.CR_SERVER_GONE_ERROR,  # 2006
    errorcode.CR_SERVER_LOST,  # 2013
    errorcode.ER_CON_COUNT_ERROR,  # 1040
    errorcode.ER_QUERY_INTERRUPTED,  # 1317
    1927,  # MariaDB: connection killed
    4031,  # MySQL 8: disconnected by the server (inactivity)
    errorcode.ER_SERVER_SHUTDOWN,  # 1053
}
RETRYABLE_IN_TRANSACTION = {errorcode.ER_LOCK_DEADLOCK, errorcode.ER_LOCK_WAIT_TIMEOUT}


def classify(error: mysql.connector.Error, config: DbConfig | None = None) -> Exception:
    """One place that maps a driver error to a transient or permanent loader error.

    The message is scrubbed of the password, which some driver errors echo.
    """
    message = str(error.msg if getattr(error, "msg", None) else error)
    if config is not None and config.password:
        message = message.replace(config.password, "***")
    errno = getattr(error, "errno", None)
    if errno in TRANSIENT_ERRNOS or isinstance(error, mysql.connector.InterfaceError):
        return DatabaseError(f"database error {errno}: {message}", errno)
    return PermanentDatabaseError(f"database error {errno}: {message}", errno)


class PermanentDatabaseError(PermanentError):
    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


def connect(config: DbConfig, staging_dir: Path | None = None) -> MySQLConnectionAbstract:
    """A connection with the loader's session settings (strict, utf8mb4, configured zone).

    LOCAL INFILE is allowed only from ``staging_dir``; without one it is off.
    The pure-Python protocol is used: the C extension may not import next to
    Python's own OpenSSL, and the hot path is server-side anyway.
    """
    args: dict[str, Any] = {
        "user": config.user,
        "password": config.password,
        "database": config.database,
        "charset": "utf8mb4",
        "collation": "utf8mb4_bin",
        "use_pure": True,
        "autocommit": False,
        "connection_timeout": config.connect_timeout,
        "get_warnings": False,
    }
    if config.unix_socket:
        args["unix_socket"] = config.unix_socket
    else:
        args["host"], args["port"] = config.host, config.port
    if staging_dir is not None:
        args["allow_local_infile_in_path"] = str(staging_dir)
    else:
        args["allow_local_infile"] = False
    if config.ssl_disabled:
        args["ssl_disabled"] = True
    else:
        for key in ("ssl_ca", "ssl_cert", "ssl_key"):
            if value := getattr(config, key):
                args[key] = value
        if config.ssl_verify_identity:
            args["ssl_verify_identity"] = True
            args["ssl_verify_cert"] = True
    try:
        conn = mysql.connector.connect(**args)
        cur = conn.cursor()
        cur.execute(
            "SET SESSION sql_mode = %s, time_zone = %s", (STRICT_SQL_MODE, config.time_zone)
        )
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cur.close()
    except mysql.connector.Error as error:
        raise classify(error, config) from None
    return conn  # type: ignore[return-value]
