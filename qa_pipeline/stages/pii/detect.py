"""Personal data in calls: find it, mask it in text, and cover it in audio.

Detection works on each speaker's words in time order, across segment
boundaries, because people read numbers out in pieces ("one three eight …
one two three four …"). Every token becomes a unit: a digit (written 7, spoken
"seven", 七, 幺, 两, 洞, "double five"), a separator ("-", "dash", a pause
filler) or anything else, which ends a run. A run of digits is then classified
by its shape and check digits: Chinese ID (GB 11643 check digit), bank card
(Luhn), phone (CN mobile/landline, US), or any other long digit string.
E-mail addresses are matched written or spoken ("john dot smith at …").

Findings never hold the digits themselves: evidence and details keep a masked
form (last four digits at most), and word positions for redaction.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_pipeline.base.audio import Audio
from qa_pipeline.contracts import Call, Finding, Segment, Transcript, Word

RULE_VERSION = "pii-3"  # pii-2: digits read by sound, e-mail without "at"; pii-3: mono calls read as one stream, a misheard word inside a long number
PLACEHOLDER = {"phone": "[PHONE]", "cn_id": "[ID]", "bank_card": "[CARD]", "email": "[EMAIL]", "digits": "[NUMBER]"}


@dataclass
class PIIOptions:
    min_digits: int = 6  # shorter digit strings (times, years, prices) are not personal data
    max_gap: float = 3.0  # seconds of one speaker's silence that end a number
    pad: float = 0.15  # seconds of audio covered either side of the words (word times are approximate)
    sound_digits: bool = True  # also read Mandarin characters that sound like digits (see sound_findings)


# --- number words ----------------------------------------------------------

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
_SEPARATORS = {"-", "(", ")", "+", "/", "dash", "hyphen", "uh", "um", "er", "ah", "hmm", "嗯", "呃", "啊", "杠"}
_SOFT_STOPS = {",", ".", "，", "。", "、", ":", "："}  # pauses in a read-out number: separators
_NOT_PII_AFTER = {"dollars", "dollar", "bucks", "percent", "%", "yuan", "元", "块", "万", "miles", "公里", "岁"}
_TOKEN = re.compile(r"[A-Za-z]+|\d|[\u3400-\u9fff]|\S")


@dataclass
class _Unit:
    kind: str  # digit | weak | sep | other
    value: str  # digits for digit/weak units
    ref: tuple[int, int, int, int]  # (segment, word or -1, char start, char end)
    start: float
    end: float
    text: str


def _word_units(text: str, ref: tuple[int, int], start: float, end: float) -> list[_Unit]:
    units: list[_Unit] = []
    tokens = list(_TOKEN.finditer(text))
    for i, m in enumerate(tokens):
        tok, low = m.group(), m.group().lower()
        pos = (ref[0], ref[1], m.start(), m.end())

        def add(kind: str, value: str = "", pos: tuple[int, int, int, int] = pos, tok: str = tok) -> None:
            units.append(_Unit(kind, value, pos, start, end, tok))

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
        elif low == "x" or tok == "叉":
            add("x", "X")  # the check character of a Chinese ID
        elif low in _SEPARATORS:
            add("sep")
        elif tok in _SOFT_STOPS:
            # "1,250" and "4.5" are one number; a comma or full stop *between words* is a pause.
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            add("other" if nxt is not None and nxt.start() == m.end() and nxt.group().isdigit() else "sep")
        else:
            add("other")
    return units


def _combine(units: list[_Unit]) -> None:
    """Across words: "double five" -> 55, "twenty three" -> 23 (in place)."""
    for i, u in enumerate(units):
        nxt = next((v for v in units[i + 1 :] if v.kind != "sep"), None)
        if u.kind == "rep":
            if nxt is not None and nxt.kind in ("digit", "weak"):
                nxt.value = nxt.value * int(u.value)
                nxt.kind = "digit"
            u.value = ""
        elif u.kind == "digit" and u.text.lower() in _EN_TENS and nxt is not None \
                and nxt.kind == "digit" and nxt.text.lower() in _EN_DIGIT and nxt.value != "0":
            u.value = u.value[0]


_MIXED = "*"  # the one stream of a mono call


def _speaker_streams(transcript: Transcript, mixed: bool = False) -> dict[str, list[_Unit]]:
    """Each speaker's units in time order; ``mixed``: everybody's in one stream (key ``_MIXED``)."""
    streams: dict[str, list[_Unit]] = {}
    for si, seg in enumerate(transcript.segments):
        words = seg.words or [Word(seg.start, seg.end, seg.text, 1.0)]
        for wi, w in enumerate(words):
            units = _word_units(w.text, (si, wi if seg.words else -1), w.start, w.end)
            streams.setdefault(_MIXED if mixed else seg.speaker, []).extend(units)
    for units in streams.values():
        units.sort(key=lambda u: (u.start, u.ref))
        _combine(units)
    return streams


def _runs(units: list[_Unit], opts: PIIOptions) -> list[list[_Unit]]:
    """Maximal stretches of digit units joined only by separators and short pauses."""
    runs: list[list[_Unit]] = []
    current: list[_Unit] = []
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
        elif u.kind == "other" and _misheard_digit(units, i, current, opts):
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
        while run and (run[-1].kind in ("sep", "weak", "rep") or (run[-1].kind == "x" and _n_digits(run[:-1]) != 17)):
            run = run[:-1]
        if run:
            out.append(run)
    return out


def _misheard_digit(units: list[_Unit], i: int, current: list[_Unit], opts: PIIOptions) -> bool:
    """One word inside a long read-out number is taken for a misheard digit (信用卡 "四九七分六五零九": 分 was a
    digit): the run already holds ``min_digits`` (6) digits and digits go on right after it. A number that long
    is personal data whatever the slip, and ending the run there would leave the digits after it unredacted."""
    if _n_digits(current) < opts.min_digits:
        return False
    nxt = next((u for u in units[i + 1:] if u.kind != "sep"), None)
    return nxt is not None and nxt.kind == "digit" and nxt.start - units[i].end < 1.0 and len(units[i].text) <= 12


def _number_rule(pii_type: str, speaker: str) -> tuple[str, str]:
    """(rule id, severity) of a number: an agent reading a card number out is the critical read-back."""
    if pii_type == "bank_card" and speaker == "agent":
        return "pii_readback_card", "critical"
    return f"pii_{pii_type}", "minor"


def _n_digits(run: list[_Unit]) -> int:
    return sum(len(u.value) for u in run if u.kind in ("digit", "weak"))


# --- checks ----------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"


def cn_id_valid(value: str) -> bool:
    """GB 11643-1999: 17 digits, then a check character from the weighted sum mod 11."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit():
        return False
    if not ("19000101" <= value[6:14] <= "21001231") or not (1 <= int(value[10:12]) <= 12):
        return False
    return _ID_CHECK[sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS)) % 11] == value[17]


