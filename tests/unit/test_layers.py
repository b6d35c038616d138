"""Dependencies point one way (DESIGN.md section 3): each layer imports only what is below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each layer and the top-level modules it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "bot/skiplino": ("telegram", "conversations", "bot.i18n", "bot.sessions", "bot.telegram"),
    "sandbox": ("telegram", "conversations", "bot", "bot.skiplino", "bot.sessions"),
    "bot/sessions": ("telegram", "conversations", "bot.skiplino", "bot.telegram"),
    "bot/i18n.py": ("telegram", "conversations", "bot", "bot.skiplino", "bot.sessions"),
    "bot/dates.py": ("telegram", "conversations", "bot", "bot.skiplino", "bot.sessions"),
    "conversations": ("telegram", "bot.telegram", "bot.app", "sandbox"),
    "bot/testing/fake_api.py": ("conversations", "bot.skiplino"),
    "bot/aio.py": ("telegram", "conversations", "bot", "bot.skiplino", "bot.sessions"),
}


def imported_modules(path: Path) -> set[str]:
    """Return every module a Python file imports (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(layer: str, forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    """List "file imports module" for each forbidden import under ``layer``."""
    target = root / layer
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    found = []
    for file in files:
        for module in sorted(imported_modules(file)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                found.append(f"{file.relative_to(root)} imports {module}")
    return found


@pytest.mark.parametrize(("layer", "forbidden"), sorted(FORBIDDEN.items()))
def test_layer_imports_nothing_above_it(layer: str, forbidden: tuple[str, ...]) -> None:
    assert (ROOT / layer).exists(), f"{layer} moved: update this table"
    assert violations(layer, forbidden) == []


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    (tmp_path / "conversations").mkdir()
    source = tmp_path / "conversations" / "flow.py"
    source.write_text("from telegram import Update\nimport bot.i18n\nfrom . import engine\n")

    found = violations("conversations", FORBIDDEN["conversations"], root=tmp_path)

    assert found == ["conversations/flow.py imports telegram"]
