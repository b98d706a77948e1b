"""Database settings: URL, environment, TLS options and redaction (no server needed)."""

import pytest

from loader.errors import ConfigError
from loader.mysql.config import DbConfig
from loader.mysql.connection import RETRYABLE_IN_TRANSACTION, classify
from loader.outcome import outcome_of


def test_url_with_tls_options_and_an_encoded_password(tmp_path):
    bundle = tmp_path / "rds-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    config = DbConfig.from_url(
        "mysql://etl%40corp:p%40ss%3Aw0rd@db.example:3307/funds"
        f"?ssl_ca={bundle}&ssl_verify_identity=true&time_zone=%2B00:00"
    )
    assert (config.user, config.password, config.host, config.port) == (
        "etl@corp",
        "p@ss:w0rd",
        "db.example",
        3307,
    )
    assert (config.database, config.ssl_ca, config.ssl_mode) == (
        "funds",
        str(bundle),
        "VERIFY_IDENTITY",
    )
    assert config.time_zone == "+00:00"
    assert "p@ss" not in repr(config) and "p@ss" not in str(config)
    assert config.redacted() == "mysql://etl%40corp:***@db.example:3307/funds"


def test_environment_precedence():
    env = {"FUNDSYNC_DB_URL": "mysql://a:x@h1/db1", "AURORA_HOST": "h2", "AURORA_PASSWORD": "y"}
    assert DbConfig.from_env(None, env).host == "h1"
    assert DbConfig.from_env("mysql://b@h3/db3", env).host == "h3"
    aurora = DbConfig.from_env(
        None,
        {"AURORA_HOST": "h2", "AURORA_USER": "u", "AURORA_PASSWORD": "y", "AURORA_DATABASE": "d"},
    )
    assert (aurora.host, aurora.user, aurora.password, aurora.database) == ("h2", "u", "y", "d")
    assert aurora.time_zone == "+07:00"


@pytest.mark.parametrize("url", ["postgres://h/db", "mysql://h/db?sslca=x", "mysql://h:99999/db"])
def test_bad_urls_are_config_errors(url):
    with pytest.raises(ConfigError):
        DbConfig.from_url(url)


def test_no_database_at_all_says_what_to_set():
    with pytest.raises(ConfigError, match="FUNDSYNC_DB_URL"):
        DbConfig.from_env(None, {})


def test_driver_errors_are_classified_and_scrubbed_of_the_password():
    import mysql.connector

    config = DbConfig.from_url("mysql://u:hunter2@h/db")
    deadlock = mysql.connector.errors.DatabaseError(msg="Deadlock found", errno=1213)
    denied = mysql.connector.errors.ProgrammingError(msg="Access denied (hunter2)", errno=1045)
    retried = classify(deadlock, config)
    assert retried.errno == 1213 and retried.errno in RETRYABLE_IN_TRANSACTION
    scrubbed = classify(denied, config)
    assert scrubbed.errno == 1045 and scrubbed.errno not in RETRYABLE_IN_TRANSACTION
    assert "hunter2" not in str(scrubbed) and "***" in str(scrubbed)
    # both are the environment, never the input: the file is retried, not rejected
    assert {outcome_of(retried).status, outcome_of(scrubbed).status} == {"failed"}


def test_a_server_that_never_answers_is_a_typed_error_not_a_message_to_match():
    """`fundsync load` tells a silent server from a refused one by the error's type."""
    import socket
    import threading

    from loader.errors import DatabaseError, DatabaseSilent
    from loader.mysql.connection import connect

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    port = silent.getsockname()[1]
    with pytest.raises(DatabaseSilent) as quiet:
        connect(DbConfig.from_url(f"mysql://u:pw@127.0.0.1:{port}/d?connect_timeout=1"))
    assert quiet.value.errno is not None and "database error" not in quiet.value.detail
    silent.close()
    with pytest.raises(DatabaseError) as refused:  # nothing listens there any more
        connect(DbConfig.from_url(f"mysql://u:pw@127.0.0.1:{port}/d?connect_timeout=1"))
    assert not isinstance(refused.value, DatabaseSilent) and refused.value.errno == 2003
    assert refused.value.detail.startswith("Can't connect")