def phone_kind(digits: str) -> str | None:
    """'cn_mobile', 'cn_landline', 'us' or None."""
    d = digits
    if d.startswith("86") and len(d) == 13:
        d = d[2:]
    if re.fullmatch(r"1[3-9]\d{9}", d):
        return "cn_mobile"
    if re.fullmatch(r"0[1-9]\d{8,10}", d):
        return "cn_landline"
    if re.fullmatch(r"1?[2-9]\d{2}[2-9]\d{6}", d):
        return "us"
    return None


def classify_digits(value: str, min_digits: int = 6) -> tuple[str, str | None] | None:
    """(type, check) for a digit string, or None when it is not personal data."""
    digits = value.upper()
    if len(digits) == 18 and cn_id_valid(digits):
        return "cn_id", "gb11643"
    if not digits.isdigit():
        return None
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return "bank_card", "luhn"
    kind = phone_kind(digits)
    if kind:
        return "phone", kind
    if len(digits) >= min_digits:
        return "digits", None
    return None


def mask_digits(value: str) -> str:
    """Stars, and the last four characters only when the number is long (as on a receipt)."""
    keep = 4 if len(value) >= 10 else 0
    return "*" * (len(value) - keep) + (value[-keep:] if keep else "")


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


# --- e-mail ----------------------------------------------------------------

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


