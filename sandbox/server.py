"""Own ``skiplino-bot sandbox``: serve the Skiplino stand-in over HTTP with uvicorn.

Prints ``Skiplino sandbox ready at http://HOST:PORT/external/v1`` once it accepts connections
(with the real port when started on port 0) and exits with 0 on SIGINT/SIGTERM.

The ``/_sandbox/*`` admin routes can reset the data, force faults and read every recorded
request body (customer names included). With an admin key they need it. Without one they
stay open only when the server listens on loopback (a developer's machine, the tests): there
only local processes can reach them. Listening anywhere else without a key turns them off
rather than refusing to start, so ``docker compose`` still brings up a working API.
Must not import bot, conversations or telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from sandbox.app import Sandbox
from sandbox.faults import FaultSpecError, Route, parse_forced, parse_route


class _Server(uvicorn.Server):
    """A uvicorn server that stops on SIGINT/SIGTERM and then returns normally."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Ask the server to exit on a signal without re-raising it afterwards."""
        loop = asyncio.get_running_loop()
        handled = (signal.SIGINT, signal.SIGTERM)
        for sig in handled:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)


def base_url(host: str, port: int) -> str:
    """Return the API base URL for a host and port (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/external/v1"


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is a loopback name or address (only local processes reach it)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _fault_switches(args: argparse.Namespace) -> tuple[dict[Route, int], list[Route]]:
    """Parse the ``--force`` and ``--hang`` options."""
    forced = dict(parse_forced(spec) for spec in args.force or [])
    hang = [parse_route(spec) for spec in args.hang or []]
    return forced, hang


async def _serve(server: _Server, sock: socket.socket, url: str) -> None:
    """Run the server and announce the URL as soon as it accepts connections."""
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            break
        await asyncio.sleep(0.01)
    if server.started:
        print(f"Skiplino sandbox ready at {url}", flush=True)
    await task


def serve(
    args: argparse.Namespace, *, secret_key: str, timezone: str, admin_key: str | None = None
) -> int:
    """Serve the sandbox on ``args.host``/``args.port`` until interrupted; return the exit code."""
    admin_locked = not admin_key and not is_loopback(args.host)
    if admin_locked:
        print(
            f"skiplino-bot sandbox: the /_sandbox admin routes are off: {args.host} is not "
            "loopback and no --admin-key / SANDBOX_ADMIN_KEY was given",
            file=sys.stderr,
        )
    try:
        forced, hang = _fault_switches(args)
        sandbox = Sandbox(
            secret_key=secret_key,
            public_key=args.public_key,
            timezone=timezone,
            seed=args.seed,
            latency_ms=args.latency_ms,
            error_rate=args.error_rate,
            forced=forced,
            hang=hang,
            admin_key=admin_key,
            admin_locked=admin_locked,
        )
    except FaultSpecError as exc:
        print(f"skiplino-bot sandbox: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        sandbox.app,
        host=args.host,
        port=args.port,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        # A hanging route must not keep the process alive after a stop signal.
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    try:
        sock = config.bind_socket()
    except SystemExit:
        print(f"skiplino-bot sandbox: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    asyncio.run(_serve(server, sock, base_url(args.host, port)))
    return 0 if server.started else 1
