"""What a number is, from what was said around it: 「卡号是…」 makes a card of digits whose check digit a slip of
the ear broke, and "your order number is…" makes an identifier that is not personal data.

A number is a personal-data finding only when its type is established: by its check digit (a card's Luhn,
an ID's GB 11643 character), by its shape where that is strict (a Chinese mobile), or by a cue before it
(the same speaker's words, or the other party's question just before). Order, policy, account, booking and
reference numbers are masked in the redacted view like every long number, but are not findings.
"""

from __future__ import annotations

import functools
import re

from qa_pipeline.base.textnorm import normalize_for_match
from qa_pipeline.contracts import Segment, Transcript
from qa_pipeline.stages.pii.units import MIXED  # a mono call's one stream, whose numbers any speaker's words may follow

CONTEXT_SECONDS = 8.0  # how far before a number its cue may be (the other party's question included)

# Cue phrases per type, matched on normalised text (lower case, no punctuation): Mandarin cues anywhere, English
# cues as whole words ("pin" is not in "spinning", "cell" not in "cancel"). Among cues the one said last wins,
# then the longer ("membership card" over "card"). A bare "card" / 卡 is enough because the number must also
# have a card's length (LENGTHS): people say "I paid by card. It's 4539…" or 「那张卡，6217…」.
CUES: dict[str, tuple[str, ...]] = {
    "not_pii": (
        "订单", "单号", "保单", "运单", "快递单", "工单", "流水号", "编号", "合同号", "发票", "航班", "房间", "型号",
        "账号", "帐号", "户号", "会员号", "预订号", "确认号", "车牌", "工号", "金额", "价格", "费用", "积分",
        "order number", "order no", "policy number", "account number", "reference number", "reference",
        "tracking number", "tracking", "ticket number", "case number", "claim number", "booking number",
        "booking reference", "confirmation number", "invoice", "flight", "room", "model number", "serial number",
        "meter", "membership number", "customer number", "member number", "staff number", "extension",
        "会员卡", "储值卡", "礼品卡", "购物卡", "积分卡", "加油卡", "公交卡", "sim card", "gift card", "loyalty card",
        "membership card", "library card", "reward card", "rewards card",
    ),
    "bank_card": ("卡号", "银行卡", "信用卡", "借记卡", "储蓄卡", "卡的号码", "卡", "card number", "credit card",
                  "debit card", "long number on the card", "number on the card", "card ending", "card", "visa",
                  "mastercard", "amex"),
    "cn_id": ("身份证", "证件号", "身份证号", "身份号码", "id number", "identity card", "id card", "passport number"),
    "ssn": ("social security", "ssn", "social insurance number", "my social", "social's", "your social"),
    "phone": ("手机号", "手机", "电话", "座机", "固话", "联系方式", "打这个号", "phone", "mobile", "cell", "number to reach",
              "reach you on", "call you on", "contact number", "landline", "whatsapp", "registered number",
              "best number", "callback number", "call back on", "my number", "call me on", "call me at", "reach me",
              "text me", "我的号码", "打我", "联系我"),
    "security_code": ("验证码", "安全码", "密码", "校验码", "动态码", "cvv", "cvc", "security code", "verification code",
                      "pin", "passcode", "password", "one time code", "onetime code", "otp", "the code", "sms code",
                      "digits on the back", "背后三位", "背面三位", "卡背", "three digits on the back"),
}
# The lengths each type has (a card 14-19 digits (13-digit cards are long gone), an ID 15 or 18, an SSN 9 or its last 4, a phone 7-13 with
# its country code, a code 3-8) and the tolerance a cued number gets: one digit dropped or added by the ear
# (or the ASR) still leaves the length within one of a real one.
NOMINAL = {"bank_card": range(14, 20), "cn_id": (15, 18), "ssn": (4, 9), "phone": range(7, 14),
           "security_code": range(3, 9)}
TOLERANCE = {"bank_card": 1, "cn_id": 1, "ssn": 1, "phone": 1, "security_code": 0}
LENGTHS = {kind: {n + d for n in lengths for d in range(-TOLERANCE[kind], TOLERANCE[kind] + 1)}
           for kind, lengths in NOMINAL.items()}


def _window_text(transcript: Transcript, start: float, speaker: str) -> list[tuple[float, str]]:
    """(time, normalised text) of the words said in the CONTEXT_SECONDS before ``start``, by anyone."""
    out = []
    for seg in transcript.segments:
        if seg.end < start - CONTEXT_SECONDS or seg.start > start:
            continue
        words = seg.words or []
        said = [w for w in words if start - CONTEXT_SECONDS <= w.start < start]
        text = " ".join(w.text for w in said) if said and words else (seg.text if seg.start < start else "")
        if text:
            out.append(((said[-1].end if said else seg.start), normalize_for_match(text)))
    return sorted(out)