def _emails(transcript: Transcript, speaker: str) -> list[tuple[Any, ...]]:
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
        spans = _word_spans(c[:4] for c in chars)
        found.append((_canonical_email(m.group(1), m.group(2)), spans, chars[0][4], chars[-1][5]))
    taken = [(a, b) for _, _, a, b in found]
    for m in _EMAIL_NO_AT.finditer(text):
        chars = owners[m.start(1) : m.end(1)]
        if any(a < chars[-1][5] and b > chars[0][4] for a, b in taken):
            continue
        spans = _word_spans(c[:4] for c in chars)
        labels = re.split(_DOT, m.group(1), flags=re.IGNORECASE)
        n_domain = 3 if labels[-2].lower() in _SECOND_LEVEL else 2  # example.co.uk is a domain, not a name
        if len(labels) <= n_domain:
            continue  # a bare domain ("send it to example.co.uk"): no name in it
        address = _canonical_email(".".join(labels[:-n_domain]), ".".join(labels[-n_domain:]))
        found.append((address, spans, chars[0][4], chars[-1][5], "no_at"))  # type: ignore[arg-type]
    return found


# --- the stage -------------------------------------------------------------


def _word_spans(refs: Iterable[tuple[int, int, int, int]]) -> list[list[int]]:
    """One [segment, word, first char, end char] per word of the (segment, word, a, b) pieces, so that
    redaction cuts each word once."""
    by_word: dict[tuple[int, int], list[int]] = {}
    for si, wi, a, b in refs:
        span = by_word.setdefault((si, wi), [a, b])
        span[0], span[1] = min(span[0], a), max(span[1], b)
    return [[si, wi, a, b] for (si, wi), (a, b) in by_word.items()]


def _spans(run: list[_Unit]) -> list[list[int]]:
    return _word_spans(u.ref for u in run)


# --- digits read by sound (Mandarin) ----------------------------------------

SOUND_MIN_UNITS = 7  # a shorter stretch of digit-sounding characters is never a candidate
# One stray unit at either end of a run may be dropped ("是" in "号码是要求求…"), no more: every window tried is
# another chance for a random run to pass a check (a 16-digit window passes Luhn one time in ten), and with two
# dropped units an 18-digit run whose ID check fails still held a Luhn-valid 16- or 17-digit window half the time.
SOUND_MAX_TRIM = 1
SOUND_CARD_LENGTHS = (16, 19)  # UnionPay credit/debit card lengths; 17/18-digit cards are too rare to pay for
SOUND_MIN_READ = 3  # fewer characters read by sound: the written digits decide (a Luhn pass by adding 是 is chance)


def _sound_values(units: list[_Unit]) -> list[str | None]:
    """For each unit: the digit a Mandarin character sounds like (if it is not a written digit), else None."""
    from qa_pipeline.stages.pii.spoken_digits import is_cjk, sound_digits

    out: list[str | None] = [None] * len(units)
    i = 0
    while i < len(units):
        j = i
        while j < len(units) and units[j].kind == "other" and is_cjk(units[j].text):
            j += 1
        if j > i:  # pinyin of a stretch of characters together, so polyphones are read in context
            out[i:j] = sound_digits("".join(u.text for u in units[i:j]))
            i = j
        else:
            i += 1
    return out


def _sound_runs(units: list[_Unit], sound: list[str | None], opts: PIIOptions) -> list[list[tuple[_Unit, str, bool]]]:
    """Stretches of digits (written or read by sound) joined only by separators: (unit, digit, by sound)."""
    runs: list[list[tuple[_Unit, str, bool]]] = []
    current: list[tuple[_Unit, str, bool]] = []
    last_end = -1e9
    for u, d in zip(units, sound):
        if u.kind in ("digit", "weak", "x") or d is not None:
            if current and u.start - last_end > opts.max_gap:
                runs.append(current)
                current = []
            current.append((u, u.value if d is None else d, d is not None))
            last_end = u.end
        elif u.kind == "sep" and current:
            current.append((u, "", False))
        elif u.kind != "sep":
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def validated_number(digits: str) -> tuple[str, str] | None:
    """(type, check) when a digit string passes a check digit or a strict shape: CN ID, card, CN mobile."""
    if len(digits) == 18 and cn_id_valid(digits):
        return "cn_id", "gb11643"
    if not digits.isdigit():
        return None
    if len(digits) in SOUND_CARD_LENGTHS and luhn_valid(digits):
        return "bank_card", "luhn"
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return "phone", "cn_mobile"
    return None


