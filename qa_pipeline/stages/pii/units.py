"""Each speaker's words as units (a digit, written or spoken, a separator, or anything else) and the runs of
digits they form: people read numbers out in pieces, across segment boundaries and with fillers between."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa_pipeline.config import PrivacyConfig
from qa_pipeline.contracts import Transcript, Word

_EN_DIGIT = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
             "six": "6", "seven": "7", "eight": "8", "nine": "9"}


_EN_WEAK_ZERO = {"oh", "o"}  # zero only between other digits ("five oh two"), an interjection otherwise


_EN_TEEN = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
            "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}


_EN_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
            "eighty": "8", "ninety": "9"}


_EN_REPEAT = {"double": 2, "triple": 3}


_ZH_DIGIT = {"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4",
             "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}


_ZH_WEAK = {"两": "2"}  # 两 is "two (of)" in ordinary speech; a digit only inside a run


_ZH_TIMES = "个"  # 「六个八」 is 888888 (as "triple eight" is 888); 「三个月」 stays three months


SEPARATORS = {"-", "(", ")", "+", "/", "dash", "hyphen", "uh", "um", "er", "ah", "hmm", "嗯", "呃", "啊", "杠"}


SOFT_STOPS = {",", ".", "，", "。", "、", ":", "："}  # pauses in a read-out number: separators


NOT_PII_AFTER = {"dollars", "dollar", "bucks", "percent", "%", "yuan", "元", "块", "万", "miles", "公里", "岁"}


_TOKEN = re.compile(r"[A-Za-z]+|\d|[\u3400-\u9fff]|\S")


@dataclass
class Unit:
    kind: str  # digit | weak | sep | other
    value: str  # digits for digit/weak units
    ref: tuple[int, int, int, int]  # (segment, word or -1, char start, char end)
    start: float
    end: float
    text: str


def word_units(text: str, ref: tuple[int, int], start: float, end: float) -> list[Unit]:
    units: list[Unit] = []
    tokens = list(_TOKEN.finditer(text))
    for i, m in enumerate(tokens):
        tok, low = m.group(), m.group().lower()
        pos = (ref[0], ref[1], m.start(), m.end())

        def add(kind: str, value: str = "", pos: tuple[int, int, int, int] = pos, tok: str = tok) -> None:
            units.append(Unit(kind, value, pos, start, end, tok))

        if tok.isdigit():
            add("digit", tok)
        elif low in _EN_DIGIT:
            add("digit", _EN_DIGIT[low])
        elif low in _EN_WEAK_ZERO:
            add("weak", "0")
        elif low in _EN_REPEAT:
            add("rep", str(_EN_REPEAT[low]))
        elif low in _EN_TEEN:
            add("digit", _EN_TEEN[low])
        elif low in _EN_TENS:
            add("digit", _EN_TENS[low] + "0")  # "twenty three" is fixed up to 23 below
        elif tok in _ZH_DIGIT:
            add("digit", _ZH_DIGIT[tok])
        elif tok in _ZH_WEAK:
            add("weak", _ZH_WEAK[tok])
        elif tok == _ZH_TIMES:
            add("times")
        elif low == "x" or tok == "叉":
            add("x", "X")  # the check character of a Chinese ID
        elif low in SEPARATORS:
            add("sep")
        elif tok in SOFT_STOPS:
            # "1,250" and "4.5" are one number; a comma or full stop *between words* is a pause.
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            add("other" if nxt is not None and nxt.start() == m.end() and nxt.group().isdigit() else "sep")
        else:
            add("other")
    return units


def combine_units(units: list[Unit]) -> None:
    """Across words: "double five" -> 55, "twenty three" -> 23, 「六个八」 -> 888888 (in place)."""
    for i, u in enumerate(units):
        nxt = next((v for v in units[i + 1 :] if v.kind != "sep"), None)
        if u.kind == "times":
            count = units[i - 1] if i else None
            if count is not None and count.kind in ("digit", "weak") and count.value in "23456789" and len(count.value) == 1 \
                    and nxt is units[i + 1] and nxt.kind == "digit" and len(nxt.value) == 1:
                nxt.value = nxt.value * int(count.value)
                count.kind, count.value, u.kind = "sep", "", "sep"
            else:
                u.kind = "other"
        elif u.kind == "rep":
            if nxt is not None and nxt.kind in ("digit", "weak"):
                nxt.value = nxt.value * int(u.value)
                nxt.kind = "digit"
            u.value = ""
        elif u.kind == "digit" and u.text.lower() in _EN_TENS and nxt is not None \
                and nxt.kind == "digit" and nxt.text.lower() in _EN_DIGIT and nxt.value != "0":
            u.value = u.value[0]


MIXED = "*"  # the one stream of a mono call


def speaker_streams(transcript: Transcript, mixed: bool = False) -> dict[str, list[Unit]]:
    """Each speaker's units in time order; ``mixed``: everybody's in one stream (key ``MIXED``)."""
    streams: dict[str, list[Unit]] = {}
    for si, seg in enumerate(transcript.segments):
        words = seg.words or [Word(seg.start, seg.end, seg.text, 1.0)]
        for wi, w in enumerate(words):
            units = word_units(w.text, (si, wi if seg.words else -1), w.start, w.end)
            streams.setdefault(MIXED if mixed else seg.speaker, []).extend(units)
    for units in streams.values():
        units.sort(key=lambda u: (u.start, u.ref))
        combine_units(units)
    return streams


def digit_runs(units: list[Unit], opts: PrivacyConfig) -> list[list[Unit]]:
    """Maximal stretches of digit units joined only by separators and short pauses."""
    runs: list[list[Unit]] = []
    current: list[Unit] = []
    last_digit_end = -1e9
    for i, u in enumerate(units):
        numeric = u.kind in ("digit", "weak", "x", "rep")
        if numeric and current and u.start - last_digit_end > opts.max_gap:
            runs.append(current)
            current = []
        if numeric:
            current.append(u)
            last_digit_end = u.end
        elif u.kind == "sep" and current:
            current.append(u)
        elif u.kind == "other" and misheard_digit(units, i, current, opts):
            current.append(dataclasses.replace(u, kind="sep"))
        elif u.kind == "other":
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    out = []
    for run in runs:
        # Trim separators and weak digits ("oh", 两) off the ends; keep a final ID check "X".
        while run and (run[0].kind in ("sep", "weak", "x")):
            run = run[1:]
        while run and (run[-1].kind in ("sep", "weak", "rep") or (run[-1].kind == "x" and n_digits(run[:-1]) != 17)):
            run = run[:-1]
        if run:
            out.append(run)
    return out


def misheard_digit(units: list[Unit], i: int, current: list[Unit], opts: PrivacyConfig) -> bool:
    """One word inside a long read-out number is taken for a misheard digit (信用卡 "四九七分六五零九": 分 was a
    digit): the run already holds ``min_digits`` (6) digits and digits go on right after it. A number that long
    is personal data whatever the slip, and ending the run there would leave the digits after it unredacted.
    At least two digits must follow: 「密码是六个八，我一直…」 is a number, then 「我一直」, not a misheard 我."""
    if n_digits(current) < opts.min_digits:
        return False
    after = [u for u in units[i + 1:] if u.kind != "sep"][:2]
    return len(after) == 2 and all(u.kind == "digit" for u in after) and after[0].start - units[i].end < 1.0 \
        and len(units[i].text) <= 12


def n_digits(run: list[Unit]) -> int:
    return sum(len(u.value) for u in run if u.kind in ("digit", "weak"))


def word_spans(refs: Iterable[tuple[int, int, int, int]]) -> list[list[int]]:
    """One [segment, word, first char, end char] per word of the (segment, word, a, b) pieces, so that
    redaction cuts each word once."""
    by_word: dict[tuple[int, int], list[int]] = {}
    for si, wi, a, b in refs:
        span = by_word.setdefault((si, wi), [a, b])
        span[0], span[1] = min(span[0], a), max(span[1], b)
    return [[si, wi, a, b] for (si, wi), (a, b) in by_word.items()]


def run_spans(run: list[Unit]) -> list[list[int]]:
    return word_spans(u.ref for u in run)
