"""The command line as a user installs it: a wheel in a fresh environment, run from elsewhere.

``fundsync migrate`` once said "applied nothing (up to date)" from an installed wheel: the
migrations lived outside the package. They are package data now, and a migration set that
cannot be found is an error, never "up to date".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from loader.errors import MigrationError
from loader.mysql.migrate import migrations
from tests.conftest import query
from tests.helpers import plain_url

ROOT = Path(__file__).resolve().parent.parent


def test_an_empty_migration_set_is_an_error_not_up_to_date(tmp_path):
    with pytest.raises(MigrationError, match="incomplete"):
        migrations(tmp_path)


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("the wheel test needs uv (./dev installs it into .tools/)", pytrace=False)
    return found


@pytest.mark.db
@pytest.mark.slow
def test_migrate_from_an_installed_wheel_creates_the_tables(db, tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        env={**os.environ, "UV_PYTHON": sys.executable},
    )
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [_uv(), "pip", "install", "--python", str(python), "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    # the dependencies from this environment's site-packages, the package only from the wheel
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    env.pop("VIRTUAL_ENV", None)
    where = subprocess.run(
        [str(python), "-c", "import loader; print(loader.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
    tables = [t for (t,) in query(db, "SHOW TABLES")]
    query(db, f"DROP TABLE {', '.join(tables)}")
    run = subprocess.run(
        [str(env_dir / "bin" / "fundsync"), "migrate", "--db", plain_url(db)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "up to date" not in run.stdout and "001_fund_data" in run.stdout
    assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]
