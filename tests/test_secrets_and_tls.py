"""No secret on a command line or in an error, and TLS that can be required. Against a
real MariaDB; each test failed on the code before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.devtools.dbserver import ThrowawayServer
from loader.mysql.connection import connect
from tests.helpers import export, fundsync

pytestmark = pytest.mark.db


# -- no secret on a command line or in an error ---------------------------------------


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


# -- TLS that can be required ----------------------------------------------------------


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
