"""Redaction: personal data masked in the transcript's text and covered in the audio (tone or silence)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from qa_pipeline.base.audio import Audio
from qa_pipeline.base.textnorm import join_texts
from qa_pipeline.config import PrivacyConfig
from qa_pipeline.contracts import Finding, Segment, Transcript, Word
from qa_pipeline.stages.pii.checks import PLACEHOLDER, RULE_VERSION
from qa_pipeline.stages.pii.detect import masked_numbers


def redact_transcript(transcript: Transcript, findings: list[Finding], opts: PrivacyConfig | None = None) -> Transcript:
    """The transcript with every finding's characters replaced by a placeholder ([PHONE], [CARD]…), and every
    other long number by [NUMBER] (an order or reference number is no finding, but is not shown either)."""
    numbers = [g for g in masked_numbers(transcript, None, opts)
               if g.details.type == "digits" and not any(f.start < g.end and g.start < f.end for f in findings)]
    # (segment, word) -> list of (char start, char end, placeholder or "" for continuation)
    edits: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
    for f in [*findings, *numbers]:
        if f.kind != "pii":
            continue
        label = PLACEHOLDER.get(f.details.type, "[REDACTED]")
        seen_segments: set[int] = set()
        for si, wi, a, b in sorted(f.details.spans):
            first = si not in seen_segments
            seen_segments.add(si)
            edits.setdefault((si, wi), []).append((a, b, label if first else ""))
    segments: list[Segment] = []
    for si, seg in enumerate(transcript.segments):
        if not any(k[0] == si for k in edits):
            segments.append(seg)
            continue
        if not seg.words:
            text = _apply(seg.text, edits.get((si, -1), []))
            segments.append(dataclasses.replace(seg, text=text, raw_text=text))
            continue
        words: list[Word] = []
        for wi, w in enumerate(seg.words):
            if (si, wi) not in edits:
                words.append(w)
                continue
            text = _apply(w.text, edits[(si, wi)]).strip()
            if re.fullmatch(r"[\s\-.,，。、()+/]*", text):
                if words:  # a continuation word: the placeholder before it now covers its time
                    words[-1] = dataclasses.replace(words[-1], end=w.end)
                continue
            words.append(dataclasses.replace(w, text=text))
        zh = transcript.language == "zh"
        text = join_texts([w.text for w in words], "zh" if zh else "en")
        segments.append(dataclasses.replace(seg, text=text, raw_text=text, words=words))
    settings = {**transcript.settings, "redacted": RULE_VERSION}
    return dataclasses.replace(transcript, segments=segments, settings=settings)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for a, b, label in sorted(edits, reverse=True):
        text = text[:a] + label + text[b:]
    return text


def redact_audio(audio: Audio, findings: list[Finding], mode: str = "tone", pad: float = 0.15) -> list[np.ndarray]:
    """Copies of the channels with a 1 kHz tone (or silence) over every finding's words.

    Stereo: only the speaker's own channel ([agent, caller]); mono: the one channel.
    """
    if mode not in ("tone", "silence"):
        raise ValueError(f"redaction mode must be 'tone' or 'silence', not {mode!r}")
    channels = [c.copy() for c in audio.channels]
    rate = audio.rate
    for f in findings:
        if f.kind != "pii":
            continue
        if len(channels) == 1:
            ch = 0
        elif f.speaker in ("agent", "caller"):
            ch = 0 if f.speaker == "agent" else 1
        else:
            ch = None  # unknown speaker on a stereo call: cover both channels
        a = max(0, int((f.start - pad) * rate))
        for c in ([ch] if ch is not None else range(len(channels))):
            b = min(len(channels[c]), int((f.end + pad) * rate))
            if b <= a:
                continue
            if mode == "silence":
                channels[c][a:b] = 0.0
            else:
                t = np.arange(b - a) / rate
                tone = 0.1 * np.sin(2 * np.pi * 1000.0 * t)
                ramp = min(len(tone) // 2, int(0.01 * rate))  # 10 ms fades: no clicks
                if ramp:
                    tone[:ramp] *= np.linspace(0, 1, ramp)
                    tone[-ramp:] *= np.linspace(1, 0, ramp)
                channels[c][a:b] = tone.astype(channels[c].dtype)
    return channels
