"""Nothing wrong, nothing stuck, nothing leaked: hostile inputs, faults and time, against a real
MariaDB (and moto). One test (or a few) per item of the hardening issue; each failed on the
code before it."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from loader.devtools.dbserver import ThrowawayServer, fresh_database
from loader.errors import SchemaError
from loader.mysql import ledger
from loader.mysql.connection import connect
from loader.mysql.merge import RETRIES, merge
from loader.mysql.session import Session
from loader.prepare.prepared import PreparedFile
from loader.sources import SourceIdentity
from tests.conftest import csv_bytes, load_file, query, table
from tests.helpers import fundsync, fundsync_command, plain_url

pytestmark = pytest.mark.db


def export(path: Path, *rows: str) -> Path:
    path.write_bytes(csv_bytes(*rows))
    return path


def statuses(db) -> list[str]:
    return [s for (s,) in query(db, "SELECT status FROM fund_data_loads ORDER BY id")]


# -- 1. every byte validated: a BOM file with a bad byte is rejected, not failed -----------


def test_a_bom_file_with_a_bad_byte_is_rejected_at_once(db, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(
        codecs.BOM_UTF8 + csv_bytes("2025-12-09,S\xe9,T,C,1").replace(b"\xc3\xa9", b"\xe9")
    )
    with Session(db) as session:
        report = load_file(session, path)
    assert (report.status, report.error_type) == ("rejected", "FileRejected")
    assert report.errors[0]["offset"] == path.read_bytes().index(b"\xe9")
    assert table(db) == [] and statuses(db) == ["rejected"]


# -- 3. the target checked on every load ----------------------------------------------------


def test_a_second_unique_key_added_under_a_kept_connection_is_refused(db, tmp_path):
    with Session(db) as session:
        assert (
            load_file(session, export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")).status == "loaded"
        )
        other = connect(db)
        other.cursor().execute("ALTER TABLE fund_data ADD UNIQUE KEY uk_other (ticker, d_trade)")
        other.close()
        report = load_file(session, export(tmp_path / "b.csv", "2025-12-10,S,T,C,1"))
    assert (report.status, report.error_type) == ("failed", "SchemaError")
    assert "exactly one unique key" in report.errors[0]["reason"]
    assert len(table(db)) == 1


def test_a_case_insensitive_key_collation_is_refused(db, tmp_path):
    conn = connect(db)
    conn.cursor().execute(
        "ALTER TABLE fund_data MODIFY stock VARCHAR(32) CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_general_ci NOT NULL"
    )
    conn.close()
    with Session(db) as session:
        with pytest.raises(SchemaError, match="byte for byte"):
            session.check_target()
        report = load_file(
            session, export(tmp_path / "a.csv", "2025-12-09,abc,T,C,1", "2025-12-09,ABC,T,C,2")
        )
    assert (report.status, report.error_type) == ("failed", "SchemaError")
    assert table(db) == []


# -- 5. the skip rule looks at the latest load ----------------------------------------------


def test_v1_v2_v1_under_the_same_path_loads_v1_again(db, tmp_path):
    path = tmp_path / "day.csv"
    with Session(db) as session:
        assert load_file(session, export(path, "2025-12-09,S,T,C,1")).status == "loaded"
        assert load_file(session, export(path, "2025-12-09,S,T,C,2")).status == "loaded"
        again = load_file(session, export(path, "2025-12-09,S,T,C,1"))
    assert (again.status, again.updated) == ("loaded", 1)
    assert [r[4] for r in table(db)] == [1]


# -- 6. rejected rows under an allowance are never lost -------------------------------------


def test_every_rejected_row_is_written_beside_the_file(db, tmp_path):
    rows = [f"2025-12-09,S{i},T,C,{i}" for i in range(300)]
    rows += [f"2025-12-09,,T,C,{i}" for i in range(150)]  # 150 bad rows: more than the 100 listed
    path = export(tmp_path / "day.csv", *rows)
    run = fundsync("load", "--json", "--max-bad-rows", "200", str(path), "--db", plain_url(db))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["rejected_rows"] == 150 and len(report["errors"]) == 100
    assert report["rejects_uri"] == f"{path}.rejects.csv"
    written = Path(report["rejects_uri"]).read_text().splitlines()
    assert len(written) == 151 and written[1].endswith("stock: stock is empty")
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "fund_data_2025-12-10.csv").write_bytes(
        path.read_bytes().replace(b"2025-12-09", b"2025-12-10")
    )
    done = subprocess.run(
        [fundsync_command(), "backfill", str(folder), "--max-bad-rows", "200", "--json", "--db", plain_url(db)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    beside = folder / "fund_data_2025-12-10.csv.rejects.csv"
    assert len(beside.read_text().splitlines()) == 151


# -- 7. no ledger row stays loading ----------------------------------------------------------


def test_an_error_text_longer_than_the_column_is_cut_and_the_row_finished(db):
    long = "ข" * 40_000  # 120,000 bytes of UTF-8
    identity = SourceIdentity("long-error.csv", "0" * 64, 10)
    with Session(db) as session:
        report = merge(session, PreparedFile.failed(identity, RuntimeError(long)))
    assert report.status == "failed"
    [(status, error)] = query(db, "SELECT status, error FROM fund_data_loads")
    assert status == "failed" and error.endswith("[cut: 40,000 characters in all]")
    assert len(error.encode()) <= ledger.ERROR_BYTES


def test_a_killed_attempt_is_marked_abandoned_by_the_next_one(db, tmp_path):
    path = export(tmp_path / "day.csv", *(f"2025-12-09,S{i},T,C,{i}" for i in range(200)))
    locker = connect(db)
    locker.cursor().execute("LOCK TABLES fund_data WRITE")
    process = subprocess.Popen(
        [fundsync_command(), "load", str(path), "--db", plain_url(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while statuses(db) != ["loading"] and time.monotonic() < deadline:
        time.sleep(0.1)
    process.kill()
    process.wait()
    locker.cursor().execute("UNLOCK TABLES")
    locker.close()
    time.sleep(0.5)  # the server notices the dead client, its named lock goes with it
    with Session(db) as session:
        assert load_file(session, path).status == "loaded"
    assert statuses(db) == ["abandoned", "loaded"]
    [(error,)] = query(db, "SELECT error FROM fund_data_loads WHERE status = 'abandoned'")
    assert "ended before it finished" in error


def test_a_source_that_can_be_read_only_once_loads(db, tmp_path):
    path = export(tmp_path / "day.csv", "2025-12-09,S,T,C,1", "2025-12-09,S,T,D,2")
    run = subprocess.run(
        ["bash", "-c", f'"{fundsync_command()}" load --json <(cat "{path}") --db "{plain_url(db)}"'],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert (report["status"], report["inserted"]) == ("loaded", 2)
    assert statuses(db) == ["loaded"]


def test_a_full_disk_while_spooling_is_a_failed_load_of_one_line(db, tmp_path):
    rows = (f"2025-12-09,S{i},T,C,{i}.123456" for i in range(1_300_000))
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(csv_bytes(*rows), compresslevel=1))  # ~47 MB unpacked

    def small_files() -> None:  # as if the disk had only 4 MB left
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    run = subprocess.run(
        [fundsync_command(), "load", str(path), "--db", plain_url(db)],
        capture_output=True, text=True, timeout=300, preexec_fn=small_files,
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert [x for x in run.stdout.splitlines() if x.startswith("failed")]
    assert "File too large" in run.stdout
    assert statuses(db) == ["failed"]


# -- 8. bounded resources ---------------------------------------------------------------------


def test_a_gzip_bomb_is_rejected_at_the_limit(db, tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(csv_bytes() + b"2025-12-09,S,T,C," + b"9" * (20 << 20) + b"\n"))
    assert bomb.stat().st_size < 1 << 20
    run = fundsync(
        "load", "--json", str(bomb), "--db", plain_url(db),
        env={"FUNDSYNC_MAX_UNCOMPRESSED_BYTES": str(8 << 20)},
    )  # fmt: skip
    report = json.loads(run.stdout)
    assert (report["status"], report["error_type"]) == ("rejected", "FileRejected")
    assert (
        "over 8,388,608 bytes uncompressed (FUNDSYNC_MAX_UNCOMPRESSED_BYTES)"
        in report["errors"][0]["reason"]
    )


def test_a_three_million_column_header_is_rejected_and_extra_columns_are_bounded(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_bytes(b"d_trade,stock,ticker,col_code,value" + b",x" * 3_000_000 + b"\n")
    run = fundsync("parse", "--json", str(wide))
    report = json.loads(run.stdout)
    assert run.returncode == 1 and "more than 200,000" in report["errors"][0]["reason"]
    some = tmp_path / "some.csv"
    header = "d_trade,stock,ticker,col_code,value," + ",".join(f"x{i}" for i in range(50))
    some.write_bytes(csv_bytes("2025-12-09,S,T,C,1" + ",a" * 50, header=header))
    parsed = json.loads(fundsync("parse", "--json", str(some)).stdout)
    assert len(parsed["extra_columns"]) == 20 and parsed["extra_column_count"] == 50


# -- 10. every failure reported ----------------------------------------------------------------


def test_a_path_longer_than_the_lineage_column_is_a_clear_rejection(db, tmp_path):
    deep = tmp_path
    while len(str(deep)) < 1100:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    path = export(deep / "x.csv", "2025-12-09,S,T,C,1")
    run = fundsync("load", str(path), "--db", plain_url(db))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "the source key is" in run.stdout and "over the 1,024" in run.stdout
    assert statuses(db) == ["rejected"]


def test_a_missing_ledger_table_says_to_run_migrate(db, tmp_path):
    conn = connect(db)
    conn.cursor().execute("DROP TABLE fund_data_loads")
    conn.close()
    run = fundsync(
        "load", str(export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")), "--db", plain_url(db)
    )
    assert run.returncode == 1 and "run fundsync migrate" in run.stdout


# -- 11. the INSERT fallback respects max_allowed_packet ----------------------------------


def test_large_text_values_load_through_the_fallback_under_a_small_packet(tmp_path):
    with ThrowawayServer() as server, fresh_database(server.url) as config:
        admin = connect(config)
        cur = admin.cursor()
        cur.execute("SET GLOBAL local_infile = 0")
        cur.execute("SET GLOBAL max_allowed_packet = 1048576")
        admin.close()
        text = "x" * 60_000
        path = export(tmp_path / "wide.csv", *(f"2025-12-09,S{i},T,C,{text}{i}" for i in range(60)))
        with Session(config) as session:
            report = load_file(session, path)
        assert (report.status, report.method, report.inserted) == ("loaded", "insert_batches", 60)
        assert query(config, "SELECT SUM(LENGTH(value_text)) FROM fund_data") == [
            (60 * 60_000 + 110,)
        ]


# -- 12. a work directory with quotes and backslashes ------------------------------------------


@pytest.mark.parametrize("name", ["it's", 'say "hi"', "back\\slash"])
def test_a_work_directory_with_quotes_works(db, tmp_path, name):
    work = tmp_path / name
    work.mkdir()
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    run = fundsync("load", str(path), "--db", plain_url(db), env={"FUNDSYNC_WORK_DIR": str(work)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert list(work.iterdir()) == []  # and nothing left behind


# -- 13. a killed backfill leaves nothing behind ----------------------------------------------


def _parsing(process) -> bool:
    """A backfill's prepare worker that has been parsing for a while."""
    import psutil

    try:
        return "spawn_main" in " ".join(process.cmdline()) and process.cpu_times().user > 1.0
    except psutil.Error:
        return False


