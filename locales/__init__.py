"""Own the translation catalogs (gettext ``.po`` per language) and per-language text data.

A package only so that the catalogs ship inside the wheel as package data and are found
with ``importlib.resources`` wherever the bot is installed.
"""
