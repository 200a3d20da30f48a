"""Mandarin digits read by their sound: what Whisper wrote when it misheard a number read out.

Whisper (base) often writes a read-out number as other characters with the same or a nearly
the same sound: 幺九九七 -> 要求求起 (yao qiu qiu qi), 八 -> 爬 (pa), 四 -> 是/十 (shi). This module
says which characters *sound like* a digit; ``qa_pipeline.stages.pii.detect`` decides which stretches of them
are a number (only long runs that pass a check digit or a strict shape, see ``sound_findings``).

Which sounds are folded together, and why (each fold makes more ordinary characters read as digits,
so only folds seen in Whisper's output on read-out numbers, and that cannot be avoided, are made):

* tones: dropped. Whisper picks the character from context, not from the tone (要 yào for 幺 yāo).
* retroflex zh/ch/sh -> z/c/s (shared with the phrase matcher's fold): 四 si is written 是/十 (shi)
  and 三 san 山 (shan); most speakers merge these, and the synthetic voices do too.
* aspiration: p/b, q/j (and t/d, k/g, c/z, which change no digit syllable, for completeness):
  八 ba was written 爬 (pa), 九 jiu 求 (qiu), 七 qi is heard as 几/机 (ji) and the reverse. These pairs
  differ only in a puff of air that telephone audio and synthetic voices blur.
* NOT n/l and NOT -n/-ng, although the phrase matcher folds them: 零 ling would then be 您/年/林
  (nin, nian, lin) and 六 liu 牛 (niu); 您 and 年 are among the most frequent characters of call-centre
  speech, and no read-out number in our recordings came back with that confusion.
* NOT x/j/q (xi for qi) and NOT c/s or z/s (can for san): too many common characters, not seen often
  enough to be worth it.

两 liang is 2 (as a written 两 already is, inside a run).
"""

from __future__ import annotations

import re

from qa_pipeline.base.phonetics import pinyin_syllables, unretroflex

_ASPIRATED = {"p": "b", "t": "d", "k": "g", "q": "j", "c": "z"}
DIGIT_SYLLABLES = {"ling": "0", "yi": "1", "yao": "1", "er": "2", "liang": "2", "san": "3", "si": "4", "wu": "5",
                   "liu": "6", "qi": "7", "ba": "8", "jiu": "9"}
_CJK = re.compile(r"[\u3400-\u9fff]")


def digit_key(syllable: str) -> str:
    """A toneless pinyin syllable with retroflex and aspiration folded (shi -> si, qiu -> jiu, pa -> ba)."""
    s = unretroflex(syllable.lower())
    return _ASPIRATED.get(s[:1], s[:1]) + s[1:] if s else s


_BY_KEY = {digit_key(s): d for s, d in DIGIT_SYLLABLES.items()}


def sound_digit(syllable: str) -> str | None:
    """The digit a pinyin syllable sounds like, or None."""
    return _BY_KEY.get(digit_key(syllable))


def sound_digits(chars: str) -> list[str | None]:
    """For each character of ``chars`` (Chinese characters, read together for polyphones): its digit by sound."""
    if not chars or not all(_CJK.fullmatch(c) for c in chars):
        return [None] * len(chars)
    return [sound_digit(s) for s in pinyin_syllables(chars)]


def is_cjk(text: str) -> bool:
    return bool(_CJK.fullmatch(text))
