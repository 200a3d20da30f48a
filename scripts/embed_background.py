"""Write qa_pipeline/defaults/rules/<lang>/background.npz: e5 embeddings (int8, scale 127) of ordinary everyday
sentences, which the agent's intent classifier learns as neutral talk (stages/rules/intents.py).

The sentences are the background part of Tatoeba as the hsg package ships it (eval/corpora.py: a part chosen by
sentence id, apart from the dev and test parts that `qa eval false-alarms` scores). Only vectors are written, no
text. Tatoeba's sentences are CC BY 2.0 FR (https://tatoeba.org). Needs the dev extras (hsg):

    .venv/bin/python scripts/embed_background.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_pipeline.base.e5 import embed  # noqa: E402
from qa_pipeline.eval.corpora import BACKGROUND  # noqa: E402
from qa_pipeline.stages.rules.pack import DEFAULTS_DIR  # noqa: E402

SENTENCES = 4000  # per language: ~1.5 MB each; more buys little (measured on the dev part, see docs/evaluation.md)


def main() -> None:
    for language in ("zh", "en"):
        sentences = sorted(set(BACKGROUND[language]()))
        random.Random(0).shuffle(sentences)
        vectors = embed(sentences[:SENTENCES], threads=2)
        path = DEFAULTS_DIR / language / "background.npz"
        np.savez_compressed(path, vectors=np.clip(np.round(vectors * 127), -127, 127).astype(np.int8))
        print(f"{path}: {len(vectors)} sentences")


if __name__ == "__main__":
    main()