def cue_type(transcript: Transcript, start: float, speaker: str) -> str | None:
    """The type the most recent cue before ``start`` names, or None. Of two cues that overlap, the longer is
    the one said (「会员卡号」 is a membership card's number, not 卡号); of the rest, the one said last decides
    ("您的订单号和手机号" → the phone)."""
    best: tuple[int, int, int, str] | None = None
    for order, (_, text) in enumerate(_window_text(transcript, start, speaker)):
        last = _last_cue(text)
        if last is not None and (best is None or (order, *last[:2]) > best[:3]):
            best = (order, *last)
    return best[3] if best else None


def _last_cue(text: str) -> tuple[int, int, str] | None:
    """(end, length, type) of the cue in ``text`` that decides: of overlapping cues the longer, of the rest the
    one said last."""
    hits = [(m.start(), m.end(), kind) for kind, phrases in CUES.items() for phrase in phrases
            for m in _cue_pattern(phrase).finditer(text)]
    best: tuple[int, int, str] | None = None
    for a, b, kind in hits:
        if any(a2 < b and a < b2 and b2 - a2 > b - a for a2, b2, _ in hits):
            continue  # part of a longer cue
        if best is None or (b, b - a) > best[:2]:
            best = (b, b - a, kind)
    return best


@functools.cache
def _cue_pattern(phrase: str) -> re.Pattern[str]:
    """Mandarin cues match anywhere; Latin ones as whole words (a plural "s" allowed)."""
    if re.search(r"[a-z]", phrase):
        return re.compile(rf"(?<![a-z0-9]){re.escape(phrase)}s?(?![a-z0-9])")
    return re.compile(re.escape(phrase))


def typed_by_context(value: str, cue: str | None) -> str | None:
    """The personal-data type a cue gives a digit string that did not validate on its own, or None."""
    if cue in LENGTHS and len(value) in LENGTHS[cue]:
        return cue
    return None


AFTER_SECONDS = 2.5  # how far after a number the words that say it is an order (… "is my order number") may be
ANSWER_SECONDS = 15.0  # a number this long into an answer turn may still be the answer to the question before it
QUESTION_GAP = 10.0  # an answer starting later than this after the question ended answers nothing


# An identifier's noun right before its number ("the order was 88213", "policy 07700 900123"), or an amount's, a
# time's or a date's ("the total is 2125550183"): said anywhere else in a sentence these nouns are no cue ("the
# mobile number on the account" asks for a phone; "your phone number and date of birth?" asks for a phone
# first), so they count only as the speaker's last words before the number, said right before it, and not as
# the object of a preposition ("the number we have on the account is …" is the account's phone).
_IDENTIFIER_NOUN = r"(?<![a-z])(order|policy|account|reference|ref|ticket|case|claim|booking|invoice|tracking|" \
                   r"consignment|serial|model|listing|member|membership|customer|staff)(?![a-z])"
_MEASURE_NOUN = r"(?<![a-z])(amount|balance|total|price|date|time)(?![a-z])|日期|时间|余额|总共"
_NOUN_AT_END = re.compile(rf"({_IDENTIFIER_NOUN}|{_MEASURE_NOUN})( (no|number|numbers|num|id|code))?( (is|was|s|of))?$")
_PREPOSITION_AT_END = re.compile(r"(^| )(on|for|under|in|about|with|to|of)( (the|my|your|this|our|that|an|a))?$")
JUST_BEFORE_WORDS = 3
JUST_BEFORE_SECONDS = 1.5  # the noun's last word ends at most this long before the number


def noun_just_before(transcript: Transcript, start: float, speaker: str) -> str | None:
    """``not_pii`` when the speaker's last words right before ``start`` name an identifier, an amount, a time or
    a date, else None."""
    words = [w for seg in transcript.segments if speaker in (MIXED, seg.speaker)
             for w in seg.words or [] if start - CONTEXT_SECONDS <= w.start < start]
    words.sort(key=lambda w: w.start)
    if not words or start - words[-1].end > JUST_BEFORE_SECONDS:
        return None
    said = normalize_for_match(" ".join(w.text for w in words[-JUST_BEFORE_WORDS - 2:]))
    match = _NOUN_AT_END.search(" ".join(said.split()[-JUST_BEFORE_WORDS:]))
    if match is None:
        return None
    lead = said[: len(said) - len(match.group())].strip()
    if _PREPOSITION_AT_END.search(lead):
        return None  # "… on the account is 0770…": the account's number, not an account number
    return "not_pii"


