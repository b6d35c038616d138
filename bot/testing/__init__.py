"""Own the stand-ins the console demo, the tests and the benchmarks run the real bot against.

A fake Telegram Bot API with scripted users (`fake_api`), an in-process chat store
(`memory_store`), and a whole bot wired to them and to the sandbox (`stack`), in the spirit of
aiogram-dialog's ``test_tools``. Nothing in the product's runtime path imports this package.
"""
