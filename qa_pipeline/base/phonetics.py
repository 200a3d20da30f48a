"""Sound keys of words: toneless, folded pinyin for Mandarin (so homophones and the sounds Whisper confuses
match), Metaphone for English. Computed on runs of characters in context (polyphones resolved), cached."""

from __future__ import annotations

import re
from functools import lru_cache

_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def unretroflex(syllable: str) -> str:
    """zh/ch/sh -> z/c/s: the merger most Mandarin speakers (and Whisper's spellings of them) make."""
    return re.sub(r"^([zcs])h", r"\1", syllable)


# Aspiration of stops: Whisper base on 8 kHz phone audio hears an unaspirated stop as its aspirated twin
# and back (带来 dai lai as 太来 tai lai, 把你们 ba ni men as 怕你们 pa ni men in the sample calls): the burst
# that tells them apart is faint at that bandwidth. Folding p/b, t/d, k/g is OFF: on the sample calls it
# recovers nothing the other folds miss, and over 120k characters of random dictionary words
# (pypinyin's phrase list, scripts/rules_false_alarms.py) it adds banned/escalation hits (2 more, 真见鬼 ~
# 阵减亏 as a homophone; 7 more before 3-syllable near matches were dropped). The affricates (c/z, q/j) are worse still: on top of the retroflex fold, 次 (ci) and
# 找 (zhao) end one letter apart and "上次你们经理说…" reads as a supervisor request.
ASPIRATION_FOLD = False


_ASPIRATED = {"p": "b", "t": "d", "k": "g"}


def fold_pinyin(syllable: str, aspiration: bool | None = None) -> str:
    """Merge the sounds that Mandarin speakers and Whisper confuse most: retroflex (z/zh, c/ch, s/sh),
    n/l and front/back nasals (-n/-ng); with ``aspiration`` also p/b, t/d, k/g. Tones are dropped before."""
    s = unretroflex(syllable)
    if s.startswith("l"):
        s = "n" + s[1:]
    if (ASPIRATION_FOLD if aspiration is None else aspiration) and s[:1] in _ASPIRATED:
        s = _ASPIRATED[s[0]] + s[1:]
    return re.sub(r"(?<=[aei])ng$", "n", s)


@lru_cache(maxsize=200000)
def metaphone(word: str) -> str:
    import jellyfish

    return jellyfish.metaphone(word) or word


def sound_letters(keys: list[str]) -> str:
    return "".join(metaphone(k) + " " for k in keys)


@lru_cache(maxsize=200000)
def pinyin_syllables(chars: str) -> tuple[str, ...]:
    """Toneless pinyin, one syllable per character of ``chars`` (Chinese characters), unfolded."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(chars, style=Style.NORMAL)  # in context: polyphones (行 hang/xing) resolved
    if len(syllables) != len(chars):
        syllables = [lazy_pinyin(c, style=Style.NORMAL)[0] for c in chars]
    return tuple(syllables)


@lru_cache(maxsize=200000)
def folded_pinyin(chars: str) -> tuple[str, ...]:
    return tuple(fold_pinyin(s) for s in pinyin_syllables(chars))


def token_keys(tokens: list[str]) -> list[str]:
    """Sound keys: pinyin of Chinese characters (computed on runs, in context), words otherwise."""
    keys = list(tokens)
    run: list[int] = []
    for i in range(len(tokens) + 1):
        if i < len(tokens) and _CJK_CHAR.fullmatch(tokens[i]):
            run.append(i)
            continue
        if run:
            for j, key in zip(run, folded_pinyin("".join(tokens[k] for k in run))):
                keys[j] = key
            run = []
    return keys