@pytest.mark.slow
def test_a_terminated_backfill_leaves_no_process_and_its_staging_goes_next_run(db, tmp_path):
    """SIGTERM while a worker parses a big file: the worker is stopped at once (its work is
    never merged), not waited for; staging left by a run killed outright goes next run.

    The worker is frozen (SIGSTOP) mid-parse before the run is told to stop, so it can never
    finish on its own: a run that waited for it instead of killing it would never end."""
    import psutil

    from loader.devtools.samples import ExportSpec, write_export

    folder = tmp_path / "h"
    folder.mkdir()
    for day in (1, 2):
        write_export(folder / f"fund_data_2025-12-0{day}.csv", ExportSpec(rows=3_000_000, seed=day))
    work = tmp_path / "work"
    work.mkdir()
    process = subprocess.Popen(
        [fundsync_command(), "backfill", str(folder), "--workers", "1", "--progress", "none",
         "--db", plain_url(db)],
        env={**os.environ, "FUNDSYNC_WORK_DIR": str(work)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    parent = psutil.Process(process.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while not workers and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = [c for c in parent.children(recursive=True) if _parsing(c)]
    assert workers, "no prepare worker started parsing"
    children = parent.children(recursive=True)
    alive: list[psutil.Process] = []
    try:
        for worker in workers:
            worker.suspend()
        process.send_signal(signal.SIGTERM)
        process.wait(120)  # raises if the run waits for the frozen worker
        _, alive = psutil.wait_procs(children, timeout=10)
    finally:  # nothing left behind, even when the test fails
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.resume()
        if process.poll() is None:
            process.kill()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.is_running():
                    child.kill()
    assert alive == []
    assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]
    stale = work / "fundsync-stage-999999999-left"  # a run killed outright (pid long gone)
    stale.mkdir()
    (stale / "x.tsv").write_text("left behind")
    link = work / "fundsync-stage-link-dangling"
    link.symlink_to(work / "gone")
    with Session(db, staging_parent=str(work)):
        assert [
            p.name for p in work.iterdir() if "999999999" in p.name or "dangling" in p.name
        ] == []


# -- 14. time is bounded --------------------------------------------------------------------


def test_a_frozen_server_ends_in_a_failed_load_not_a_wait(tmp_path):
    with ThrowawayServer() as server, fresh_database(server.url) as config:
        path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
        with Session(config) as session:
            session.connection()
            server.process.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                session.limit_read_time(2)
                report = load_file(session, path)
                took = time.monotonic() - started
            finally:
                server.process.send_signal(signal.SIGCONT)
        assert (report.status, report.error_type) == ("failed", "DatabaseSilent")  # typed
        assert took < 30


def test_a_held_table_lock_ends_in_a_retryable_failure(db, tmp_path):
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    locker = connect(db)
    locker.cursor().execute("LOCK TABLES fund_data WRITE")
    try:
        run = fundsync(
            "load", "--json", str(path), "--db", plain_url(db) + "&lock_wait_timeout=1",
        )  # fmt: skip
    finally:
        locker.cursor().execute("UNLOCK TABLES")
        locker.close()
    report = json.loads(run.stdout)
    assert (report["status"], report["error_type"]) == ("failed", "DatabaseError")
    assert "1205" in report["errors"][0]["reason"]  # lock wait timeout, retried, then failed
    assert report["retries"] == RETRIES  # it said 0 once the retries ran out (issue 21.16)


# -- 15. no secret on a command line or in an error ---------------------------------------


@pytest.mark.parametrize("password", ["Zq9/Xw7", "Zq9#Xw7", "Zq9:Xw7/Kp3", "Zq9@Xw7/Kp3"])
def test_an_unencoded_password_never_appears_and_the_fix_is_said(password, tmp_path):
    url = f"mysql://loader:{password}@127.0.0.1:3306/fundsync"
    run = fundsync("load", str(tmp_path / "a.csv"), "--db", url)
    assert run.returncode == 2
    out = run.stdout + run.stderr
    assert "percent-encode" in out
    for part in password.replace("#", "/").replace(":", "/").split("/"):
        assert part not in out.replace("fundsync", "")


def test_a_password_on_the_command_line_is_warned_about(user_url, tmp_path):
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    run = fundsync("load", str(path), "--db", user_url)
    assert run.returncode == 0 and "visible to every user of this machine" in run.stderr
    bare = user_url.replace(user_url.split("@")[0].split("//")[1], "loader")
    from tests.conftest import SECRET

    quiet = fundsync("load", str(path), "--db", bare, env={"FUNDSYNC_DB_PASSWORD": SECRET})
    assert quiet.returncode == 0 and "visible" not in quiet.stderr


# -- 17. small things ------------------------------------------------------------------------


def test_cr_only_line_endings_are_named_as_such(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(csv_bytes("2025-12-09,S,T,C,1", newline="\r"))
    report = json.loads(fundsync("parse", "--json", str(path)).stdout)
    assert report["status"] == "rejected" and "CR only" in report["errors"][0]["reason"]


def test_a_skipped_load_is_finished_with_a_duration(db, tmp_path):
    path = export(tmp_path / "a.csv", "2025-12-09,S,T,C,1")
    fundsync("load", str(path), "--db", plain_url(db))
    fundsync("load", str(path), "--db", plain_url(db))
    rows = query(
        db, "SELECT status, finished_at IS NOT NULL, duration_ms FROM fund_data_loads ORDER BY id"
    )
    assert [r[:2] for r in rows] == [("loaded", 1), ("skipped", 1)] and rows[1][2] is not None


# -- 16. TLS that can be required ----------------------------------------------------------


def _certificates(folder: Path, host: str) -> dict[str, Path]:
    """A CA and a server certificate for ``host`` (and a second, unrelated CA)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def certificate(subject, public, issuer, signer, ca: bool, san=None):
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )  # fmt: skip
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer, hashes.SHA256())

    paths = {}
    for label in ("ca", "other_ca"):
        ca_key = key()
        ca = certificate(
            name(f"fundsync test {label}"),
            ca_key.public_key(),
            name(f"fundsync test {label}"),
            ca_key,
            True,
        )
        paths[label] = folder / f"{label}.pem"
        paths[label].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        if label == "ca":
            server_key = key()
            san = [x509.DNSName(host)]
            server = certificate(
                name(host), server_key.public_key(), ca.subject, ca_key, False, san
            )
            paths["cert"] = folder / "server.pem"
            paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
            paths["key"] = folder / "server.key"
            paths["key"].write_bytes(
                server_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
            )
    return paths


def _tcp_url(server: ThrowawayServer, host: str = "127.0.0.1", **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"mysql://root@{host}:{server.port}/fundsync?{query}"


def test_tls_can_be_required_verified_and_refused(tmp_path):
    from loader.errors import ConfigError, DatabaseError
    from loader.mysql.config import DbConfig

    certs = _certificates(tmp_path, "localhost")
    with ThrowawayServer() as plain:  # no TLS at all
        with pytest.raises(DatabaseError, match="offers no TLS"):
            connect(DbConfig.from_url(_tcp_url(plain, ssl_mode="REQUIRED")))
        connect(DbConfig.from_url(_tcp_url(plain))).close()  # PREFERRED: plain is allowed
    options = (
        f"--ssl-ca={certs['ca']}",
        f"--ssl-cert={certs['cert']}",
        f"--ssl-key={certs['key']}",
    )
    with ThrowawayServer(options=options) as tls:
        required = connect(DbConfig.from_url(_tcp_url(tls, ssl_mode="REQUIRED")))
        cur = required.cursor()
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1]
        required.close()
        verified = DbConfig.from_url(
            _tcp_url(tls, "localhost", ssl_mode="VERIFY_IDENTITY", ssl_ca=str(certs["ca"]))
        )
        connect(verified).close()
        with pytest.raises(DatabaseError):  # the right CA, but the certificate names localhost
            connect(DbConfig.from_url(
                _tcp_url(tls, "127.0.0.1", ssl_mode="VERIFY_IDENTITY", ssl_ca=str(certs["ca"]))
            ))  # fmt: skip
        with pytest.raises(DatabaseError):  # a CA that did not sign the server's certificate
            connect(DbConfig.from_url(
                _tcp_url(tls, "localhost", ssl_mode="VERIFY_CA", ssl_ca=str(certs["other_ca"]))
            ))  # fmt: skip
    with pytest.raises(ConfigError, match="no such file"):
        DbConfig.from_url("mysql://root@localhost/fundsync?ssl_mode=VERIFY_CA&ssl_ca=/nowhere.pem")
    with pytest.raises(ConfigError, match="needs ssl_ca"):
        DbConfig.from_url("mysql://root@localhost/fundsync?ssl_mode=VERIFY_IDENTITY")
