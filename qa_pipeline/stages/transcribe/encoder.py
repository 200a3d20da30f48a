"""The encoder as faster-whisper's batched pipeline sees it (one window at a time on a CPU), and language
detection that reuses the probe's encoding."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from qa_pipeline.config import TranscribeOptions
from qa_pipeline.stages.transcribe.windows import Window, window_features


class WindowEncoder:
    """The WhisperModel as faster-whisper's batched pipeline sees it, with the encoder and the word alignment
    run our way.

    On a CPU, CTranslate2's encoder and its word alignment cost more per window in a batch than alone (base,
    int8, 2 threads: encoder 0.72-0.76 s a window in a batch of 8, 0.63-0.67 s alone, scripts/bench_encoder.py;
    aligning the real call's first batch of 8 windows 1.8 s, one by one 1.0 s), so on a CPU only the beam
    search is batched. A window that language detection encoded is not encoded again when it is decoded.
    """

    def __init__(self, model) -> None:
        self._model = model
        self._kept: dict[bytes, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @property
    def _one_by_one(self) -> bool:
        return self._model.model.device == "cpu"  # a GPU encodes a batch faster than its windows in turn

    def adopt(self, other: WindowEncoder) -> None:
        """Take the kept encodings of another call's encoder of the same model: the windows of several calls
        decode through one encoder, and each call's language probe is still encoded only once."""
        if other is not self:
            self._kept.update(other._kept)
            other._kept.clear()

    def encode_and_keep(self, features: np.ndarray):
        """Encode one window's features and keep the output for when that window is decoded."""
        output = self._model.encode(features)
        if self._one_by_one:
            self._kept[hashlib.sha1(features.tobytes()).digest()] = np.asarray(output)[0]
        return output

    def encode(self, features: np.ndarray):
        import ctranslate2

        if not self._one_by_one:
            return self._model.encode(features)
        rows = []
        for row in features.reshape(-1, *features.shape[-2:]):
            # Only the language probe's window is ever kept: no need to hash every window of every call.
            kept = self._kept.pop(hashlib.sha1(row.tobytes()).digest(), None) if self._kept else None
            rows.append(kept if kept is not None else np.asarray(self._model.encode(row))[0])
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(rows)))

    def find_alignment(self, tokenizer, text_tokens: list[list[int]], encoder_output, num_frames, median_filter_width: int = 7):
        import ctranslate2

        if not self._one_by_one:
            return self._model.find_alignment(tokenizer, text_tokens, encoder_output, num_frames, median_filter_width)
        rows = np.asarray(encoder_output)
        alignments = []
        for i, tokens in enumerate(text_tokens):
            if not tokens:
                alignments.append([])  # what faster-whisper gives a row with no text
                continue
            row = ctranslate2.StorageView.from_array(np.ascontiguousarray(rows[i : i + 1]))
            frames = num_frames[i] if isinstance(num_frames, list) else num_frames
            alignments += self._model.find_alignment(tokenizer, [tokens], row, [frames], median_filter_width)
        return alignments

    def add_word_timestamps(self, *args: Any, **kwargs: Any) -> float:
        from faster_whisper import WhisperModel

        # faster-whisper's own code, run with this object as ``self`` so that it aligns through find_alignment above
        return WhisperModel.add_word_timestamps(self, *args, **kwargs)  # type: ignore[arg-type]


def detect_language(encoder: WindowEncoder, chunks: list[Window], opts: TranscribeOptions) -> tuple[str, float]:
    """Language probabilities, restricted to opts.languages, over the first chunk of each channel.

    Each probe costs an encoder pass, which the decoding of that window reuses; the second channel is
    heard only when the first leaves doubt (below ``language_confidence``).
    """
    scores: dict[str, float] = {}
    seen: set[int] = set()

    def pool() -> dict[str, float]:
        allowed = {k: v for k, v in scores.items() if not opts.languages or k in opts.languages}
        return allowed or scores

    def best(candidates: dict[str, float]) -> tuple[str, float]:
        lang = max(candidates, key=candidates.get)
        return lang, candidates[lang] / (sum(candidates.values()) or 1.0)

    for chunk in chunks:
        if chunk.channel in seen:
            continue
        seen.add(chunk.channel)
        encoder_output = encoder.encode_and_keep(window_features(encoder, chunk))
        probs = [(token[2:-2], p) for token, p in encoder.model.detect_language(encoder_output)[0]]
        weight = chunk.metadata["duration"]
        for lang, p in probs:
            scores[lang] = scores.get(lang, 0.0) + p * weight
        if pool() and best(pool())[1] >= opts.language_confidence:
            break
    if not pool():
        return (opts.languages[0] if opts.languages else "en"), 0.0
    return best(pool())
