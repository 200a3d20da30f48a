"""E-mail addresses, written or spoken ("john dot smith at example dot com"), with or without the "at" that
ASR sometimes loses."""

from __future__ import annotations

import re
from typing import Any

from qa_pipeline.contracts import Transcript, Word
from qa_pipeline.stages.pii.units import word_spans


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


_DOT = r"(?:\s*\.\s*|\s+dot\s+|\s*点\s*)"


_AT = r"(?:\s*@\s*|\s+at\s+|\s*艾特\s*)"


_TLD = r"(?:com|net|org|edu|gov|cn|io|co|uk|us|de|info|biz|me)"


_EMAIL = re.compile(
    rf"(?<![\w.@])([a-z0-9][a-z0-9_%+\-]*(?:{_DOT}[a-z0-9_%+\-]+)*){_AT}([a-z0-9\-]+(?:{_DOT}[a-z0-9\-]+)*{_DOT}{_TLD})\b",
    re.IGNORECASE,
)


# Whisper often loses the spoken "at" ("mark dot jones at example dot com" -> "mark.johns.ample.com"). Such an
# address is still taken, but only right after words that announce one, and only with at least three dotted
# parts ending in a known top-level domain: a name, a domain and the TLD. Where the "@" was is a guess (before
# the domain), so the canonical form is approximate; the finding says so.
_EMAIL_CUE = r"(?:e-?mail(?:\s+address)?(?:\s+is|\s+me\s+at|\s+me|\s+at|\s+to)|send\s+it\s+to|write\s+to\s+me\s+at|reach\s+me\s+at)"


_EMAIL_NO_AT = re.compile(
    rf"\b{_EMAIL_CUE}\s+([a-z0-9][a-z0-9_%+\-]*(?:{_DOT}[a-z0-9_%+\-]+)+{_DOT}{_TLD})\b(?!\s*(?:@|\bat\b))",
    re.IGNORECASE,
)


_SECOND_LEVEL = {"co", "com", "net", "org", "gov", "edu", "ac"}


_PRONOUNS = {"me", "us", "him", "her", "them", "you", "it"}


def _canonical_email(local: str, domain: str) -> str:
    def fix(part: str) -> str:
        return re.sub(_DOT, ".", part.strip(), flags=re.IGNORECASE).replace(" ", "").lower()

    return f"{fix(local)}@{fix(domain)}"


def emails(transcript: Transcript, speaker: str) -> list[tuple[Any, ...]]:
    """(address, word refs, start, end[, "no_at"]) of e-mail addresses said by ``speaker``."""
    text = ""
    owners: list[tuple[int, int, int, int, float, float]] = []  # per char of ``text``
    for si, seg in enumerate(transcript.segments):
        if seg.speaker != speaker:
            continue
        words = seg.words or [Word(seg.start, seg.end, seg.text, 1.0)]
        for wi, w in enumerate(words):
            if text:
                text += " "
                owners.append(owners[-1])
            for ci, _ in enumerate(w.text):
                owners.append((si, wi if seg.words else -1, ci, ci + 1, w.start, w.end))
            text += w.text
    found = []
    pos = 0
    while m := _EMAIL.search(text, pos):
        pos = m.end()
        if m.group(1).lower() in _PRONOUNS:
            # "email me at mark dot jones at example dot com": the address starts after "me at".
            pos = m.start(1) + len(m.group(1))
            continue
        chars = owners[m.start() : m.end()]
        spans = word_spans(c[:4] for c in chars)
        found.append((_canonical_email(m.group(1), m.group(2)), spans, chars[0][4], chars[-1][5]))
    taken = [(a, b) for _, _, a, b in found]
    for m in _EMAIL_NO_AT.finditer(text):
        chars = owners[m.start(1) : m.end(1)]
        if any(a < chars[-1][5] and b > chars[0][4] for a, b in taken):
            continue
        spans = word_spans(c[:4] for c in chars)
        labels = re.split(_DOT, m.group(1), flags=re.IGNORECASE)
        n_domain = 3 if labels[-2].lower() in _SECOND_LEVEL else 2  # example.co.uk is a domain, not a name
        if len(labels) <= n_domain:
            continue  # a bare domain ("send it to example.co.uk"): no name in it
        address = _canonical_email(".".join(labels[:-n_domain]), ".".join(labels[-n_domain:]))
        found.append((address, spans, chars[0][4], chars[-1][5], "no_at"))  # type: ignore[arg-type]
    return found
