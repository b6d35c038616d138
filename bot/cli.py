"""Own the command line: ``skiplino-bot run | webhook | sandbox | console``.

Imports of the heavy pieces happen inside each command so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.settings import SettingsError, load_settings


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

    console = sub.add_parser(
        "console",
        help="chat with the bot in the terminal (embedded sandbox; no token, no network)",
        description="Chat with the bot in the terminal against the embedded sandbox. "
        "Type a button's number to tap it; lines are read from stdin when it is not a "
        "terminal. Sessions stay in memory unless REDIS_URL is set.",
    )
    console.add_argument("--locale", default=None, help="start in this language (en, ar)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parser().parse_args(argv)
    # The console is a chat on stdout: only warnings and errors, on stderr.
    level = logging.WARNING if args.command == "console" else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"skiplino-bot: {exc}", file=sys.stderr)
        return 2

    if args.command == "run":
        missing = settings.missing_for_run()
        if missing:
            print(f"skiplino-bot: missing required setting {missing[0]}", file=sys.stderr)
            return 2
        from bot.app import run_polling

        run_polling(settings)
        return 0
    if args.command == "webhook":
        missing = settings.missing_for_webhook(set_webhook=args.set_webhook)
        if missing:
            print(f"skiplino-bot: missing required setting {missing[0]}", file=sys.stderr)
            return 2
        from bot.app import run_webhook

        run_webhook(settings, set_webhook=args.set_webhook)
        return 0
    if args.command == "sandbox":
        from sandbox.server import serve

        secret = args.secret_key
        if secret is None:
            key = settings.skiplino_api_key
            secret = key.get_secret_value() if key is not None else "sk_test_sandbox"
        return serve(args, secret_key=secret, timezone=settings.skiplino_timezone)
    if args.command == "console":
        from bot.console import run_console

        return run_console(settings, locale=args.locale)
    return 2  # pragma: no cover - argparse rejects unknown commands
