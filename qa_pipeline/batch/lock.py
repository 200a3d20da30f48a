"""One run per database: an exclusive flock on ``<db>.lock``, held for the whole run and freed by the kernel
when the run dies (even under kill -9)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from qa_pipeline.errors import LockedError


class RunLock:
    """An exclusive flock on <db>.lock. Held for the whole run; freed by the kernel if we die."""

    def __init__(self, db_path: str | Path):
        self.path = Path(str(db_path) + ".lock")
        self._fh: Any = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise LockedError(
                f"another qa nightly is already running on {str(self.path)[:-5]} ({holder}); "
                "wait for it to finish or stop it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
