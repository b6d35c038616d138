"""Own the fake Telegram Bot API over HTTP: `FakeBotAPIServer` serves a `FakeBotAPI` on loopback.

Requests go to ``{base_url}{token}/{method}`` like Telegram's, with JSON, form-urlencoded or
multipart bodies (and query strings). The server runs as a task in the caller's event loop,
so a test can drive `FakeUser` on the same `FakeBotAPI` while a bot - in-process or a
subprocess pointed at it through ``TELEGRAM_API_URL`` - polls it. Keep that loop free:
await, do not block (``time.sleep``, ``subprocess.run``) while the bot talks to the server.

Must not import conversations or bot.skiplino. The benchmarks serve the fake over HTTP with it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.testing.fake_api import ApiResponse, FakeBotAPI

__all__ = ["FakeBotAPIServer", "create_app"]

_JSON = "application/json"


def create_app(api: FakeBotAPI, closing: asyncio.Event | None = None) -> Starlette:
    """Build the ASGI app answering ``/bot<token>/<method>`` from ``api``.

    When ``closing`` is set, calls still waiting (long polls) end with 503 so the server
    can stop without waiting for their timeouts.
    """

    async def bot_method(request: Request) -> Response:
        """Answer one Bot API call."""
        try:
            params = await _read_params(request)
        except ValueError:
            return _respond(_error(400, "Bad Request: can't parse request body"))
        call = asyncio.ensure_future(
            api.call(request.path_params["method"], params, token=request.path_params["token"])
        )
        watchers: list[asyncio.Future[Any]] = [asyncio.ensure_future(_until_disconnected(request))]
        if closing is not None:
            watchers.append(asyncio.ensure_future(closing.wait()))
        try:
            await asyncio.wait([call, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for watcher in watchers:
                watcher.cancel()
        if not call.done():
            # The client left or the server stops: a long poll must not take updates away
            # from the next poll, so it is cancelled before it delivers anything.
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            return _respond(_error(503, "Service Unavailable"))
        return _respond(call.result())

    async def not_found(request: Request) -> Response:
        """Answer any other path like Telegram: 404 in the usual envelope."""
        return _respond(_error(404, "Not Found"))

    return Starlette(
        routes=[
            Route("/bot{token}/{method}", bot_method, methods=["GET", "POST"]),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Do not take over SIGINT/SIGTERM: the test process owns them."""
        yield


class FakeBotAPIServer:
    """Serve a `FakeBotAPI` over HTTP on 127.0.0.1, on a free port, as an async context."""

    def __init__(self, api: FakeBotAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare the server; ``port=0`` picks a free port at start."""
        self.api = api
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        if self._port is None:
            raise RuntimeError("the fake Bot API server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Return the Bot API base to put in ``TELEGRAM_API_URL`` (the token follows it)."""
        return f"http://{self.host}:{self.port}/bot"

    async def start(self) -> None:
        """Bind the port and serve in a task of the running loop until `stop`."""
        if self._task is not None:
            raise RuntimeError("the fake Bot API server is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._closing = asyncio.Event()
        config = uvicorn.Config(
            create_app(self.api, self._closing),
            log_config=None,  # leave the process's logging configuration alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(
            self._server.serve(sockets=[sock]), name="fake-bot-api-server"
        )
        try:
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises why uvicorn could not start
                    raise RuntimeError("the fake Bot API server stopped while starting")
                await asyncio.sleep(0.005)
        finally:
            if not self._server.started:
                sock.close()

    async def stop(self) -> None:
        """Stop delivering to a webhook, end waiting calls, stop serving, release the port."""
        await self.api.aclose()
        if self._server is None or self._task is None:
            return
        if self._closing is not None:
            self._closing.set()
        self._server.should_exit = True
        try:
            await self._task
        finally:
            self._server = None
            self._task = None
            self._port = None

    async def __aenter__(self) -> FakeBotAPIServer:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()


async def _until_disconnected(request: Request) -> None:
    """Return when the client closes the connection."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _read_params(request: Request) -> dict[str, Any]:
    """Return the call's parameters from the query string and a JSON, form or multipart body."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(_JSON):
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("a JSON body must be an object")
        params.update(decoded)
    elif content_type.startswith("multipart/form-data"):
        params.update(_multipart_fields(request.headers["content-type"], body))
    else:
        # A missing or unknown type is read as form-urlencoded, what most clients send.
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Return the non-file fields of a multipart body (files are not supported by the fake)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            fields[name] = payload.decode(part.get_content_charset() or "utf-8")
    return fields


def _error(status: int, description: str) -> ApiResponse:
    """Return an error envelope."""
    return ApiResponse(status, {"ok": False, "error_code": status, "description": description})


def _respond(response: ApiResponse) -> Response:
    """Turn a fake answer into an HTTP response."""
    return Response(response.payload, status_code=response.status, media_type=_JSON)
