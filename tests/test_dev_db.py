"""``fundsync dev-db``: a throwaway MariaDB for a newcomer, one command: it prints a URL that
works, and Ctrl-C (SIGTERM) removes everything."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import fundsync, fundsync_command

pytestmark = pytest.mark.db


def test_dev_db_prints_a_working_url_and_cleans_up(tmp_path):
    server = subprocess.Popen([fundsync_command(), "dev-db"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        assert line.startswith("export FUNDSYNC_DB_URL='mysql://root@127.0.0.1:"), line
        url = line.split("=", 1)[1].strip("'")
        status = fundsync("status", "--db", url)
        assert status.returncode == 0, status.stderr  # migrated, empty, nothing to page
        socket = Path(url.split("unix_socket=", 1)[1])
        assert socket.exists()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert not socket.parent.exists()
    assert os.environ.get("FUNDSYNC_DB_URL") != url
