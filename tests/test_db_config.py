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
