"""What a run of digits is, by its shape and check digits: Chinese ID (GB 11643), bank card (Luhn), phone
(CN mobile/landline, US), or another long number; and how each is masked (last four digits at most)."""

from __future__ import annotations

import re

RULE_VERSION = "pii-5"  # pii-2: digits read by sound, e-mail without "at"; pii-3: mono calls read as one stream, a misheard word inside a long number; pii-4: types from context, unexplained numbers masked not found, dates of birth, addresses, names; pii-5: phones by their numbering plan's shape, answers typed by the question asked
SOUND_CARD_LENGTHS = (16, 19)  # UnionPay credit/debit card lengths; 17/18-digit cards are too rare to pay for
PLACEHOLDER = {"phone": "[PHONE]", "cn_id": "[ID]", "bank_card": "[CARD]", "email": "[EMAIL]", "digits": "[NUMBER]",
               "ssn": "[SSN]", "security_code": "[CODE]", "dob": "[DATE OF BIRTH]", "address": "[ADDRESS]",
               "person_name": "[NAME]"}


def number_rule(pii_type: str, speaker: str) -> tuple[str, str]:
    """(rule id, severity) of a number: an agent reading a card number out is the critical read-back."""
    if pii_type == "bank_card" and speaker == "agent":
        return "pii_readback_card", "critical"
    return f"pii_{pii_type}", "minor"


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


ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


ID_CHECK = "10X98765432"


def cn_id_valid(value: str) -> bool:
    """GB 11643-1999: 17 digits, then a check character from the weighted sum mod 11."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit():
        return False
    if not ("19000101" <= value[6:14] <= "21001231") or not (1 <= int(value[10:12]) <= 12):
        return False
    return ID_CHECK[sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS)) % 11] == value[17]


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


# Numbering plans whose shape is specific enough to type a number as a phone with no word around it saying so
# (tried in order; country codes as read out: "+44", "+1", "+86"). A Chinese mobile is 11 digits from 1[3-9];
# a North-American (NANP) number has an area code and an exchange that start 2-9; a UK mobile is 07 and nine
# digits, a UK geographic number 01/02 and eight or nine. Chinese landlines (0 and 9-11 digits) are too like an
# order or account number to go without a cue, and 01x/02x is a Chinese area code as often as a UK one, so
# the North-American and UK plans are read in calls that are not in Mandarin only.
_PLANS_EVERYWHERE = (("cn_mobile", re.compile(r"(?:86)?1[3-9]\d{9}")),)
# NANP toll-free area codes (8xx repeated digit: 800, 833…888) and N11 service codes (411, 911) are a company's
# line or no number at all: "call us on 1-800-…" is no caller's personal data.
_NANP = r"1?(?!8(00|33|44|55|66|77|88))(?![2-9]11)[2-9]\d{2}(?![2-9]11)[2-9]\d{6}"
_PLANS_NOT_ZH = (("nanp", re.compile(_NANP)),
                 ("uk_mobile", re.compile(r"(?:0|440?)7\d{9}")),
                 ("uk_landline", re.compile(r"(?:0|440?)[12]\d{8,9}")))


def plan_shape(digits: str, language: str) -> str | None:
    """The numbering plan whose strict shape ``digits`` has: 'cn_mobile', 'nanp', 'uk_mobile', 'uk_landline'.
    Outside Mandarin an 11-digit number from 1 is +1 and ten digits, not a Chinese mobile: 1-800-555-0199 is a
    toll-free line (no shape), although 180 is a Chinese mobile prefix."""
    if language != "zh" and len(digits) == 11 and digits[0] == "1":
        return "nanp" if re.fullmatch(_NANP, digits) else None
    plans = _PLANS_EVERYWHERE + (() if language == "zh" else _PLANS_NOT_ZH)
    return next((kind for kind, shape in plans if shape.fullmatch(digits)), None)


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
