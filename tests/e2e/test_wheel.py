"""The wheel, installed (not editable) in a fresh virtualenv, runs every ``skiplino-bot`` command.

The wheel is built from a copy of the sources without build isolation and installed
without its dependencies, so nothing is downloaded: a ``.pth`` file in the fresh venv
appends this interpreter's site-packages, where the dependencies already are. Its lines
only extend ``sys.path`` (``.pth`` files found there are not run), so the editable
install's import hook stays off and ``bot`` must come from the wheel: the first test
checks exactly that. Every command runs from a folder outside the checkout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from bot.testing.fake_server import FakeBotAPIServer
from tests.conftest import REDIS_URL
from tests.e2e.conftest import ChatOf
from tests.e2e.processes import READY_LINE, START_TIMEOUT, Children, child_env
from tests.e2e.test_console import TICKET, WALK_IN, assert_in_order

ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from: the product's packages and the files pyproject.toml reads.
SOURCES = ("bot", "conversations", "sandbox", "locales", "pyproject.toml", "README.md")
PRODUCT = ("bot", "conversations", "sandbox", "locales")


def run(*argv: str | Path, cwd: Path) -> str:
    """Run a command to completion, fail with its output if it fails, and return stdout."""
    result = subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a clean copy of the sources (no stale build/ folder can leak in)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", dist, source, cwd=work,
    )  # fmt: skip
    (built,) = dist.glob("skiplino_bot-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the wheel into a fresh virtualenv and return the venv's folder."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home.parent)
    python = home / "bin" / "python"
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel, cwd=home.parent,
    )  # fmt: skip
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(run(python, "-c", where, cwd=home).strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "runner_dependencies.pth").write_text(
        "".join(f"{path}\n" for path in sorted(ours)), encoding="utf-8"
    )
    return home


def package_dirs() -> list[str]:
    """Return every package of the product in the checkout, as folder paths."""
    return sorted(
        str(init.parent.relative_to(ROOT))
        for name in PRODUCT
        for init in (ROOT / name).rglob("__init__.py")
        if "__pycache__" not in init.parts
    )


def test_the_wheel_holds_every_package_and_catalog_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())

    for package in package_dirs():
        assert f"{package}/__init__.py" in names, f"{package} is missing from the wheel"
    catalogs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "locales").rglob("*.po"))
    assert catalogs, "no catalog in the checkout"
    assert set(catalogs) <= names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/"))]


def test_the_installed_code_and_catalogs_come_from_the_venv(venv: Path, tmp_path: Path) -> None:
    probe = (
        "import bot, conversations, sandbox, locales, bot.i18n\n"
        "for module in (bot, conversations, sandbox, locales):\n"
        "    print(module.__file__)\n"
        "print(bot.i18n.default_locales_dir() / 'ar' / 'LC_MESSAGES' / 'messages.po')\n"
    )
    paths = run(venv / "bin" / "python", "-c", probe, cwd=tmp_path).split()

    assert len(paths) == 5
    for path in paths:
        assert Path(path).is_relative_to(venv), f"{path} is not the installed copy"
    assert Path(paths[-1]).is_file()


def test_the_installed_console_books_a_walk_in(venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "skiplino-bot"), "console"],
        input="".join(f"{line}\n" for line in WALK_IN),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=tmp_path,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert_in_order(result.stdout, "bot: Welcome!", "Choose a branch:", "✅ Booked!")
    assert TICKET.search(result.stdout[result.stdout.rindex("✅ Booked!") :])


async def test_the_installed_run_serves_a_chat_against_the_installed_sandbox(
    venv: Path,
    children: Children,
    telegram: FakeBotAPIServer,
    chat_of: ChatOf,
    bot_token: str,
    api_key: str,
    redis_prefix: str,
) -> None:
    command = str(venv / "bin" / "skiplino-bot")
    sandbox = await children.spawn(
        "sandbox",
        [command, "sandbox", "--host", "127.0.0.1", "--port", "0"],
        child_env({"SKIPLINO_API_KEY": api_key}),
    )
    api_url = (await sandbox.wait_for_output(READY_LINE, START_TIMEOUT)).group(1)
    env = {
        "TELEGRAM_BOT_TOKEN": bot_token,
        "TELEGRAM_API_URL": telegram.base_url,
        "SKIPLINO_API_URL": api_url,
        "SKIPLINO_API_KEY": api_key,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": redis_prefix,
    }
    bot = await children.spawn("bot", [command, "run"], child_env(env))
    deadline = time.monotonic() + START_TIMEOUT
    while not telegram.api.calls_of("getUpdates"):
        assert bot.running, bot.describe()
        assert time.monotonic() < deadline, bot.describe()
        await asyncio.sleep(0.02)
    chat = chat_of(4242, first_name="Mona")

    menu = await chat.send("/start")
    branches = await chat.tap("Book a ticket")

    assert "What would you like to do?" in menu.text
    assert "Seef Mall Branch" in str(branches.buttons), "the bot read the installed sandbox"
    assert await bot.stop() == 0
