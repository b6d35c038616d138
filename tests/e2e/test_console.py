"""``skiplino-bot console`` as a user runs it: a subprocess fed through stdin, read on stdout.

No token, no network, no Redis unless the test gives REDIS_URL: the console embeds the
sandbox and the fake Telegram Bot API.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from bot.console import USER_ID
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
# Book a ticket -> Seef Mall Branch -> Teller Services -> Cash Withdrawal -> now -> Confirm.
WALK_IN = ["1", "1", "1", "1", "1", "1"]
TICKET = re.compile(r"Q\d{3}")


def console_env(**extra: str) -> dict[str, str]:
    """Return a minimal environment: no REDIS_URL, no token, no colours requested."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


def run_console(
    lines: list[str], tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the console with ``lines`` on stdin until EOF and return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=console_env(**env),
        # Away from the repository, so no .env file is read.
        cwd=str(tmp_path),
        timeout=60,
    )


def assert_in_order(text: str, *parts: str) -> None:
    """Assert that every part occurs in ``text``, each after the previous one."""
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} not found after position {position} in:\n{text}"
        position = found + len(part)


def test_walk_in_is_booked_by_typing_numbers_and_eof_quits(tmp_path: Path) -> None:
    result = run_console(WALK_IN, tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert_in_order(
        out,
        "Type a button's number to tap it",
        ":contact +97333445566",
        "bot: Welcome!",
        "[1] 🎫 Book a ticket",
        "you> 1",
        "bot (updated): Choose a branch:",
        "[1] 🟢 Seef Mall Branch",
        "[4] 🔴 Riffa Branch (closed now)",
        "you> 1",
        "Choose a service group:",
        "[1] Teller Services",
        "Choose a service:",
        "[1] 🚶 Cash Withdrawal",
        "[1] 🚶 Join the queue now",
        "Please check your booking:",
        "[1] ✅ Confirm",
        "you> 1",
        "bot (updated): ✅ Booked!",
        "🎫 Ticket Q",
    )
    booked = out[out.rindex("✅ Booked!") :]
    assert TICKET.search(booked), booked
    assert "\x1b[" not in out, "plain text when stdout is not a terminal"
    assert result.stderr == "", "no log noise"


def test_arabic_console_books_a_walk_in_in_arabic(tmp_path: Path) -> None:
    result = run_console(WALK_IN, tmp_path, "--locale", "ar")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert_in_order(
        out,
        "اكتب رقم الزر لاختياره",
        "البوت: أهلًا بك!",
        "[1] 🎫 حجز تذكرة",
        "أنت> 1",
        "البوت (بعد التحديث): اختر الفرع:",
        "[1] 🟢 فرع سيف مول",
        "اختر مجموعة الخدمات:",
        "[1] 🚶 سحب نقدي",
        "يرجى مراجعة حجزك:",
        "[1] ✅ تأكيد",
        "✅ تم الحجز!",
        "🎫 التذكرة",
    )
    assert TICKET.search(out[out.rindex("تم الحجز") :])
    assert "Book a ticket" not in out
    assert result.stderr == ""


def test_commands_the_contact_shortcut_and_other_numbers_reach_the_bot(tmp_path: Path) -> None:
    result = run_console(["/phone", ":contact +97339998877", "/phone", "1", "9"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert_in_order(
        result.stdout,
        "you> /phone",
        "Share your phone number so the branch can reach you",
        "[1] 📱 Share my phone number",
        "you> :contact +97339998877",
        "Your phone number +97339998877 is saved.",
        "you> /phone",
        "[1] 📱 Share my phone number",
        # The number of the contact button shares the demo number.
        "you> 1",
        "Your phone number +97333445566 is saved.",
        "What would you like to do?",
        # No button 9 on the menu: the number is sent as text.
        "you> 9",
        "bot: Please choose one of the buttons below.",
    )


def chat_on_a_terminal(tmp_path: Path, **env: str) -> tuple[int, str]:
    """Run the console on a pseudo-terminal, wait for the menu, press Ctrl-D; return the output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=console_env(TERM="xterm", **env),
        cwd=str(tmp_path),
    )
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        # The prompt comes once the bot has answered /start: the console is then reading.
        while b"you> " not in seen:
            assert time.monotonic() < deadline, seen.decode("utf-8", "replace")
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                seen += os.read(controller, 65536)
        os.write(controller, b"\x04")  # Ctrl-D at the start of a line: end of input
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
        os.close(controller)
    return process.returncode, seen.decode("utf-8", "replace")


def test_on_a_terminal_the_chat_is_coloured_and_ctrl_d_quits(tmp_path: Path) -> None:
    status, out = chat_on_a_terminal(tmp_path)

    assert status == 0
    assert "\x1b[1;35m[1]\x1b[0m 🎫 Book a ticket" in out


def test_no_color_turns_colours_off_on_a_terminal(tmp_path: Path) -> None:
    status, out = chat_on_a_terminal(tmp_path, NO_COLOR="1")

    assert status == 0
    assert "[1] 🎫 Book a ticket" in out
    assert "\x1b[" not in out


def test_ctrl_c_exits_without_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=console_env(),
        cwd=str(tmp_path),
    )
    assert process.stdout is not None
    try:
        seen = b""
        deadline = time.monotonic() + 30
        # Wait for the menu: the console is then reading stdin, which stays open.
        while b"What would you like to do?" not in seen:
            assert time.monotonic() < deadline, seen.decode("utf-8", "replace")
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, "the console ended before showing the menu"
                seen += chunk
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130
    assert b"Traceback" not in stderr
    assert stderr == b""


async def test_the_chat_is_kept_in_redis_when_redis_url_is_given(
    tmp_path: Path, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    result = run_console(["1"], tmp_path, REDIS_URL=REDIS_URL, REDIS_PREFIX=redis_prefix)

    assert result.returncode == 0, result.stderr
    assert "Choose a branch:" in result.stdout
    raw = await redis_client.get(f"{redis_prefix}:console:session:{{{USER_ID}}}")
    assert raw is not None
    assert json.loads(raw)["state"] == "book.branch"
