"""The architecture contract (docs/architecture.md), checked: layers, forbidden imports, no
cycles (import-linter, configured in pyproject.toml), and the size of functions and modules."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
CONTRACTS = [
    "layers",
    "parse-side",
    "prepare-side",
    "entry-points",
    "no-cycles",
    "mysql-layers",
    "parse-layers",
    "pipeline-layers",
]
REASON = "# size:"
"""A function or module over the limit carries ``# size: <why>`` beside its definition (the
line above a function's ``def``, or among a module's first lines)."""


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    only = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *only],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(CONTRACTS)} kept, 0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("parse/keys.py", "import loader.mysql.session", "parse-side"),
        ("errors.py", "import loader.cli", "layers"),
        ("prepare/prepared.py", "import mysql.connector", "prepare-side"),
        ("mysql/config.py", "import loader.mysql.merge", "mysql-layers"),
        ("backfill/summary.py", "import loader.pipeline.handler", "entry-points"),
        ("parse/numbers.py", "import loader.parse.file", "no-cycles"),
    ],
)
def test_a_broken_contract_is_caught(tmp_path, module, line, contract):
    """The check can fail: the same contracts on a copy of the package with one bad import."""
    shutil.copytree(ROOT / "loader", tmp_path / "loader")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "loader" / module, "a", encoding="utf-8") as out:
        out.write(f"\n{line}  # noqa\n")
    run = lint_imports(tmp_path, contract)
    assert run.returncode == 1 and "1 broken" in run.stdout, run.stdout


def oversized(source: str) -> list[str]:
    """Functions over the limit and the module itself, unless a ``# size:`` reason is beside."""
    lines = source.splitlines()
    found = []
    if len(lines) > MAX_MODULE_LINES and not any(REASON in line for line in lines[:15]):
        found.append(f"module: {len(lines)} lines")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assert node.end_lineno is not None
        length = node.end_lineno - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        beside = lines[first - 2] if first >= 2 else ""
        if length > MAX_FUNCTION_LINES and REASON not in beside:
            found.append(f"{node.name} (line {node.lineno}): {length} lines")
    return found


def test_no_function_or_module_is_oversized_without_a_reason():
    problems = {
        str(path.relative_to(ROOT)): found
        for path in [
            *sorted((ROOT / "loader").rglob("*.py")),
            *sorted((ROOT / "bench").glob("*.py")),
        ]
        if (found := oversized(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


def test_the_size_check_can_fail():
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    function = f"def f():\n{long_body}\n"
    assert oversized(function) == [f"f (line 1): {MAX_FUNCTION_LINES + 1} lines"]
    assert oversized(f"# size: a table of constants\n{function}") == []
    module = "\n".join(["x = 1"] * (MAX_MODULE_LINES + 1))
    assert oversized(module) == [f"module: {MAX_MODULE_LINES + 1} lines"]


def test_the_command_line_imports_no_dataframe_library_until_a_command_needs_one():
    """``fundsync --version``, ``--help``, ``status`` or ``history`` start in a tenth of a second:
    Polars, NumPy and PyArrow (~0.65 s) are imported by the commands that parse or load."""
    code = (
        "import sys, loader.cli; "
        "print(sorted(m for m in ('polars', 'numpy', 'pyarrow') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
