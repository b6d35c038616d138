"""Own the composition root: settings -> Redis store, Skiplino client, engine, Application.

The chat lock's timing (``LockTimes``) is chosen here, for the bridge that runs the turns.
So are the metrics hooks: every Bot API request class is wrapped in ``CountingRequest``,
every Skiplino client reports its calls to ``bot.metrics``, and with ``METRICS_PORT`` long
polling serves ``/metrics``, ``/healthz`` and ``/readyz`` beside the bot.

The only place where the pieces are wired together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime

import uvicorn
from telegram import BotCommand, Update
from telegram._utils.types import ODVInput
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot import metrics
from bot.check import CheckFailed, CheckResult, ExitStatus, secrets_of
from bot.i18n import SUPPORTED_LOCALES, Msg, Translator, default_locales_dir
from bot.logs import quiet_libraries, setup_logging
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatStore
from bot.settings import Settings
from bot.skiplino import SkiplinoClient
from bot.telegram.handlers import AnyApplication, LockTimes, TelegramBridge, install
from bot.telegram.webhook import stop_application
from conversations.engine import Engine, utcnow
from conversations.flows.booking import BOOKING
from conversations.flows.menu import MENU
from conversations.flows.privacy import PRIVACY
from conversations.flows.reschedule import RESCHEDULE
from conversations.flows.tickets import TICKETS
from conversations.session import Session

log = logging.getLogger(__name__)

COMMANDS = ("start", "book", "tickets", "language", "forget", "help")
# Every flow the bot runs, in the order the engine is given them.
FLOWS = (MENU, BOOKING, TICKETS, RESCHEDULE, PRIVACY)
# PTB's own defaults for the two request classes it would build without us.
REQUEST_POOL_SIZE = 256
UPDATES_POOL_SIZE = 1

# The engine with the production client and store, which the application closes at exit.
BotEngine = Engine[SkiplinoClient, ChatStore[Session]]


def build_engine(
    settings: Settings,
    *,
    store: ChatStore[Session] | None = None,
    api: SkiplinoClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> BotEngine:
    """Make the engine from settings, with optional stand-ins for tests and the console."""
    if api is None:
        key = settings.skiplino_api_key.get_secret_value() if settings.skiplino_api_key else ""
        api = SkiplinoClient(
            base_url=settings.skiplino_api_url,
            api_key=key,
            timeout=settings.skiplino_timeout_seconds,
            # Retries never outlast the update they serve.
            total_budget=min(settings.skiplino_budget_seconds, settings.update_deadline_seconds),
            max_response_bytes=settings.skiplino_max_response_bytes,
        )
    if api.on_call is None:
        # Also on a client handed in (tests, console), so their calls are counted alike.
        api.on_call = metrics.record_skiplino_call
    if store is None:
        store = RedisChatStore.from_url(
            settings.redis_url,
            prefix=settings.redis_prefix,
            session_model=Session,
            session_ttl_seconds=settings.session_ttl_seconds,
            profile_ttl_seconds=settings.profile_ttl_days * 24 * 3600,
        )
    return Engine(
        flows=FLOWS,
        api=api,
        store=store,
        timezone=settings.timezone,
        default_locale=settings.bot_default_locale,
        clock=clock,
    )


async def set_commands(application: AnyApplication, translator: Translator) -> None:
    """Publish the command menu in every supported language (English is the default)."""
    # Telegram shows the list of the user's app language, else the one without a language.
    for locale in (None, *SUPPORTED_LOCALES):
        commands = [
            BotCommand(name, translator.render(Msg(f"command.{name}"), locale or "en"))
            for name in COMMANDS
        ]
        try:
            await application.bot.set_my_commands(commands, language_code=locale)
        except TelegramError as exc:
            # A missing menu must not keep the bot from serving; the next start retries.
            log.warning("could not set the %s command menu: %s", locale or "default", exc)


def make_translator(settings: Settings) -> Translator:
    """Make the translator for the configured catalogs and company time zone."""
    return Translator(settings.locales_dir or default_locales_dir(), timezone=settings.timezone)


def build_application(
    settings: Settings,
    engine: BotEngine,
    *,
    translator: Translator | None = None,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    token: str | None = None,
) -> AnyApplication:
    """Make the python-telegram-bot Application around ``engine`` and its store."""
    translator = translator or make_translator(settings)
    if token is None:
        secret = settings.telegram_bot_token
        token = secret.get_secret_value() if secret is not None else ""
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_url)
        # Honour Telegram's retry_after instead of failing sends under flood control.
        .rate_limiter(AIORateLimiter(max_retries=3))
        # Chats run in parallel; one chat's updates are serialised by the Redis lock.
        .concurrent_updates(64)
    )
    builder = builder.request(
        CountingRequest(request or HTTPXRequest(connection_pool_size=REQUEST_POOL_SIZE))
    ).get_updates_request(
        CountingRequest(updates_request or HTTPXRequest(connection_pool_size=UPDATES_POOL_SIZE))
    )

    async def post_init(application: AnyApplication) -> None:
        await set_commands(application, translator)

    async def post_shutdown(application: AnyApplication) -> None:
        await engine.api.aclose()
        await engine.store.close()

    # Here too, not only in setup_logging: whatever runs the Application (tests, the console,
    # an embedding program) gets no personal data from the libraries' debug lines.
    quiet_libraries()
    application = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    bridge = TelegramBridge(
        engine,
        engine.store,
        translator,
        lock=LockTimes(),
        deadline=settings.update_deadline_seconds,
    )
    install(application, bridge)
    return application


class CountingRequest(BaseRequest):
    """A Bot API request class that counts calls and failures by method around another one."""

    def __init__(self, inner: BaseRequest) -> None:
        """Wrap ``inner``, which does the actual requests."""
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        """Return the wrapped class's read timeout (long polling adds it to its own)."""
        return self.inner.read_timeout

    async def initialize(self) -> None:
        """Initialise the wrapped class."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped class down."""
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request through the wrapped class and count it by Bot API method."""
        # The URL carries the token; only its last segment, the method name, is a label.
        name = metrics.method_label(url)
        try:
            status, payload = await self.inner.do_request(
                url,
                method,
                request_data=request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except Exception as exc:
            metrics.record_telegram_call(name, type(exc).__name__)
            raise
        metrics.record_telegram_call(name, None if 200 <= status < 300 else str(status))
        return status, payload


class TelegramOutage:
    """Log a getUpdates outage as two lines: when it starts and when it ends, with a count."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start with Telegram reachable."""
        self._clock = clock
        self.failures = 0
        self._since = 0.0

    def failed(self, error: TelegramError) -> None:
        """Count a failed getUpdates; log only the first of an outage."""
        self.failures += 1
        if self.failures == 1:
            self._since = self._clock()
            log.warning(
                "Telegram unreachable: getUpdates failed (%s: %s); retrying quietly until it "
                "answers",
                type(error).__name__,
                error,
            )

    def answered(self) -> None:
        """Note a getUpdates that Telegram answered; log the end of an outage."""
        if self.failures:
            log.warning(
                "Telegram reachable again after %d failed getUpdates over %.0f s",
                self.failures,
                self._clock() - self._since,
            )
            self.failures = 0


