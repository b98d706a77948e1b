"""Where the database is: :class:`DbConfig`, from a URL, the environment or a secret.

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

from loader.errors import ConfigError
from loader.mysql.quality_policy import policy_of
from loader.settings import DB_ENV

DEFAULT_TIME_ZONE = "+07:00"  # Asia/Bangkok, no DST
_TRUE = {"1", "true", "yes", "on"}
SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
"""Weakest first: a TLS requirement asked anywhere is never lowered (:func:`strongest`)."""


def strongest(*modes: str | None) -> str:
    """The strongest of the TLS modes given (unknown names are left to the config check)."""
    given = [m.upper() for m in modes if m]
    known = [m for m in given if m in SSL_MODES]
    if len(known) != len(given):
        return next(m for m in given if m not in SSL_MODES)
    return max(known, key=SSL_MODES.index) if known else "PREFERRED"


STAGING_TABLES = ("temporary", "regular")
TIMEOUTS = ("connect_timeout", "read_timeout", "write_timeout", "lock_wait_timeout")
PERCENT_ENCODE = (
    "percent-encode the password's reserved characters in the URL "
    "(/ as %2F, @ as %40, : as %3A, # as %23), or give it another way "
    "(FUNDSYNC_DB_PASSWORD, an option file)"
)


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
    ssl_mode: str = "PREFERRED"
    """DISABLED, PREFERRED (TLS when the server offers it), REQUIRED (TLS or no connection),
    VERIFY_CA (and the server's certificate signed by ``ssl_ca``), VERIFY_IDENTITY (and
    issued to the host connected to), as the mysql client's ``--ssl-mode``."""
    connect_timeout: int = 10
    """Seconds to establish a connection."""
    read_timeout: int = 900
    """Seconds to wait for the server's answer to one statement (the longest merge)."""
    write_timeout: int = 900
    """Seconds to send one request (the staging text streams within LOAD DATA)."""
    lock_wait_timeout: int = 60
    """Seconds a statement waits for a row lock or a table's metadata lock (the session's
    ``innodb_lock_wait_timeout`` and ``lock_wait_timeout``); then it fails and is retried."""
    time_zone: str = DEFAULT_TIME_ZONE
    staging_table: str = "temporary"
    """``temporary`` (one TEMPORARY table per connection) or ``regular`` (a regular table per
    load, ``fund_data_stage_<ledger id>``, dropped after it: on Aurora MySQL 3.03.2+ the fast
    insert path works only for regular tables; docs/mysql.md)."""
    verify: bool = False
    """Prove before each commit that fund_data holds exactly the file's values (URL
    ``verify=1``, ``FUNDSYNC_VERIFY``, ``--verify``); off by default for its cost
    (docs/mysql.md, "Verified loads")."""
    quality: str = ""
    """The quality gate's policies over its defaults (``check=off|warn|hold,...``;
    ``FUNDSYNC_QUALITY``, ``--quality``; :mod:`loader.mysql.quality`)."""

    def __post_init__(self) -> None:
        if self.staging_table not in STAGING_TABLES:
            raise ConfigError(
                f"staging_table {self.staging_table!r}: use one of {', '.join(STAGING_TABLES)}"
            )
        if self.ssl_mode not in SSL_MODES:
            raise ConfigError(f"ssl_mode {self.ssl_mode!r}: use one of {', '.join(SSL_MODES)}")
        if self.ssl_mode.startswith("VERIFY") and not self.ssl_ca:
            raise ConfigError(f"ssl_mode={self.ssl_mode} needs ssl_ca (the CA bundle to trust)")
        for name in ("ssl_ca", "ssl_cert", "ssl_key"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ConfigError(f"{name} {value}: no such file")
        policy_of(self.quality)  # a typo stops here, not as a failure of every file
        for name in TIMEOUTS:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 second")

    @classmethod
    def from_url(cls, url: str, time_zone: str | None = None) -> DbConfig:
        fields = url_fields(url)
        if time_zone:
            fields["time_zone"] = time_zone
        return cls(**fields)

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
            config = cls.from_url(url, time_zone=zone)
        elif secret := env.get(DB_ENV["secret"]):
            config = cls.from_secret(secret, time_zone=zone)
        elif env.get(DB_ENV["host"]):
            config = cls(
                host=env[DB_ENV["host"]],
                port=_int(env.get(DB_ENV["port"], "3306"), DB_ENV["port"]),
                user=env.get(DB_ENV["user"], "root"),
                password=env.get(DB_ENV["password"], ""),
                database=env.get(DB_ENV["database"], "fundsync"),
                time_zone=zone or DEFAULT_TIME_ZONE,
            )
        else:
            raise ConfigError(
                "no database given: use --db mysql://user@host:port/db, "
                f"or set {DB_ENV['url']}, {DB_ENV['secret']} or {DB_ENV['host']}"
            )
        return config.with_environment(env)

    def with_environment(self, env: Mapping[str, str]) -> DbConfig:
        """The timeouts, the TLS settings and a password the environment sets (FUNDSYNC_DB_*).

        The environment is below a URL or a flag: its CA bundle applies only when they named
        none, and its TLS mode can only raise the requirement, never lower it."""
        changes: dict[str, Any] = {
            name: _int(env[DB_ENV[name]], DB_ENV[name])
            for name in TIMEOUTS
            if env.get(DB_ENV[name])
        }
        if mode := env.get(DB_ENV["ssl_mode"]):
            changes["ssl_mode"] = strongest(self.ssl_mode, mode)
        if (ca := env.get(DB_ENV["ssl_ca"])) and not self.ssl_ca:
            changes["ssl_ca"] = ca
        staging = env.get(DB_ENV["staging_table"], "").strip().lower()
        if staging and self.staging_table == "temporary":  # a URL's regular wins
            changes["staging_table"] = staging
        verify = env.get(DB_ENV["verify"], "").strip().lower()
        if verify in _TRUE and not self.verify:
            changes["verify"] = True
        if (quality := env.get(DB_ENV["quality"], "").strip()) and not self.quality:
            changes["quality"] = quality
        if not self.password and (password := env.get(DB_ENV["db_password"])):
            changes["password"] = password  # the URL's own password wins
        return replace(self, **changes) if changes else self

    @classmethod
    def from_secret(cls, secret_id: str, time_zone: str | None = None) -> DbConfig:
        """The database from a Secrets Manager secret in the RDS format.

        The secret holds ``username``, ``password``, ``host``, ``port`` and
        ``dbname`` (as RDS and Aurora write them on rotation). The password goes
        into :class:`DbConfig`, which never prints it.
        """
        from loader import aws

        secret = aws.secret_json(secret_id)
        try:
            return cls(
                host=str(secret["host"]),
                port=int(secret.get("port", 3306)),
                user=str(secret["username"]),
                password=str(secret["password"]),
                database=str(secret.get("dbname") or secret.get("database") or "fundsync"),
                time_zone=time_zone or DEFAULT_TIME_ZONE,
            )
        except (KeyError, ValueError, TypeError):
            raise ConfigError(
                "the database secret must be JSON with username, password, host, port and dbname"
            ) from None

    def with_database(self, database: str) -> DbConfig:
        return replace(self, database=database)

    @property
    def address(self) -> str:
        """Where the server is, as a person names it: ``host:port`` or the socket."""
        return self.unix_socket or f"{self.host}:{self.port}"

    def redacted(self) -> str:
        """The URL with the password replaced by ``***``."""
        auth = quote(self.user, safe="") + (":***" if self.password else "")
        where = f"{self.host}:{self.port}"
        extra = f"?unix_socket={self.unix_socket}" if self.unix_socket else ""
        return f"mysql://{auth}@{where}/{self.database}{extra}"

    def __str__(self) -> str:
        return self.redacted()


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a whole number") from None


def _timeouts(query: dict[str, str]) -> dict[str, int]:
    return {name: _int(query[name], name) for name in TIMEOUTS if name in query}


def _ssl_mode(query: dict[str, str]) -> str:
    """``ssl_mode``, or the older ``ssl_disabled`` / ``ssl_verify_identity`` flags."""
    if mode := query.get("ssl_mode"):
        return mode.upper()
    if query.get("ssl_disabled", "").lower() in _TRUE:
        return "DISABLED"
    if query.get("ssl_verify_identity", "").lower() in _TRUE:
        return "VERIFY_IDENTITY"
    return "PREFERRED"


def url_fields(url: str) -> dict[str, Any]:
    """The fields a database URL sets (only those it names; the rest keep their defaults)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb", "mysql+mysqlconnector"):
        raise ConfigError(
            f"database URL must start with mysql:// (got {parts.scheme or 'none'}://)"
        )
    if parts.fragment or "@" in parts.path or "@" in parts.query:
        raise ConfigError(f"the database URL does not parse: {PERCENT_ENCODE}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    known = {"unix_socket", "ssl_ca", "ssl_cert", "ssl_key", "ssl_mode", "time_zone"}
    known |= {"staging_table", "verify"}
    known |= {"ssl_verify_identity", "ssl_disabled", *TIMEOUTS}
    if unknown := set(query) - known:
        raise ConfigError(f"unknown database URL parameter(s): {', '.join(sorted(unknown))}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"the database URL has an invalid port: {PERCENT_ENCODE}") from None
    fields: dict[str, Any] = {
        "host": parts.hostname,
        "port": port,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "database": unquote(parts.path.lstrip("/")) or None,
        "unix_socket": query.get("unix_socket"),
        "ssl_ca": query.get("ssl_ca"),
        "ssl_cert": query.get("ssl_cert"),
        "ssl_key": query.get("ssl_key"),
        "time_zone": query.get("time_zone"),
        "staging_table": query.get("staging_table"),
        "verify": True if query.get("verify", "").lower() in _TRUE else None,
        **_timeouts(query),
    }
    mode = _ssl_mode(query)
    if mode != "PREFERRED":
        fields["ssl_mode"] = mode
    return {k: v for k, v in fields.items() if v is not None}
