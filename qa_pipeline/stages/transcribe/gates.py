"""Hallucination gates: which decoded text is not speech (silence, hold music, loops, subtitle credits)."""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Iterator

import numpy as np

from qa_pipeline.base.textnorm import normalize_display
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.contracts import Segment, Word

# Phrases Whisper is known to produce on silence/music (subtitle credits etc.).
_HALLUCINATIONS = re.compile(
    r"(thank(s| you) for watching|subscribe|字幕|请不吝点赞|订阅|打赏|明镜|amara\.org|"
    r"ご視聴|www\.|\.com/|優優獨播|中文字幕)",
    re.IGNORECASE,
)


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


# Digits repeat in real speech (a phone number 138 8888 8888, 「八八八八」): a run of digits is not a loop.
_DIGIT_TOKEN = re.compile(r"[\d零〇一二三四五六七八九十幺两]+")


def _is_digits(gram: tuple[str, ...]) -> bool:
    return all(_DIGIT_TOKEN.fullmatch(t) for t in gram)


def _repeat_runs(tokens: list[str], max_n: int = 4) -> Iterator[tuple[int, int, int]]:
    """(first token, end token, repeats so far) at every step of every run of one n-gram repeated back to back
    (n = 1..max_n), digits aside."""
    for n in range(1, max_n + 1):
        for offset in range(n):
            run_start, prev = offset, None
            for i in range(offset, len(tokens) - n + 1, n):
                gram = tuple(tokens[i : i + n])
                if gram != prev or _is_digits(gram):
                    run_start, prev = i, gram
                yield run_start, i + n, (i - run_start) // n + 1


def _max_ngram_repeats(tokens: list[str], max_n: int = 4) -> int:
    """Longest run of one n-gram repeated back to back (n = 1..max_n), digits aside."""
    return max((repeats for _, _, repeats in _repeat_runs(tokens, max_n)), default=1)


def _tokens_for_repeats(text: str) -> list[str]:
    return re.findall(r"[\u3400-\u9fff]|[\w']+", text.lower())


def looping_words(words: list[Word], min_repeats: int, max_n: int = 4) -> set[int]:
    """Indices of the words inside a loop: one n-gram of tokens (n = 1..max_n) repeated back to back at least
    ``min_repeats`` times. Found over the whole decoded window, because the turn splitter cuts a loop
    ("泥河。泥河。泥河。…") into short turns that each look innocent."""
    tokens: list[str] = []
    owner: list[int] = []
    for i, w in enumerate(words):
        for tok in _tokens_for_repeats(w.text):
            tokens.append(tok)
            owner.append(i)
    looped: set[int] = set()
    for first, end, repeats in _repeat_runs(tokens, max_n):
        if repeats >= min_repeats:
            looped.update(owner[k] for k in range(first, end))
    return looped


def gate(seg: Segment, compression_ratio: float, opts: TranscribeOptions) -> str | None:
    """Why this segment is not speech, or None to keep it."""
    text = seg.raw_text.strip()
    if not text or not re.search(r"\w", text):
        return "empty"
    if seg.no_speech_prob > opts.no_speech_threshold and seg.avg_logprob < opts.logprob_threshold:
        return "no_speech"
    if seg.avg_logprob < opts.hard_logprob_threshold:
        return "low_logprob"
    if compression_ratio > opts.compression_ratio_threshold:
        return "compression_ratio"
    if _max_ngram_repeats(_tokens_for_repeats(text)) >= opts.max_ngram_repeats:
        return "repeated_ngram"
    if seg.words:
        mean_prob = float(np.mean([w.prob for w in seg.words]))
        if mean_prob < opts.min_word_prob:
            return "low_word_prob"
    if _HALLUCINATIONS.search(text) and (seg.avg_logprob < -0.5 or seg.no_speech_prob > 0.3):
        return "known_hallucination"
    return None


_SENTENCE_END = ("." , "?", "!", "。", "？", "！")


def split_segment(seg: Segment, opts: TranscribeOptions) -> list[Segment]:
    """Cut a decoded chunk (up to 30 s, several turns) into readable turns.

    ``seg.words`` carry Whisper's raw word strings (with their leading spaces);
    the returned segments carry normalised word text. A new turn starts at a
    pause of ``turn_gap`` seconds, or after a sentence end followed by a short
    pause; long turns are cut at sentence ends.
    """
    groups: list[list[Word]] = [[]]
    for i, word in enumerate(seg.words):
        if i:
            prev = seg.words[i - 1]
            gap = word.start - prev.end
            sentence_end = prev.text.strip().endswith(_SENTENCE_END)
            length = prev.end - groups[-1][0].start
            if gap >= opts.turn_gap or (sentence_end and (gap >= 0.3 or length >= opts.max_turn_seconds)):
                groups.append([])
        groups[-1].append(word)
    if not seg.words:
        return [seg]
    out = []
    for g in groups:
        raw = "".join(w.text for w in g).strip()
        words = [dataclasses.replace(w, text=normalize_display(w.text)) for w in g]
        out.append(dataclasses.replace(
            seg, start=g[0].start, end=g[-1].end, text=normalize_display(raw), raw_text=raw, words=words
        ))
    return out
