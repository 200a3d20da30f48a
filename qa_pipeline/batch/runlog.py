"""The run log: one JSON line per event of a nightly run (start, each call done or failed, the summary), in
``qa_logs/`` beside the database unless told otherwise, so that cron's mail and the QA lead can see what a
night did after the fact."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class RunLog:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"nightly-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.jsonl"
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held for the whole run
        self._lock = threading.Lock()  # alerts are logged from their delivery threads

    def event(self, name: str, data: dict[str, Any]) -> None:
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": name, **data}
        with self._lock:
            self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def default_log_dir(db_path: str | Path) -> Path:
    return Path(db_path).resolve().parent / "qa_logs"
