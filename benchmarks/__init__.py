"""Own the benchmarks: scripts that drive the real stack and print figures (never timed tests).

Run from the repository root, e.g. ``python -m benchmarks.bench_updates``. Must not be
imported by product code or tests.
"""

import os

# python-telegram-bot 22 warns on every RetryAfter unless timedelta mode is chosen; set it
# before any benchmark module imports telegram, as tests/conftest.py does for the tests.
os.environ.setdefault("PTB_TIMEDELTA", "1")