def cue_after(transcript: Transcript, end: float, speaker: str) -> str | None:
    """``not_pii`` when the same speaker's words right after a number begin by saying it is an order, a policy…
    ("2125550183 is the order number", "…0183, that's the reference"); None otherwise. Only what the words
    begin with counts: in "07700 900123, and my account number is 4827…" the account number is the next
    number's, and "call me on 212 555 0183 any time" is a phone."""
    said: list[str] = []
    for seg in sorted(transcript.segments, key=lambda s: s.start):
        if (seg.speaker != speaker and speaker != MIXED) or seg.end < end or seg.start > end + AFTER_SECONDS:
            continue
        words = [w for w in seg.words or [] if end <= w.start <= end + AFTER_SECONDS]
        digit = next((k for k, w in enumerate(words) if any(ch.isdigit() for ch in w.text)), None)
        said += [w.text for w in words[:digit]]
        if digit is not None:
            break  # the next number's cue is the next number's
    text = normalize_for_match(" ".join(said))
    text = re.sub(r"^((is|was|that s|that is|it s|it is|thats|its|which is|being)( the| my| your| our)? ?)", "", text)
    text = re.sub(r"^(the|my|your|our) ", "", text)
    hits = [phrase for phrase in CUES["not_pii"] if phrase not in _NOT_AFTER and _cue_pattern(phrase).match(text)]
    return "not_pii" if hits else None


_NOT_AFTER = {"extension"}  # "…0183, extension 42": still a phone


# What a question asks for when it names no type: a number, or a way to reach the caller ("where can we get
# hold of you?", 「怎么联系您」). Asked for in the turn before an answer, either makes the answer a phone.
_ASKS_FOR_NUMBER = re.compile(r"(?<![a-z])(number|digits|contact|reach|get hold of|get through to|get back to|"
                              r"call (you|back)|ring (you|back)|text (you|back)|号码|联系|打给|回电|回拨|找到您|找您)(?![a-z])")
# "<word> number": a phone's only where the word qualifies a number rather than naming what it belongs to.
_NAMED_NUMBER = re.compile(r"(?<![a-z])([a-z]+) (number|no)(?![a-z])")
_NUMBER_QUALIFIERS = {"a", "the", "your", "my", "his", "her", "their", "our", "best", "good", "another", "other",
                      "which", "what", "that", "this", "same", "new", "old", "different", "alternative", "correct",
                      "right", "direct", "daytime", "evening", "home", "work", "office", "backup", "second", "main"}
_QUESTION = re.compile(r"[?？]|[吗呢]\s*$|^(what|which|where|how|is|are|can|could|would|may|do|does|did|have|has|"
                       r"please|请|麻烦|能不能|可以|方便)(?![a-z])|(告诉|报|提供|留)(一下|个|下)")


def asked_type(transcript: Transcript, start: float, speaker: str) -> str | None:
    """What the other party's question just before the answer that holds ``start`` asked for: the type its cues
    name (the same CUES, so "order number?" asks for an order's number), else ``phone`` when it asked for a
    number or a way to reach someone; None when the turn before was no question, or the number is not in
    the answer turn that followed it."""
    segs = transcript.segments
    mine = [i for i, s in enumerate(segs) if speaker in (MIXED, s.speaker)]
    here = next((i for i in mine if segs[i].start <= start <= segs[i].end), None)
    if here is None:
        here = max((i for i in mine if segs[i].start <= start), default=None)
    if here is None:
        return None
    first = here
    while first > 0 and segs[first - 1].speaker == segs[here].speaker:
        first -= 1  # the answer turn: the answering speaker's segments back to the other party's
    if first == 0 or start - segs[first].start > ANSWER_SECONDS:
        return None
    question: list[Segment] = []
    k = first - 1
    while k >= 0 and segs[k].speaker == segs[first - 1].speaker and len(question) < 2:
        question.insert(0, segs[k])
        k -= 1
    if segs[first].start - question[-1].end > QUESTION_GAP:
        return None
    # The asker's last sentence is the question ("I've noted the order. What's a good number for you?").
    sentences = [p for p in re.split(r"(?<=[.!。！])\s*", " ".join(s.text for s in question)) if p.strip()]
    last = sentences[-1] if sentences else ""
    if not _QUESTION.search(last.strip().lower()):
        return None
    text = normalize_for_match(last)
    named = _last_cue(text)
    if named is not None:
        return named[2]
    if re.search(_IDENTIFIER_NOUN, text):
        return "not_pii"  # "Can you tell me the order ID please?": a question may name what it asks for once
    named_number = _NAMED_NUMBER.search(text)
    if named_number and named_number.group(1) not in _NUMBER_QUALIFIERS:
        return "not_pii"  # "what's the receipt number?": a number named by a noun no cue knows is that thing's
    return "phone" if _ASKS_FOR_NUMBER.search(text) else None
