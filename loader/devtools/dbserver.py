"""A private, throwaway MariaDB/MySQL server: for the test harness and the demo.

Starts ``mariadbd`` (or ``mysqld``) from PATH on a temporary datadir with its
own socket and a free loopback port, and removes everything on exit. Used
only when no database URL is given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from loader.errors import ConfigError
from loader.mysql.config import DbConfig

INSTALL_HINT = (
    "no MariaDB/MySQL server binary (mariadbd or mysqld) on PATH: install one "
    "(Debian/Ubuntu: apt-get install mariadb-server) or give a database URL "
    "(FUNDSYNC_TEST_DB_URL for the tests, --db for the commands)"
)
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def _binary(*names: str) -> str | None:
    for name in names:
        if found := shutil.which(name, path=SEARCH_PATH):
            return found
    return None


def free_port() -> int:
    """A TCP port free on the loopback address now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayServer:
    """``with ThrowawayServer() as server: server.url`` -- a fresh server, root without password."""

    def __init__(
        self,
        startup_seconds: float = 60.0,
        options: tuple[str, ...] = (),
        datadir_from: Path | None = None,
    ) -> None:
        self.startup_seconds = startup_seconds
        self.options = options
        """More server options (``--ssl-cert=...``, say), after the defaults."""
        self.datadir_from = datadir_from
        """Start on a copy of this data directory (a benchmark's cached history) instead of an
        empty one."""
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._server = ""

    @property
    def socket_path(self) -> Path:
        assert self.root is not None
        return self.root / "mysqld.sock"

    @property
    def url(self) -> str:
        return self.url_for("fundsync")

    def url_for(self, database: str) -> str:
        """The URL of one database on this server (root, no password, its socket)."""
        return f"mysql://root@127.0.0.1:{self.port}/{database}?unix_socket={self.socket_path}"

    def start(self) -> ThrowawayServer:
        server = _binary("mariadbd", "mysqld")
        install = _binary("mariadb-install-db", "mysql_install_db")
        if server is None or install is None:
            raise ConfigError(INSTALL_HINT)
        self.root = Path(tempfile.mkdtemp(prefix="fundsync-mariadb-"))
        datadir = self.root / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        if self.datadir_from is not None:
            shutil.copytree(self.datadir_from, datadir, symlinks=True)
            self.port = free_port()
            self._server = server
            self._launch()
            return self
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user,
            ],
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        self._server = server
        self._launch()
        return self

    def _launch(self) -> None:
        assert self.root is not None
        datadir = self.root / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        server = self._server
        tmpdir = self.root / "tmp"
        tmpdir.mkdir(exist_ok=True)
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.root / 'server.pid'}",
                f"--tmpdir={tmpdir}",  # its own: a server clears #sql* files of its tmpdir
                "--local-infile=1",
                "--innodb-buffer-pool-size=512M",
                "--innodb-log-file-size=256M",
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--max-allowed-packet=256M",
                *user,
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def save_datadir(self, target: Path) -> None:
        """Shut down cleanly, copy the data directory to ``target`` (replacing it), start
        again: a cache another run starts from (``datadir_from``)."""
        assert self.root is not None
        self._terminate()
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.root / "data", target, symlinks=True)
        self._launch()

    def pause(self) -> None:
        """Shut the server down but keep its data, port and socket path: the database is 'down'."""
        self._terminate()

    def resume(self) -> None:
        """Start the paused server again on the same data, port and socket."""
        if self.process is None or self.process.poll() is not None:
            self._launch()

    def _wait_ready(self) -> None:
        import mysql.connector

        deadline = time.monotonic() + self.startup_seconds
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"database server exited: see {self.root}/server.log")
            try:
                conn = mysql.connector.connect(
                    unix_socket=str(self.socket_path), user="root", use_pure=True
                )
                cur = conn.cursor()
                cur.execute("CREATE DATABASE IF NOT EXISTS fundsync")
                conn.close()
                return
            except mysql.connector.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop(self) -> None:
        self._terminate()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> ThrowawayServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


LAYOUTS = ("composite-pk", "surrogate-id")
SURROGATE_LAYOUT = (
    Path(__file__).resolve().parents[1]
    / "mysql"
    / "migrations"
    / "layouts"
    / "fund_data_surrogate_id.sql"
)


@contextlib.contextmanager
def fresh_database(
    server: str | DbConfig,
    name: str | None = None,
    layout: str = "composite-pk",
    migrated: bool = True,
) -> Iterator[DbConfig]:
    """A database of its own on ``server`` (a URL or a config), migrated, dropped on exit.

    The one helper the tests and the benchmarks use. ``layout`` is the key
    layout of ``fund_data``: the composite primary key (what ``migrate``
    creates) or the older surrogate ``id`` with a unique key (spec §2).
    """
    from loader.mysql.connection import connect
    from loader.mysql.migrate import migrate, statements

    if layout not in LAYOUTS:
        raise ConfigError(f"layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if isinstance(server, str):
        server = DbConfig.from_url(server)
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    admin = connect(server.with_database("mysql"))
    cur = admin.cursor()
    try:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        config = server.with_database(name)
        if layout != "composite-pk" or migrated:
            conn = connect(config)
            if layout == "surrogate-id":
                for statement in statements(SURROGATE_LAYOUT.read_text(encoding="utf-8")):
                    conn.cursor().execute(statement)
            if migrated:
                migrate(conn)
            conn.close()
        yield config
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.commit()
        admin.close()