class _WatchedUpdatesRequest(HTTPXRequest):
    """The getUpdates connection, telling the outage watch when Telegram answers."""

    def __init__(self, outage: TelegramOutage, watch: metrics.UpdatesWatch | None = None) -> None:
        """Use one connection, like the default getUpdates request."""
        super().__init__(connection_pool_size=UPDATES_POOL_SIZE)
        self._outage = outage
        self._watch = watch

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request; a 2xx answer ends an outage."""
        status, payload = await super().do_request(
            url,
            method,
            request_data=request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if 200 <= status < 300:
            self._outage.answered()
            if self._watch is not None:
                self._watch.answered()
        return status, payload


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server running beside the bot: the bot's runner owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave SIGINT/SIGTERM to the polling loop, which stops this server itself."""
        yield


def _bind(host: str, port: int) -> socket.socket:
    """Return a listening-ready socket on ``host``:``port``; raise CheckFailed if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CheckFailed(
            CheckResult(
                "metrics",
                ExitStatus.CONFIGURATION,
                f"cannot listen on METRICS_LISTEN:METRICS_PORT {host}:{port}: {exc.strerror}",
            )
        ) from None
    return sock


@contextlib.asynccontextmanager
async def _ops_server(
    settings: Settings, store: ChatStore[Session], watch: metrics.UpdatesWatch
) -> AsyncIterator[None]:
    """Serve /metrics, /healthz and /readyz on METRICS_PORT while the block runs (if set)."""
    if settings.metrics_port is None:
        yield
        return
    sock = _bind(settings.metrics_listen, settings.metrics_port)
    config = uvicorn.Config(
        metrics.create_ops_app(store.ping, watch),
        log_config=None,  # keep the process's logging, with its secret redaction
        access_log=False,  # scrapes and probes every few seconds are noise
        lifespan="off",
        http="h11",
        ws="none",
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    log.info("metrics and health on http://%s:%s%s", host, port, metrics.METRICS_PATH)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def _poll(
    application: AnyApplication,
    outage: TelegramOutage,
    settings: Settings | None = None,
    store: ChatStore[Session] | None = None,
    watch: metrics.UpdatesWatch | None = None,
) -> None:
    """Run the Application with long polling until SIGINT or SIGTERM (ops server if asked)."""
    if settings is None or store is None or watch is None:
        await _poll_updates(application, outage)
        return
    async with _ops_server(settings, store, watch):
        await _poll_updates(application, outage)


async def _poll_updates(application: AnyApplication, outage: TelegramOutage) -> None:
    """Run the Application with long polling until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    updater = application.updater
    if updater is None:  # pragma: no cover - ApplicationBuilder always makes one
        raise RuntimeError("the Application has no Updater")
    try:
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        # Our own runner rather than run_polling, whose error callback hands every failed
        # getUpdates to the error handler: a traceback per retry during an outage.
        await updater.start_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY], error_callback=outage.failed
        )
        await application.start()
        log.info("polling Telegram for updates")
        await stop.wait()
        log.info("stopping")
    finally:
        if updater.running:
            await updater.stop()
        await stop_application(application)


