"""Where the database is, the way the mysql client is told: flags, a URL, the environment and
option files, in that order of precedence.

1. **flags**: ``-h/--host``, ``-P/--port``, ``-u/--user``, ``-D/--database``, ``-S/--socket``,
   ``-p/--password`` (with no value: a prompt that does not echo), ``--password-file``;
2. **the URL**: ``--db mysql://user@host:port/db?...``;
3. **the environment**: ``FUNDSYNC_DB_URL``, ``FUNDSYNC_DB_SECRET_ARN``, the ``AURORA_*``
   variables, ``FUNDSYNC_DB_PASSWORD``, ``FUNDSYNC_DB_SSL_CA``;
4. **option files**: the ``[client]`` (then ``[fundsync]``) section of ``--defaults-file``,
   else of ``~/.my.cnf``, with the mysql client's own keys (``host``, ``port``, ``user``,
   ``password``, ``database``, ``socket``, ``ssl-ca``, ``ssl-cert``, ``ssl-key``,
   ``ssl-mode``, ``connect-timeout``).

A field set by a higher source wins field by field; a password never needs a command line.
The TLS mode is the exception: the strongest mode any source asks for applies
(``FUNDSYNC_DB_SSL_MODE`` and the option file's ``ssl-mode`` included), so no source can
lower a TLS requirement another asked for.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.errors import ConfigError
from loader.mysql.config import DbConfig, strongest, url_fields
from loader.settings import DB_ENV

OPTION_KEYS = {
    "host": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "database": "database",
    "socket": "unix_socket",
    "ssl_ca": "ssl_ca",
    "ssl_cert": "ssl_cert",
    "ssl_key": "ssl_key",
    "ssl_mode": "ssl_mode",
    "connect_timeout": "connect_timeout",
}
INTEGER_FIELDS = {"port", "connect_timeout"}


@dataclass(frozen=True, slots=True)
class ConnectionFlags:
    """What the command line said about the database (None: not given)."""

    url: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    socket: str | None = None
    password: str | None = None
    password_file: str | None = None
    defaults_file: str | None = None


def resolve(flags: ConnectionFlags, environ: Mapping[str, str] | None = None) -> DbConfig:
    """The database from the four sources, each field from the highest that sets it."""
    env = os.environ if environ is None else environ
    command_line = _flag_fields(flags)
    url = url_fields(flags.url) if flags.url else {}
    higher = {**url, **command_line}
    options = option_file(flags.defaults_file)
    environment = _environment(env, higher)
    fields = {**options, **environment, **higher}
    # TLS: the strongest mode asked by any source; nothing lowers a requirement
    asked = [f.get("ssl_mode") for f in (options, environment, higher)]
    if any(asked):
        fields["ssl_mode"] = strongest(*asked)
    if not any(k in fields for k in ("host", "unix_socket")):
        raise ConfigError(
            "no database given: use -h HOST (with -u, -D, and the password from "
            "FUNDSYNC_DB_PASSWORD or -p), --db mysql://user@host:port/db, FUNDSYNC_DB_URL, "
            f"{DB_ENV['host']}, or a [client] section in ~/.my.cnf"
        )
    zone = env.get(DB_ENV["time_zone"])
    if zone and "time_zone" not in higher:
        fields["time_zone"] = zone
    return DbConfig(**fields).with_environment(env)


def _flag_fields(flags: ConnectionFlags) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: value
        for name, value in (
            ("host", flags.host),
            ("port", flags.port),
            ("user", flags.user),
            ("database", flags.database),
            ("unix_socket", flags.socket),
            ("password", flags.password),
        )
        if value is not None
    }
    if flags.password_file is not None:
        try:
            lines = Path(flags.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ConfigError(f"--password-file {flags.password_file}: {error.strerror}") from None
        fields.setdefault("password", lines[0] if lines else "")
    return fields


def _environment(env: Mapping[str, str], higher: dict[str, Any]) -> dict[str, Any]:
    """The environment's fields: FUNDSYNC_DB_URL, else the secret, else AURORA_*; a password."""
    fields: dict[str, Any] = {}
    if url := env.get(DB_ENV["url"]):
        fields = url_fields(url)
    elif (secret := env.get(DB_ENV["secret"])) and "host" not in higher:
        config = DbConfig.from_secret(secret)
        fields = {k: getattr(config, k) for k in ("host", "port", "user", "password", "database")}
    elif env.get(DB_ENV["host"]):
        fields = {"host": env[DB_ENV["host"]]}
        for name in ("port", "user", "password", "database"):
            if value := env.get(DB_ENV[name]):
                fields[name] = _typed(name, value, DB_ENV[name])
    if password := env.get(DB_ENV["db_password"]):
        fields["password"] = password
    return fields


def option_file(path: str | None, home: Path | None = None) -> dict[str, Any]:
    """The ``[client]`` and ``[fundsync]`` sections of an option file, as DbConfig fields.

    ``path`` is ``--defaults-file`` (which must exist); without it, ``~/.my.cnf`` when there
    is one.
    """
    if path is None:
        default = (home or Path.home()) / ".my.cnf"
        if not default.is_file():
            return {}
        path = str(default)
    elif not Path(path).is_file():
        raise ConfigError(f"--defaults-file {path}: no such file")
    parser = configparser.ConfigParser(interpolation=None, allow_no_value=True, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise ConfigError(f"{path}: not an option file ({error.message.splitlines()[0]})") from None
    fields: dict[str, Any] = {}
    for section in ("client", "fundsync"):
        if not parser.has_section(section):
            continue
        for key, value in parser.items(section):
            name = OPTION_KEYS.get(key.replace("-", "_"))
            if name is not None and value is not None:
                fields[name] = _typed(name, _unquote(value), f"{path} [{section}] {key}")
    return fields


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _typed(name: str, value: str, where: str) -> Any:
    if name in INTEGER_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a whole number") from None
    if name == "ssl_mode":
        return value.upper()
    return value