def _sound_window(run: list[tuple[_Unit, str, bool]]) -> tuple[int, int, str, str] | None:
    """(first, last) index into ``run`` of the valid number that needs the fewest units dropped at its ends."""
    numeric = [i for i, (u, v, _) in enumerate(run) if v]
    n = len(numeric)
    if n < SOUND_MIN_UNITS:
        return None
    for trim in range(SOUND_MAX_TRIM + 1):
        for a in range(trim + 1):
            b = trim - a
            if n - trim < SOUND_MIN_UNITS:
                continue
            window = numeric[a : n - b]
            if sum(1 for i in window if run[i][2]) < SOUND_MIN_READ:
                continue  # (nearly) all written digits: the ordinary detector's business
            kind = validated_number("".join(run[i][1] for i in window))
            if kind:
                return window[0], window[-1], kind[0], kind[1]
    return None


def sound_findings(units: list[_Unit], speaker: str, call_id: str, opts: PIIOptions) -> list[Finding]:
    """Numbers Whisper wrote as look-alike Mandarin characters (要求求起屋 for 幺九九七五).

    Only a run of at least SOUND_MIN_UNITS digit-sounding units, joined by nothing but separators, is a
    candidate, and it becomes a finding only when it (less one stray unit at an end) validates as a Chinese
    ID (check digit), a bank card (Luhn, 16 or 19 digits) or a Chinese mobile number (11 digits, 1[3-9]):
    ordinary text rarely holds 11 digit-sounding characters in a row, and a random run rarely passes the checks.
    """
    findings = []
    for run in _sound_runs(units, _sound_values(units), opts):
        hit = _sound_window(run)
        if hit is None:
            continue
        first, last, pii_type, check = hit
        window = run[first : last + 1]
        value = "".join(v for _, v, _ in window)
        rule_id, severity = _number_rule(pii_type, speaker)
        n_sound = sum(1 for _, _, by_sound in window if by_sound)
        findings.append(Finding(
            call_id=call_id, kind="pii", rule_id=rule_id,
            rule_version=RULE_VERSION, speaker=speaker,  # type: ignore[arg-type]
            start=round(window[0][0].start, 3), end=round(window[-1][0].end, 3),
            evidence=f"{pii_type}: {mask_digits(value)} (read by sound)",
            confidence=0.7 if check in ("luhn", "gb11643") else 0.5,
            severity=severity,
            details={"type": pii_type, "masked": mask_digits(value), "n_digits": len(value), "check": check,
                     "read_by": "sound", "sound_units": n_sound, "spans": _spans([u for u, _, _ in window])},
        ))
    return findings


def _merge_sound(found: list[Finding], by_sound: list[Finding]) -> list[Finding]:
    """Add sound-read numbers where the written-digit detector found nothing validated at that time.

    A sound-read number replaces an unvalidated "digits" finding it overlaps (the written digits were a part
    of it); it is dropped where a validated finding of the same speaker already covers that time.
    """
    out = list(found)
    for f in by_sound:
        overlapping = [g for g in out if g.speaker == f.speaker and g.start < f.end and g.end > f.start]
        if any(g.details.get("type") != "digits" for g in overlapping):
            continue
        out = [g for g in out if g not in overlapping]
        spans = sorted(_word_spans(tuple(s) for g in overlapping + [f] for s in g.details["spans"]))
        start = min([f.start] + [g.start for g in overlapping])
        end = max([f.end] + [g.end for g in overlapping])
        out.append(dataclasses.replace(f, start=start, end=end, details={**f.details, "spans": spans}))
    return out


def _speaker_of(transcript: Transcript, start: float, end: float) -> str:
    """The speaker whose segments overlap [start, end] the most."""
    overlap: dict[str, float] = {}
    for seg in transcript.segments:
        if seg.start < end and seg.end > start:
            overlap[seg.speaker] = overlap.get(seg.speaker, 0.0) + min(seg.end, end) - max(seg.start, start)
    return max(overlap, key=overlap.__getitem__) if overlap else "unknown"


