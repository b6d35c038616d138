"""skiplino-bot: a Telegram bot for Skiplino queue tickets and appointments."""

__version__ = "0.1.0"
