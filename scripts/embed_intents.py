"""Write qa_pipeline/defaults/rules/<lang>/intents.npz: the e5 embeddings of every example sentence of the
packaged packs, so that no process pays ~25 ms an example at start-up (stages/rules/intents.py reads them and
embeds only what is missing). Run after editing the packaged intents.yaml or script.yaml:

    .venv/bin/python scripts/embed_intents.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_pipeline.base.e5 import embed  # noqa: E402
from qa_pipeline.stages.rules.intents import agent_index, caller_index, text_key, write_npz  # noqa: E402
from qa_pipeline.stages.rules.pack import DEFAULTS_DIR, load_rule_pack  # noqa: E402


def main() -> None:
    for language in ("zh", "en"):
        pack = load_rule_pack(None, language)
        texts = sorted({*agent_index(pack).texts, *caller_index(pack).texts})
        vectors = dict(zip((text_key(t) for t in texts), embed(texts, threads=2)))
        path = DEFAULTS_DIR / language / "intents.npz"
        write_npz(path, vectors)
        print(f"{path}: {len(vectors)} examples")


if __name__ == "__main__":
    main()
