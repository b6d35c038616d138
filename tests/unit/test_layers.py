"""The import contracts of pyproject.toml hold on the tree and break on a wrong-way import.

The contracts themselves (and why each exists) live in ``[tool.importlinter]`` and
docs/architecture.md; this test runs ``lint-imports`` on the real tree and on a copy of it
with one forbidden import added, to prove each contract can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# The root packages of [tool.importlinter]: what a copy of the tree needs.
PACKAGES = ("bot", "conversations", "sandbox", "locales", "tests", "benchmarks")


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` in ``cwd`` on the given contract ids (all when none)."""
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *selected],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_tree(target: Path) -> Path:
    """Copy the root packages and pyproject.toml into ``target`` and return it."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_every_contract_is_kept_on_the_real_tree() -> None:
    result = lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "7 kept" in result.stdout, "a contract was added or dropped: update this count"


# A module of the copy (added, or appended to), the import it gets, and the contract that breaks.
WRONG_WAY = [
    pytest.param("conversations/wrong.py", "from telegram import Update", "telegram", id="ptb"),
    pytest.param("conversations/wrong.py", "import bot.telegram.render", "layers", id="up"),
    pytest.param("bot/skiplino/wrong.py", "import conversations.engine", "sdk", id="sdk-conv"),
    pytest.param("bot/skiplino/wrong.py", "from bot import i18n", "sdk", id="sdk-bot"),
    pytest.param("bot/i18n.py", "import bot.dates", "layers", id="peers"),
    pytest.param("bot/sessions/wrong.py", "import bot.testing.stack", "testing", id="fakes"),
    pytest.param("bot/app_helper.py", "import bot.testing", "testing", id="fakes-new"),
    pytest.param("sandbox/wrong.py", "import bot.i18n", "sandbox", id="sandbox"),
    pytest.param("bot/wrong.py", "import tests.conftest", "no-tests", id="tests"),
    pytest.param("benchmarks/wrong.py", "import tests.conftest", "benchmarks", id="bench"),
]


@pytest.mark.parametrize(("module", "source", "contract"), WRONG_WAY)
def test_a_wrong_way_import_breaks_its_contract(
    tmp_path: Path, module: str, source: str, contract: str
) -> None:
    tree = copy_of_tree(tmp_path)
    path = tree / module
    before = path.read_text(encoding="utf-8") if path.exists() else '"""A wrong-way import."""\n'
    path.write_text(f"{before}\n{source}\n", encoding="utf-8")

    result = lint_imports(tree, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
