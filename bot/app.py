"""Own the composition root: settings -> Redis store, Skiplino client, engine, Application.

The chat lock's timing (``LockTimes``) is chosen here, for the bridge that runs the turns.

The only place where the pieces are wired together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder
from telegram.request import BaseRequest

from bot.i18n import SUPPORTED_LOCALES, Msg, Translator, default_locales_dir
from bot.logs import setup_logging
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatStore
from bot.settings import Settings
from bot.skiplino import SkiplinoClient
from bot.telegram.handlers import AnyApplication, LockTimes, TelegramBridge, install
from conversations.engine import Engine, utcnow

log = logging.getLogger(__name__)

COMMANDS = ("start", "book", "tickets", "language", "help")


def build_engine(
    settings: Settings,
    *,
    store: ChatStore | None = None,
    api: SkiplinoClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Engine:
    """Make the engine from settings, with optional stand-ins for tests and the console."""
    if api is None:
        key = settings.skiplino_api_key.get_secret_value() if settings.skiplino_api_key else ""
        api = SkiplinoClient(
            base_url=settings.skiplino_api_url,
            api_key=key,
            timeout=settings.skiplino_timeout_seconds,
        )
    if store is None:
        store = RedisChatStore.from_url(
            settings.redis_url,
            prefix=settings.redis_prefix,
            session_ttl_seconds=settings.session_ttl_seconds,
        )
    return Engine(
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
    engine: Engine,
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
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)

    async def post_init(application: AnyApplication) -> None:
        await set_commands(application, translator)

    async def post_shutdown(application: AnyApplication) -> None:
        await engine.api.aclose()
        await engine.store.close()

    application = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    install(application, TelegramBridge(engine, engine.store, translator, lock=LockTimes()))
    return application


def run_polling(settings: Settings) -> None:
    """Run the bot with long polling until interrupted."""
    setup_logging(settings.secrets())
    engine = build_engine(settings)
    application = build_application(settings, engine)
    log.info("starting long polling against %s", settings.skiplino_api_url)
    application.run_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])


def run_webhook(settings: Settings, *, set_webhook: bool = False) -> None:
    """Serve Telegram's webhook POSTs until SIGTERM; call setWebhook first when asked."""
    # Imported here so that `run` does not load the web server.
    from bot.telegram.webhook import create_webhook_app, serve_webhook

    setup_logging(settings.secrets())
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
    )
    log.info("starting webhook delivery against %s", settings.skiplino_api_url)
    serve_webhook(app, settings)
