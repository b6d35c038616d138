"""Own webhook delivery: a small ASGI app that takes Telegram's POSTs, and its uvicorn runner.

``create_webhook_app`` answers ``POST <path>`` (Telegram's updates, checked against the
secret token header), ``GET /healthz`` and ``GET /readyz`` (does the store answer?) and
``GET /metrics`` (Prometheus, from ``bot.metrics``), and runs the
python-telegram-bot Application's life cycle in its lifespan: initialise, publish the
menus (post_init), start, optionally ``setWebhook``; on shutdown stop and shut down.
``serve_webhook`` serves such an app with uvicorn until SIGTERM or SIGINT.

Robustness of one POST: the body is capped before it is read whole (413 past
``MAX_BODY_BYTES``); the update is claimed in the chat store so that a redelivery of the
same ``update_id``, to this replica or another, is handled once (see ``receive_update``);
handling has a hard bound (the bridge's ``UPDATE_DEADLINE_SECONDS`` plus the time to
apologise), so Telegram gets its answer before it gives up on the delivery. On SIGTERM
updates in flight get ``SHUTDOWN_GRACE_SECONDS`` to finish, then are cancelled (their chat
locks and update claims are released on the way out, so Telegram's redelivery is handled).

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
import secrets
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
from bot.sessions.store import ChatStore, StoreUnavailable, UpdateClaim
from bot.settings import DEFAULT_UPDATE_DEADLINE_SECONDS, DEFAULT_WEBHOOK_PATH, Settings
from conversations.session import Session

__all__ = [
    "ALLOWED_UPDATES",
    "HEALTH_PATH",
    "SECRET_HEADER",
    "create_webhook_app",
    "serve_webhook",
    "stop_application",
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
# Past the bridge's deadline an update still apologises (bounded by the bridge) and leaves
# its turn; this backstop covers that, so the POST is answered whatever happens inside.
DEADLINE_MARGIN_SECONDS = 8.0
# An update's claim outlives the longest handling, so a duplicate meanwhile sees it, and is
# short enough that the claim of a replica that died mid-update soon frees the redelivery.
CLAIM_MARGIN_SECONDS = 5.0
# Long enough to cover Telegram's redeliveries of one update, which stop well within this.
DONE_KEEP_SECONDS = 3600
# Updates in flight at SIGTERM get this long to finish before they are cancelled.
SHUTDOWN_GRACE_SECONDS = 10
# A cancelled update then gets this long to leave its turn before the store is closed.
CLEANUP_SECONDS = 3.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def create_webhook_app(
    application: AnyApplication,
    secret: str,
    path: str = DEFAULT_WEBHOOK_PATH,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
    webhook_url: str | None = None,
    allowed_updates: Sequence[str] = ALLOWED_UPDATES,
    store: ChatStore[Session] | None = None,
    deadline: float = DEFAULT_UPDATE_DEADLINE_SECONDS,
) -> Starlette:
    """Build the ASGI app that feeds Telegram's webhook POSTs to ``application``.

    ``ready`` is awaited by ``GET /healthz`` and must raise when the replica cannot serve
    (the chat store's ``ping``). With ``webhook_url`` the app calls ``setWebhook`` once the
    Application has started. With ``store`` each update is claimed there, so a redelivered
    ``update_id`` is handled once across replicas. ``deadline`` is the bridge's deadline
    of one update; the POST is answered at most ``DEADLINE_MARGIN_SECONDS`` after it.
    """
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    expected = secret.encode("utf-8")
    backstop = deadline + DEADLINE_MARGIN_SECONDS
    claim_ms = int((backstop + CLAIM_MARGIN_SECONDS) * 1000)
    in_flight: set[asyncio.Task[Any]] = set()

    async def receive_update(request: Request) -> Response:
        """Answer one POST, tracked so that the shutdown can wait for its clean-up."""
        task = asyncio.current_task()
        if task is not None:
            in_flight.add(task)
        try:
            return await handle_post(request)
        finally:
            in_flight.discard(task)

    async def handle_post(request: Request) -> Response:
        """Check the secret, parse the update and process it before answering."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        # Constant time, so the answer's timing does not reveal how much of a guess matched.
        if not hmac.compare_digest(given, expected):
            client = request.client.host if request.client else "unknown"
            log.warning("refused a webhook call from %s: wrong or missing secret token", client)
            return Response(status_code=403)
        body = await _read_body(request)
        if isinstance(body, Response):
            return body
        update = _parse_update(body, application)
        if update is None:
            return Response(status_code=400)
        token = secrets.token_hex(16)
        claim = await _claim(store, update.update_id, token, claim_ms)
        if claim is UpdateClaim.DONE:
            # Handled already (here or on another replica): Telegram only missed the answer.
            log.info("update %s was already handled; acknowledging it again", update.update_id)
            return Response(status_code=200)
        if claim is UpdateClaim.IN_PROGRESS:
            # Another replica is handling it right now. Not 2xx, so Telegram delivers it
            # again later: by then it is done (and acknowledged above), or its claim was
            # released or expired because that replica failed or died, and it is handled
            # then. Waiting here instead would hold a connection for as long as the other
            # replica takes. 409 rather than 5xx: this replica is healthy, and a balancer
            # counting 5xx must not take it out of rotation.
            log.info("update %s is being handled elsewhere; asking for a retry", update.update_id)
            return Response(status_code=409)
        # The answer goes out only after the update was handled, so a replica that dies
        # half-way leaves Telegram without a 2xx and Telegram delivers the update again
        # (to any replica), which the claim's short expiry then lets through. A redelivery
        # is safe: a repeated tap carries the step it was made on, which the first delivery
        # has moved past, so the engine shows it as stale instead of acting twice; and
        # booking looks for an existing ticket before it books.
        try:
            async with asyncio.timeout(backstop):
                await application.process_update(update)
        except TimeoutError:
            # The bridge's own deadline should have ended it with an apology; something
            # below that (Telegram, Redis) hung too. Retrying would most likely hang again.
            log.error("update %s was stopped after %.0f s", update.update_id, backstop)
        except asyncio.CancelledError:
            # Only uvicorn cancels this, when the shutdown grace ends. Free the update so
            # Telegram's redelivery is handled, and answer what uvicorn would (a 5xx) without
            # the traceback it logs for a request that raises: a clean stop is not an error.
            await _release(store, update.update_id, token)
            log.warning(
                "update %s was stopped by the shutdown; it will be redelivered", update.update_id
            )
            return Response(status_code=503)
        except Exception:
            await _release(store, update.update_id, token)
            # process_update hands handler errors to the error handler; this is a failure
            # around it. 500 makes Telegram retry, which the comment above makes safe.
            log.exception("could not process update %s", update.update_id)
            return Response(status_code=500)
        await _finish(store, update.update_id)
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
            if in_flight:
                # Updates cancelled at the end of the shutdown grace are still leaving their
                # turns (releasing the chat's lock and the claim): let them, before the
                # Application's shutdown closes the store under them.
                await asyncio.wait(set(in_flight), timeout=CLEANUP_SECONDS)
            await stop_application(application)

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


async def _read_body(request: Request) -> bytes | Response:
    """Return the request's body, or the refusal when it is malformed (400) or too big (413)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return Response(status_code=400)
        if int(declared) > MAX_BODY_BYTES:
            return _too_big(int(declared))  # refused before reading any of it
    # Read in chunks and stop at the cap: a chunked body declares no length, and a declared
    # length is only a claim.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _too_big(len(body))
    return bytes(body)


def _too_big(size: int) -> Response:
    """Log and refuse a body over the cap."""
    log.warning("refused a webhook body of %s bytes or more (limit %s)", size, MAX_BODY_BYTES)
    # Closing the connection spares reading the rest of a body nobody will use.
    return Response(status_code=413, headers={"Connection": "close"})


async def _claim(
    store: ChatStore[Session] | None, update_id: int, token: str, hold_ms: int
) -> UpdateClaim:
    """Claim the update in ``store``; without a store, or when it is down, just handle it."""
    if store is None:
        return UpdateClaim.CLAIMED
    try:
        return await store.claim_update(update_id, token, hold_ms=hold_ms)
    except StoreUnavailable:
        # The update itself will apologise that the store is down; refusing it as well
        # would only make Telegram deliver it again into the same outage.
        log.warning("could not claim update %s: store unavailable", update_id)
        return UpdateClaim.CLAIMED


async def _finish(store: ChatStore[Session] | None, update_id: int) -> None:
    """Mark the update done in ``store``; a store outage only costs the dedupe of it."""
    if store is None:
        return
    try:
        await store.finish_update(update_id, keep_seconds=DONE_KEEP_SECONDS)
    except StoreUnavailable:
        log.warning("could not mark update %s done: store unavailable", update_id)


async def _release(store: ChatStore[Session] | None, update_id: int, token: str) -> None:
    """Drop our claim on the update, so Telegram's redelivery is handled; never raise."""
    if store is None:
        return
    try:
        # Bounded: this also runs while the server's shutdown is cancelling the update.
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            await store.release_update(update_id, token)
    except (StoreUnavailable, TimeoutError):
        # The claim then expires on its own after its short hold.
        log.warning("could not release update %s", update_id)


def _parse_update(body: bytes, application: AnyApplication) -> Update | None:
    """Return the update in the JSON ``body``; None when the body is not one."""
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


def listening_socket(settings: Settings) -> socket.socket:
    """Bind WEBHOOK_LISTEN:WEBHOOK_PORT for uvicorn; exit with status 1 when that fails."""
    family = socket.AF_INET6 if ":" in settings.webhook_listen else socket.AF_INET
    # Small answers must not wait for Nagle's algorithm (up to ~40 ms each with delayed
    # ACKs). asyncio turns it off on accepted connections only when the listening socket
    # names its protocol as TCP, which the sockets uvicorn binds itself do and a plain
    # socket() does not; the option set here is also inherited by accepted connections.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
    return sock


def webhook_server(app: Starlette) -> uvicorn.Server:
    """Return the uvicorn server for ``app``: quiet, stopping cleanly on SIGTERM or SIGINT."""
    config = uvicorn.Config(
        app,
        log_config=None,  # keep the process's logging, with its secret redaction
        access_log=False,  # one line per update is noise; refusals are logged by the app
        lifespan="on",
        http="h11",
        ws="none",
        # Updates in flight finish before the Application stops; past the grace they are
        # cancelled (freeing their claims) and Telegram redelivers them.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    return _Server(config)


def serve_webhook(app: Starlette, settings: Settings) -> None:
    """Serve ``app`` on WEBHOOK_LISTEN:WEBHOOK_PORT until SIGTERM or SIGINT."""
    sock = listening_socket(settings)
    host, port = sock.getsockname()[:2]
    server = webhook_server(app)
    log.info("webhook server listening on http://%s:%s%s", host, port, settings.webhook_path)
    asyncio.run(server.serve(sockets=[sock]))
    if not server.started:
        # The lifespan failed (Telegram or Redis unreachable at start): not a clean exit.
        raise SystemExit(1)


async def stop_application(application: AnyApplication) -> None:
    """Stop a started Application and shut it down, running its post hooks as PTB's runners do."""
    if application.running:
        await application.stop()
        if application.post_stop is not None:
            await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
