"""Own webhook delivery: a small ASGI app that takes Telegram's POSTs, and its uvicorn runner.

``create_webhook_app`` answers ``POST <path>`` (Telegram's updates, checked against the
secret token header), ``GET /healthz`` and ``GET /readyz`` (does the store answer?) and
``GET /metrics`` (Prometheus, from ``bot.metrics``), and runs the
python-telegram-bot Application's life cycle in its lifespan: initialise, publish the
menus (post_init), start, optionally ``setWebhook``; on shutdown stop and shut down.
``serve_webhook`` serves such an app with uvicorn until SIGTERM or SIGINT.

Several processes can serve the same bot behind a load balancer: nothing about a chat lives
in a process (docs/architecture.md §2), and each update's turn holds the chat's Redis lock
(``ChatStore.turn``), which serialises one chat's updates whichever replica gets them.

Must not import conversations or bot.skiplino: the composition root (bot/app.py) wires the
engine in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot import metrics
from bot.settings import DEFAULT_WEBHOOK_PATH, Settings

__all__ = [
    "ALLOWED_UPDATES",
    "HEALTH_PATH",
    "SECRET_HEADER",
    "create_webhook_app",
    "serve_webhook",
]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
# A health check that waits longer than this counts as a failure: a load balancer's probe
# usually times out after a few seconds, and a slow Redis is a sick replica.
HEALTH_TIMEOUT_SECONDS = 2.0
# Telegram's limit for one update is far below this; a bigger body is not Telegram's.
MAX_BODY_BYTES = 1_000_000

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def create_webhook_app(
    application: AnyApplication,
    secret: str,
    path: str = DEFAULT_WEBHOOK_PATH,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
    webhook_url: str | None = None,
    allowed_updates: Sequence[str] = ALLOWED_UPDATES,
) -> Starlette:
    """Build the ASGI app that feeds Telegram's webhook POSTs to ``application``.

    ``ready`` is awaited by ``GET /healthz`` and must raise when the replica cannot serve
    (the chat store's ``ping``). With ``webhook_url`` the app calls ``setWebhook`` once the
    Application has started.
    """
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    expected = secret.encode("utf-8")

    async def receive_update(request: Request) -> Response:
        """Check the secret, parse the update and process it before answering."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        # Constant time, so the answer's timing does not reveal how much of a guess matched.
        if not hmac.compare_digest(given, expected):
            client = request.client.host if request.client else "unknown"
            log.warning("refused a webhook call from %s: wrong or missing secret token", client)
            return Response(status_code=403)
        update = await _read_update(request, application)
        if update is None:
            return Response(status_code=400)
        # The answer goes out only after the update was handled, so a replica that dies
        # half-way leaves Telegram without a 2xx and Telegram delivers the update again
        # (to any replica). A redelivery is safe: a repeated tap carries the step it was
        # made on, which the first delivery has moved past, so the engine shows it as stale
        # instead of acting twice; and booking looks for an existing ticket before it books.
        try:
            await application.process_update(update)
        except Exception:
            # process_update hands handler errors to the error handler; this is a failure
            # around it. 500 makes Telegram retry, which the comment above makes safe.
            log.exception("could not process update %s", update.update_id)
            return Response(status_code=500)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        """Answer 200 when the store answers, 503 otherwise."""
        if ready is not None:
            try:
                await asyncio.wait_for(ready(), HEALTH_TIMEOUT_SECONDS)
            except Exception as exc:  # any failure of the check means "do not route here"
                log.warning("health check failed: %s", type(exc).__name__)
                return JSONResponse({"status": "unavailable", "store": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "store": "up"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """Run the Application while the server runs (no updater: Telegram pushes)."""
        await application.initialize()
        try:
            # run_polling/run_webhook call the post_* hooks; here the server is the runner.
            if application.post_init is not None:
                await application.post_init(application)
            await application.start()
            if webhook_url:
                await application.bot.set_webhook(
                    webhook_url, secret_token=secret, allowed_updates=list(allowed_updates)
                )
                log.info("webhook set to %s", webhook_url)
            yield
        finally:
            if application.running:
                await application.stop()
                if application.post_stop is not None:
                    await application.post_stop(application)
            await application.shutdown()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)

    return Starlette(
        routes=[
            Route(path, receive_update, methods=["POST"]),
            Route(HEALTH_PATH, healthz, methods=["GET"]),
            # Readiness is the same question here: can this replica serve an update now?
            Route(metrics.READY_PATH, healthz, methods=["GET"]),
            Route(metrics.METRICS_PATH, metrics.metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def _read_update(request: Request, application: AnyApplication) -> Update | None:
    """Return the update in the request's JSON body; None when the body is not one."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        return None  # refused before reading it all
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return None
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return None
        return Update.de_json(data, application.bot)
    except Exception as exc:
        # Whatever shape a malformed body takes, the answer is 400, never a crash.
        log.warning("refused a malformed webhook body: %s", type(exc).__name__)
        return None


class _Server(uvicorn.Server):
    """A uvicorn server that stops on SIGTERM/SIGINT and then lets the process exit with 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Turn SIGTERM/SIGINT into a graceful stop without re-raising them afterwards."""
        # uvicorn re-raises the captured signal once it has stopped, which would end the
        # process "killed by SIGTERM"; a clean stop is a normal exit here.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._stop) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: object) -> None:
        """Ask the server to stop; a second SIGINT forces it."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def serve_webhook(app: Starlette, settings: Settings) -> None:
    """Serve ``app`` on WEBHOOK_LISTEN:WEBHOOK_PORT until SIGTERM or SIGINT."""
    family = socket.AF_INET6 if ":" in settings.webhook_listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.webhook_listen, settings.webhook_port))
    except OSError as exc:
        sock.close()
        log.error(
            "cannot listen on %s:%s: %s",
            settings.webhook_listen,
            settings.webhook_port,
            exc.strerror,
        )
        raise SystemExit(1) from None
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        log_config=None,  # keep the process's logging, with its secret redaction
        access_log=False,  # one line per update is noise; refusals are logged by the app
        lifespan="on",
        http="h11",
        ws="none",
        # Updates in flight finish before the Application stops; Telegram redelivers the rest.
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    log.info("webhook server listening on http://%s:%s%s", host, port, settings.webhook_path)
    asyncio.run(server.serve(sockets=[sock]))
    if not server.started:
        # The lifespan failed (Telegram or Redis unreachable at start): not a clean exit.
        raise SystemExit(1)