def _setup_logging(settings: Settings) -> None:
    """Configure logging for a serving process: redaction, LOG_FORMAT, the chat hash key."""
    token = settings.telegram_bot_token
    # Stable for one bot (restarts and replicas hash a chat alike), unknown to log readers.
    key = hashlib.sha256(b"chat-log-key:" + token.get_secret_value().encode()) if token else None
    setup_logging(
        secrets_of(settings),
        log_format=settings.log_format,
        chat_key=key.digest() if key is not None else None,
    )


def run_polling(settings: Settings) -> None:
    """Run the bot with long polling until interrupted; raise CheckFailed if it cannot start."""
    _setup_logging(settings)
    engine = build_engine(settings)
    outage = TelegramOutage()
    watch = metrics.UpdatesWatch()
    application = build_application(
        settings, engine, updates_request=_WatchedUpdatesRequest(outage, watch)
    )
    log.info("starting long polling against %s", settings.skiplino_api_url)
    try:
        asyncio.run(_poll(application, outage, settings, engine.store, watch))
    except InvalidToken:
        # The checks before start passed, so the token was revoked in between.
        raise CheckFailed(
            CheckResult(
                "telegram", ExitStatus.REFUSED, "Telegram rejected TELEGRAM_BOT_TOKEN at start"
            )
        ) from None
    except NetworkError as exc:
        raise CheckFailed(
            CheckResult(
                "telegram",
                ExitStatus.UNREACHABLE,
                f"Telegram became unreachable at start ({type(exc).__name__}): retry later",
            )
        ) from None


def run_webhook(settings: Settings, *, set_webhook: bool = False) -> None:
    """Serve Telegram's webhook POSTs until SIGTERM; call setWebhook first when asked."""
    # Imported here so that `run` does not load the web server.
    from bot.telegram.webhook import create_webhook_app, serve_webhook

    _setup_logging(settings)
    secret = settings.telegram_webhook_secret
    if secret is None:
        raise ValueError("TELEGRAM_WEBHOOK_SECRET is required")  # the CLI checks first
    engine = build_engine(settings)
    application = build_application(settings, engine)
    publish = set_webhook or settings.telegram_set_webhook
    app = create_webhook_app(
        application,
        secret.get_secret_value(),
        settings.webhook_path,
        ready=engine.store.ping,
        webhook_url=settings.telegram_webhook_url if publish else None,
        store=engine.store,
        deadline=settings.update_deadline_seconds,
    )
    log.info("starting webhook delivery against %s", settings.skiplino_api_url)
    serve_webhook(app, settings)
