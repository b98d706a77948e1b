"""Connections with the loader's session settings, and the one place driver errors are classified.

Every driver error becomes a :class:`~loader.errors.DatabaseError` (the
environment: retried) with the server's ``errno`` and a message scrubbed of
the password. The statements a merge retries in place (deadlock, lock wait
timeout) are named here.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import mysql.connector
from mysql.connector import errorcode
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import DatabaseError, DatabaseSilent, PrivilegeMissing
from loader.mysql.config import DbConfig

STRICT_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
RETRYABLE_IN_TRANSACTION = {errorcode.ER_LOCK_DEADLOCK, errorcode.ER_LOCK_WAIT_TIMEOUT}
SCHEMA_BEHIND = {1146, 1054}  # no such table, no such column
LOCAL_INFILE_REFUSED = {1148, 3948, 2068, 4166}  # MariaDB 10.x, MySQL 8, the client, MariaDB 11


PRIVILEGE_DENIED = {1044, 1142, 1143, 1227}
"""Access to the database denied, a command or a column denied to the user, a privilege
missing: the user lacks a grant (docs/operations.md, "Privileges")."""
PRIVILEGES_DOC = "docs/operations.md, 'Privileges', lists what load, verify and status need"


def classify(
    error: mysql.connector.Error, config: DbConfig | None = None, privilege: str | None = None
) -> DatabaseError:
    """A driver error as a :class:`~loader.errors.DatabaseError`, scrubbed of the password.

    Some driver errors echo the password; it is replaced by ``***``. A missing grant is a
    :class:`~loader.errors.PrivilegeMissing` that names it (``privilege``, when the caller
    knows which statement needed what).
    """
    message = str(error.msg if getattr(error, "msg", None) else error)
    if config is not None and config.password:
        message = message.replace(config.password, "***")
    errno = getattr(error, "errno", None)
    if _silent(error):
        return DatabaseSilent(f"database error {errno}: {message}", errno, message)
    if errno in SCHEMA_BEHIND:
        message += " (the tables are older than this loader: run fundsync migrate)"
    if errno in PRIVILEGE_DENIED:
        needed = f"the user needs {privilege}" if privilege else "the user lacks a privilege"
        return PrivilegeMissing(
            f"database error {errno}: {message} ({needed}; {PRIVILEGES_DOC})", errno
        )
    return DatabaseError(f"database error {errno}: {message}", errno, message)


SERVER_LOST = 2013
"""CR_SERVER_LOST: the connection dropped while waiting for the server's answer."""


def _silent(error: mysql.connector.Error) -> bool:
    """The driver waited for an answer that never came (its timeout classes, or a socket
    timeout underneath), or the server dropped the connection first."""
    if isinstance(
        error,
        mysql.connector.errors.ConnectionTimeoutError | mysql.connector.errors.ReadTimeoutError,
    ):
        return True
    return isinstance(error.__cause__ or error.__context__, TimeoutError) or (
        getattr(error, "errno", None) == SERVER_LOST
    )


def staging_privilege(config: DbConfig) -> str:
    """What staging a load needs of the user, for an error that says so."""
    if config.staging_table == "temporary":
        return f"CREATE TEMPORARY TABLES on {config.database}.* to stage a load"
    return f"CREATE and DROP on {config.database}.* (staging_table=regular)"


def connect(config: DbConfig, staging_dir: Path | None = None) -> MySQLConnectionAbstract:
    """A connection with the loader's session settings (strict, utf8mb4, configured zone,
    bounded lock waits), over TLS as ``config.ssl_mode`` requires.

    LOCAL INFILE is allowed only from ``staging_dir``; without one it is off.
    The pure-Python protocol is used: the C extension may not import next to
    Python's own OpenSSL, and the hot path is server-side anyway.
    """
    if config.ssl_mode == "REQUIRED" and not config.unix_socket:
        _refuse_plain_server(config)
    try:
        conn: Any = mysql.connector.connect(**_arguments(config, staging_dir))
        cur = conn.cursor()
        cur.execute(
            "SET SESSION sql_mode = %s, time_zone = %s, innodb_lock_wait_timeout = %s, "
            "lock_wait_timeout = %s",
            (STRICT_SQL_MODE, config.time_zone, config.lock_wait_timeout, config.lock_wait_timeout),
        )
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        if config.ssl_mode != "DISABLED" and config.ssl_mode != "PREFERRED":
            _require_tls(conn, cur, config)
        cur.close()
    except mysql.connector.Error as error:
        raise classify(error, config) from None
    return conn  # type: ignore[no-any-return]


def _arguments(config: DbConfig, staging_dir: Path | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "user": config.user,
        "password": config.password,
        "database": config.database,
        "charset": "utf8mb4",
        "collation": "utf8mb4_bin",
        "use_pure": True,
        "autocommit": False,
        "connection_timeout": config.connect_timeout,
        "read_timeout": config.read_timeout,
        "write_timeout": config.write_timeout,
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
    if config.ssl_mode == "DISABLED":
        args["ssl_disabled"] = True
        return args
    for key in ("ssl_ca", "ssl_cert", "ssl_key"):
        if value := getattr(config, key):
            args[key] = value
    if config.ssl_mode in ("VERIFY_CA", "VERIFY_IDENTITY"):
        args["ssl_verify_cert"] = True
    if config.ssl_mode == "VERIFY_IDENTITY":
        args["ssl_verify_identity"] = True
    return args


CLIENT_SSL = 0x0800
"""The capability flag by which a server's greeting offers TLS."""


def _refuse_plain_server(config: DbConfig) -> None:
    """ssl_mode=REQUIRED: read the server's greeting (it speaks first) and refuse a server
    that offers no TLS before the driver sends anything, credentials included. The driver
    itself refuses early only when it verifies certificates (VERIFY_CA, VERIFY_IDENTITY);
    :func:`_require_tls` checks the session again after the handshake."""
    try:
        with socket.create_connection(
            (config.host, config.port), timeout=config.connect_timeout
        ) as probe:
            greeting = _read_packet(probe)
    except OSError as error:
        raise DatabaseError(
            f"database error 2003: cannot connect to {config.address} ({error})", 2003
        ) from None
    if not greeting or greeting[0] != 10:
        return  # not a greeting we read (an error packet, say): the driver will say why
    end = greeting.index(0, 1) if 0 in greeting[1:] else len(greeting)
    flags_at = end + 1 + 4 + 8 + 1  # version string NUL, connection id, scramble, filler
    if len(greeting) < flags_at + 2:
        return
    if not int.from_bytes(greeting[flags_at : flags_at + 2], "little") & CLIENT_SSL:
        raise DatabaseError(
            f"database error 2026: ssl_mode=REQUIRED but {config.address} offers no TLS: not "
            "connected, nothing sent (no credentials)",
            2026,
        )


def _read_packet(sock: socket.socket) -> bytes:
    """One packet of the client/server protocol: a 3-byte length, a sequence byte, the body."""
    header = _read_exactly(sock, 4)
    return _read_exactly(sock, int.from_bytes(header[:3], "little")) if len(header) == 4 else b""


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _require_tls(conn: Any, cur: Any, config: DbConfig) -> None:
    """Refuse a session that is not encrypted (a server that offers no TLS).

    A Unix socket never leaves the machine: the mysql client counts it as
    secure, and so does this check.
    """
    if config.unix_socket:
        return
    cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    row = cur.fetchone()
    if not row or not row[1]:
        conn.close()
        raise DatabaseError(
            f"database error: ssl_mode={config.ssl_mode} but {config.address} did not encrypt "
            "the connection (the server offers no TLS)",
            2026,
        )
