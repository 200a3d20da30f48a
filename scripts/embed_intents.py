"""Write qa_pipeline/defaults/rules/<lang>/intents.npz: the e5 embeddings of every example sentence of the
packaged packs, so that no process pays ~25 ms an example at start-up (stages/rules/intents.py reads them and
embeds only what is missing); and defaults/rules/intent_models/: the packaged packs' fitted classifiers (a fit
and sklearn's import cost ~10 s a process). Run after editing the packaged intents.yaml, banned.yaml,
escalation.yaml or script.yaml (a unit test fails until you do):

    .venv/bin/python scripts/embed_intents.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_pipeline.base.e5 import embed  # noqa: E402
from qa_pipeline.stages.rules import intents  # noqa: E402
from qa_pipeline.stages.rules.intents import (  # noqa: E402
    PACKAGED_MODELS,
    agent_index,
    caller_index,
    classifier_digest,
    save_classifier,
    text_key,
    write_npz,
)
from qa_pipeline.stages.rules.pack import DEFAULTS_DIR, load_rule_pack  # noqa: E402


def main() -> None:
    for old in PACKAGED_MODELS.glob("*.npz"):
        old.unlink()
    for language in ("zh", "en"):
        pack = load_rule_pack(None, language)
        texts = sorted({*agent_index(pack).texts, *caller_index(pack).texts})
        vectors = dict(zip((text_key(t) for t in texts), embed(texts, threads=2)))
        path = DEFAULTS_DIR / language / "intents.npz"
        write_npz(path, vectors)
        print(f"{path}: {len(vectors)} examples")
        # The indexes built above hold the vectors read before this write (or a cache dir's): drop them so the
        # classifiers are fitted on, and named by, the vectors just shipped, which is what a fresh process reads.
        intents._indexes.clear()
        for index in (agent_index(pack), caller_index(pack)):  # now from the file just written
            if index.model is not None:
                model_path = PACKAGED_MODELS / f"{classifier_digest(index.vectors, index.labels)}.npz"
                save_classifier(index.model, model_path)
                print(f"{model_path}: {len(index.model.classes_)} classes")


if __name__ == "__main__":
    main()