# -- TLS: the documented precedence, and no source lowers a requirement (issue 21.18) --------


@pytest.fixture
def bundles(tmp_path):
    made = {}
    for name in ("url", "env"):
        made[name] = tmp_path / f"{name}-ca.pem"
        made[name].write_text("-----BEGIN CERTIFICATE-----\n")
    return made


@pytest.mark.parametrize("weaker", ["DISABLED", "PREFERRED", "REQUIRED"])
def test_the_environment_never_lowers_the_urls_tls(bundles, weaker):
    from loader.mysql.options import ConnectionFlags, resolve

    url = f"mysql://u@h/db?ssl_mode=VERIFY_IDENTITY&ssl_ca={bundles['url']}"
    env = {"FUNDSYNC_DB_SSL_MODE": weaker, "FUNDSYNC_DB_SSL_CA": str(bundles["env"])}
    for config in (DbConfig.from_env(url, env), resolve(ConnectionFlags(url=url), env)):
        assert (config.ssl_mode, config.ssl_ca) == ("VERIFY_IDENTITY", str(bundles["url"]))


def test_required_in_the_url_is_never_plain_text_whatever_the_environment():
    from loader.mysql.options import ConnectionFlags, resolve

    url = "mysql://u@h/db?ssl_mode=REQUIRED"
    env = {"FUNDSYNC_DB_SSL_MODE": "DISABLED"}
    assert DbConfig.from_env(url, env).ssl_mode == "REQUIRED"
    assert resolve(ConnectionFlags(url=url), env).ssl_mode == "REQUIRED"
    assert resolve(ConnectionFlags(url="mysql://u@h/db?ssl_mode=DISABLED"), {
        "FUNDSYNC_DB_SSL_MODE": "REQUIRED"
    }).ssl_mode == "REQUIRED"  # fmt: skip


def test_the_environment_raises_a_requirement_and_fills_a_missing_bundle(bundles):
    env = {"FUNDSYNC_DB_SSL_MODE": "verify_ca", "FUNDSYNC_DB_SSL_CA": str(bundles["env"])}
    config = DbConfig.from_env("mysql://u@h/db", env)
    assert (config.ssl_mode, config.ssl_ca) == ("VERIFY_CA", str(bundles["env"]))


def test_an_option_files_requirement_holds_against_the_environment(tmp_path):
    from loader.mysql.options import ConnectionFlags, resolve

    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\nhost=h\nssl-mode=REQUIRED\n")
    flags = ConnectionFlags(defaults_file=str(cnf))
    assert resolve(flags, {"FUNDSYNC_DB_SSL_MODE": "DISABLED"}).ssl_mode == "REQUIRED"


def _plain_greeting() -> bytes:
    """A MySQL 8 server's greeting (protocol 10) that does not offer TLS."""
    caps = 0xF7FF & ~0x0800  # CLIENT_SSL cleared
    body = (
        b"\x0a8.0.36\x00" + (7).to_bytes(4, "little") + b"abcdefgh\x00"
        + (caps & 0xFFFF).to_bytes(2, "little") + b"\xff" + (2).to_bytes(2, "little")
        + (0x81BF).to_bytes(2, "little") + b"\x15" + b"\x00" * 10 + b"ijklmnopqrst\x00"
        + b"mysql_native_password\x00"
    )  # fmt: skip
    return len(body).to_bytes(3, "little") + b"\x00" + body


def test_required_refuses_a_plain_server_before_sending_the_user_or_password():
    import socket
    import threading

    from loader.errors import DatabaseError
    from loader.mysql.connection import connect

    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve():
        listener.settimeout(5)
        for _ in range(2):
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            with peer:
                peer.sendall(_plain_greeting())
                peer.settimeout(1)
                try:
                    while chunk := peer.recv(4096):
                        received.append(chunk)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    config = DbConfig.from_url(f"mysql://etl-user:Hunter2x@127.0.0.1:{port}/db?ssl_mode=REQUIRED")
    with pytest.raises(DatabaseError, match="offers no TLS"):
        connect(config)
    listener.close()
    thread.join(3)
    sent = b"".join(received)
    assert b"etl-user" not in sent and b"Hunter2x" not in sent
