"""Own the command line: ``skiplino-bot run | webhook | check | sandbox | console``.

Exit statuses (`bot.check.ExitStatus`): 0 ok, 1 unexpected error, 2 configuration (a setting
missing or invalid), 3 a dependency unreachable (Telegram, Redis, Skiplino), 4 credentials
refused (bot token, API key, Redis password). ``run`` and ``webhook`` check every dependency
before they start and end a failed start with one line naming the setting and the cause.

Imports of the heavy pieces happen inside each command so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.logs import install_excepthooks, setup_logging
from bot.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    parser = argparse.ArgumentParser(
        prog="skiplino-bot",
        description="Telegram bot for Skiplino queue tickets and appointments, its Skiplino "
        "sandbox, and a console demo.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the Telegram bot with long polling")

    webhook = sub.add_parser(
        "webhook",
        help="serve Telegram's webhook POSTs (run several behind a load balancer)",
        description="Serve the bot over HTTP for Telegram's webhook: POST "
        "WEBHOOK_PATH (default /telegram/webhook) and GET /healthz on "
        "WEBHOOK_LISTEN:WEBHOOK_PORT. Needs TELEGRAM_WEBHOOK_SECRET.",
    )
    webhook.add_argument(
        "--set-webhook",
        action="store_true",
        help="call setWebhook with TELEGRAM_WEBHOOK_URL at start (one deploy step does it)",
    )

    check = sub.add_parser(
        "check",
        help="check the configuration, Telegram, Redis and Skiplino; exit 0 when all pass",
        description="Check the settings, then Telegram (getMe), Redis (PING and a "
        "write/read/delete under REDIS_PREFIX) and Skiplino (GET /branches with the key); "
        "one line each. Exit status: 0 all passed, 2 configuration, 3 a dependency "
        "unreachable, 4 credentials refused.",
    )
    check.add_argument(
        "--webhook",
        action="store_true",
        help="also require the settings of `webhook` (TELEGRAM_WEBHOOK_SECRET, ...)",
    )

    sandbox = sub.add_parser("sandbox", help="serve the Skiplino stand-in over HTTP")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8700)
    sandbox.add_argument("--secret-key", default=None)
    sandbox.add_argument("--public-key", default="pk_test_sandbox")
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="added latency per call")
    sandbox.add_argument("--error-rate", type=float, default=0.0, help="share of calls -> 500")
    sandbox.add_argument(
        "--force",
        action="append",
        default=[],
        metavar="METHOD:PATH=STATUS",
        help="force a status on a route, e.g. POST:/tickets/book=503 (repeatable)",
    )
    sandbox.add_argument(
        "--hang", action="append", default=[], metavar="METHOD:PATH", help="make a route hang"
    )
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.add_argument(
        "--admin-key",
        default=None,
        help="require this key (header X-Sandbox-Admin-Key) on /_sandbox/* "
        "(default: SANDBOX_ADMIN_KEY; without one the admin routes are open only on loopback)",
    )

    console = sub.add_parser(
        "console",
        help="chat with the bot in the terminal (embedded sandbox; no token, no network)",
        description="Chat with the bot in the terminal against the embedded sandbox. "
        "Type a button's number to tap it; lines are read from stdin when it is not a "
        "terminal. Sessions stay in memory unless REDIS_URL is set.",
    )
    console.add_argument("--locale", default=None, help="start in this language (en, ar)")
    return parser


def _fail(message: str, status: int) -> int:
    """Print one line on stderr and return ``status``."""
    print(f"skiplino-bot: {message}", file=sys.stderr)
    return status


def _start(settings: Settings, command: str, *, set_webhook: bool) -> int:
    """Check the dependencies, then run ``command``; one line and a status if either fails."""
    from bot.check import CheckFailed, ExitStatus, preflight

    try:
        preflight(settings)
        if command == "run":
            from bot.app import run_polling

            run_polling(settings)
        else:
            from bot.app import run_webhook

            run_webhook(settings, set_webhook=set_webhook)
    except CheckFailed as exc:
        return _fail(str(exc), exc.status)
    return int(ExitStatus.OK)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parser().parse_args(argv)
    # The console is a chat on stdout, and check prints a report: only warnings and errors.
    quiet = args.command in ("console", "check")
    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Here rather than at the top: it loads httpx and redis, which --help does not need.
    from bot.check import ExitStatus, run_check, secrets_of

    if args.command == "check":
        return run_check(print, "webhook" if args.webhook else "run")
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc), ExitStatus.CONFIGURATION)
    # From here on no output, not even an uncaught exception's traceback, shows a secret.
    install_excepthooks(secrets_of(settings))
    setup_logging(secrets_of(settings), level=level)

    if args.command in ("run", "webhook"):
        set_webhook = args.command == "webhook" and args.set_webhook
        if args.command == "run":
            missing = settings.missing_for_run()
        else:
            missing = settings.missing_for_webhook(set_webhook=set_webhook)
        if missing:
            return _fail(Settings.describe_missing(missing), ExitStatus.CONFIGURATION)
        return _start(settings, args.command, set_webhook=set_webhook)
    if args.command == "sandbox":
        from sandbox.server import serve

        secret = args.secret_key
        if secret is None:
            key = settings.skiplino_api_key
            secret = key.get_secret_value() if key is not None else "sk_test_sandbox"
        admin_key = args.admin_key
        if admin_key is None and settings.sandbox_admin_key is not None:
            admin_key = settings.sandbox_admin_key.get_secret_value() or None
        return serve(
            args, secret_key=secret, timezone=settings.skiplino_timezone, admin_key=admin_key
        )
    if args.command == "console":
        from bot.console import run_console

        return run_console(settings, locale=args.locale)
    return 2  # pragma: no cover - argparse rejects unknown commands
