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
from urllib.parse import parse_qs, quote, unquote, urlsplit

from loader.errors import ConfigError
from loader.settings import DB_ENV

DEFAULT_TIME_ZONE = "+07:00"  # Asia/Bangkok, no DST
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
            return cls.from_secret(secret, time_zone=zone)
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

    def redacted(self) -> str:
        """The URL with the password replaced by ``***``."""
        auth = quote(self.user, safe="") + (":***" if self.password else "")
        where = f"{self.host}:{self.port}"
        extra = f"?unix_socket={self.unix_socket}" if self.unix_socket else ""
        return f"mysql://{auth}@{where}/{self.database}{extra}"

    def __str__(self) -> str:
        return self.redacted()