def _attribute(f: Finding, transcript: Transcript) -> Finding:
    """A number found in a mono call's mixed stream goes to the speaker who said most of it."""
    speaker = _speaker_of(transcript, f.start, f.end)
    rule_id, severity = _number_rule(f.details["type"], speaker)
    return dataclasses.replace(f, speaker=speaker, rule_id=rule_id, severity=severity)  # type: ignore[arg-type]


def detect_pii(transcript: Transcript, call: Call | None = None, opts: PIIOptions | None = None) -> list[Finding]:
    """One ``pii`` finding per phone number, ID number, card number, e-mail address or long digit string.

    On a mono call the speakers come from diarization, which can hand a piece of a number to the other
    speaker (a 0.4 s "four nine seven" inside the caller's card number); there numbers are read from
    everybody's words in one stream, so such a split cannot leave digits unredacted, and each number is
    attributed to the speaker who said most of it."""
    opts = opts or PIIOptions()
    call_id = call.call_id if call else ""
    mixed = call is not None and call.layout == "mono"
    findings: list[Finding] = []
    for speaker, units in _speaker_streams(transcript, mixed).items():
        written = len(findings)
        by_ref = {u.ref: i for i, u in enumerate(units)}
        for run in _runs(units, opts):
            value = "".join(u.value for u in run if u.kind in ("digit", "weak", "x"))
            kind = classify_digits(value, opts.min_digits)
            if kind is None:
                continue
            pii_type, check = kind
            after = units[by_ref[run[-1].ref] + 1] if by_ref[run[-1].ref] + 1 < len(units) else None
            if pii_type == "digits" and after is not None and after.text.lower() in _NOT_PII_AFTER:
                continue  # an amount or a quantity, not an identifier
            rule_id, severity = _number_rule(pii_type, speaker)
            findings.append(Finding(
                call_id=call_id, kind="pii", rule_id=rule_id,
                rule_version=RULE_VERSION, speaker=speaker,  # type: ignore[arg-type]
                start=round(run[0].start, 3), end=round(run[-1].end, 3),
                evidence=f"{pii_type}: {mask_digits(value)}",
                confidence=0.95 if check in ("luhn", "gb11643") else 0.85 if pii_type == "phone" else 0.6,
                severity=severity,
                details={"type": pii_type, "masked": mask_digits(value), "n_digits": len(value),
                         "check": check, "spans": _spans(run)},
            ))
        if opts.sound_digits:
            findings[written:] = _merge_sound(findings[written:], sound_findings(units, speaker, call_id, opts))
        if speaker == _MIXED:
            findings[written:] = [_attribute(f, transcript) for f in findings[written:]]
    for speaker in dict.fromkeys(seg.speaker for seg in transcript.segments):
        for address, spans, start, end, *how in _emails(transcript, speaker):
            no_at = bool(how)
            findings.append(Finding(
                call_id=call_id, kind="pii", rule_id="pii_email", rule_version=RULE_VERSION,
                speaker=speaker, start=round(start, 3), end=round(end, 3),  # type: ignore[arg-type]
                evidence=f"email: {mask_email(address)}" + (" (no 'at' heard)" if no_at else ""),
                confidence=0.6 if no_at else 0.9, severity="minor",
                details={"type": "email", "masked": mask_email(address), "check": None,
                         "spans": spans, **({"read_by": "shape_no_at"} if no_at else {})},
            ))
    findings.sort(key=lambda f: (f.start, f.end))
    return findings


def _join(words: list[Word], zh: bool) -> str:
    from qa_pipeline.stages.diarize import _join as join_words

    return join_words(words, "zh" if zh else "en")


def redact_transcript(transcript: Transcript, findings: list[Finding]) -> Transcript:
    """The transcript with every finding's characters replaced by a placeholder ([PHONE], [CARD]…)."""
    # (segment, word) -> list of (char start, char end, placeholder or "" for continuation)
    edits: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
    for f in findings:
        if f.kind != "pii":
            continue
        label = PLACEHOLDER.get(f.details.get("type", ""), "[REDACTED]")
        seen_segments: set[int] = set()
        for si, wi, a, b in sorted(f.details.get("spans", [])):
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
        text = _join(words, zh)
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


def findings_summary(findings: list[Finding]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for f in findings:
        if f.kind == "pii":
            counts[f.details.get("type", "?")] = counts.get(f.details.get("type", "?"), 0) + 1
    return counts
