"""The store's clock: every timestamp the store writes or compares against comes from here.

One module, so that a test (or a replay) sets the time for the whole store at once, and so that the modules
that db.py imports for their schemas can read the clock without importing db (an import cycle).
"""

from __future__ import annotations

import time


def now() -> str:
    """Local time, to the second, in the ISO form the store's columns hold."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")
