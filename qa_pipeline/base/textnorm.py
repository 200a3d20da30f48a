"""Text normalisation shared by ASR output, rule matching and evaluation.

Mandarin output of Whisper comes in Traditional or Simplified characters at random;
everything downstream sees Simplified (OpenCC t2s), half-width characters and, for
matching/evaluation, no punctuation and digits spelled digit by digit.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DIGIT_ZH = dict(zip("0123456789", "零一二三四五六七八九"))


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text) if _CJK.search(text) else text


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def half_width(text: str) -> str:
    """Full-width ASCII (ＡＢＣ１２３，) to half-width; NFKC does exactly this."""
    return unicodedata.normalize("NFKC", text)


def strip_punctuation(text: str) -> str:
    return "".join(
        ch if not unicodedata.category(ch).startswith(("P", "S")) else " " for ch in text
    )


def digits_to_zh(text: str) -> str:
    """12线 -> 一二线: spoken digit strings and written ones compare equal."""
    return "".join(_DIGIT_ZH.get(ch, ch) for ch in text)


def normalize_display(text: str) -> str:
    """What a transcript segment shows: Simplified, half-width, trimmed."""
    return to_simplified(half_width(text)).strip()


def normalize_for_match(text: str) -> str:
    """Canonical form for matching and CER/WER: Simplified, half-width, lower case,
    no punctuation, Chinese digits, single spaces, no spaces between CJK characters."""
    text = to_simplified(half_width(text)).lower()
    text = strip_punctuation(text)
    if has_cjk(text):
        text = digits_to_zh(text)
        text = re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text)
    return re.sub(r"\s+", " ", text).strip()


def join_texts(texts: list[str], language: str) -> str:
    """Words back into text: Mandarin characters run together (a space only between two non-CJK words),
    other languages take a space between words."""
    if language == "zh" or any(has_cjk(x) for x in texts):
        text = ""
        for piece in texts:
            sep = " " if text and not has_cjk(text[-1]) and not has_cjk(piece[:1]) else ""
            text += sep + piece
        return text.strip()
    return " ".join(x.strip() for x in texts if x.strip())
