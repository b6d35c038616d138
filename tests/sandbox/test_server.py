"""``python -m bot sandbox``: serves over HTTP, announces its URL, stops cleanly on a signal."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"^Skiplino sandbox ready at (http://127\.0\.0\.1:(\d+)/external/v1)$")


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the sandbox command and return the process and its announced base URL."""
    env = {k: v for k, v in os.environ.items() if k != "SKIPLINO_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=15):
            process.kill()
            pytest.fail("the sandbox did not announce itself within 15 s")
    line = process.stdout.readline().rstrip("\n")
    match = READY.match(line)
    if match is None:
        process.kill()
        pytest.fail(f"unexpected first line {line!r}; stderr: {process.communicate()[1]}")
    assert int(match.group(2)) > 0
    return process, match.group(1)


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> int:
    """Send ``sig`` and return the exit code."""
    process.send_signal(sig)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Kill any sandbox process a failed test left behind."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_sandbox_serves_branches_on_a_free_port_and_stops_on_sigint(
    processes: list[subprocess.Popen[str]],
) -> None:
    process, base_url = start()
    processes.append(process)

    response = httpx.get(
        f"{base_url}/branches", headers={"Authorization": "Bearer sk_test_sandbox"}, timeout=5
    )
    refused = httpx.get(f"{base_url}/branches", timeout=5)

    assert response.status_code == 200
    assert response.json()["message"] == "Branches fetched successfully."
    assert "Seef Mall Branch" in [b["name"] for b in response.json()["data"]]
    assert refused.status_code == 401
    assert stop(process, signal.SIGINT) == 0


def test_sandbox_command_line_sets_keys_and_faults_and_stops_on_sigterm(
    processes: list[subprocess.Popen[str]],
) -> None:
    process, base_url = start(
        "--secret-key",
        "sk_cli_test",
        "--public-key",
        "pk_cli_test",
        "--force",
        "POST:/tickets/book=503",
        "--hang",
        "GET:/tickets/{id}",
        "--seed",
        "11",
    )
    processes.append(process)
    headers = {"Authorization": "Bearer pk_cli_test"}

    branches = httpx.get(f"{base_url}/branches", headers=headers, timeout=5)
    book = httpx.post(f"{base_url}/tickets/book", headers=headers, json={}, timeout=5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{base_url}/tickets/abcdefghij", headers=headers, timeout=0.3)

    assert branches.status_code == 200
    assert book.status_code == 503
    assert stop(process, signal.SIGTERM) == 0
    assert process.stderr is not None
    assert "sk_cli_test" not in process.stderr.read()


def test_a_malformed_fault_option_exits_with_status_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--force", "GET:/branches"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=15,
    )

    assert result.returncode == 2
    assert "METHOD:PATH=STATUS" in result.stderr
