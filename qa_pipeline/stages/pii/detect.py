"""Personal data in calls: the stage. Findings never hold the digits themselves: evidence and details keep
a masked form (last four digits at most), and word positions for redaction."""

from __future__ import annotations

import dataclasses
from typing import Any

from qa_pipeline.config import PrivacyConfig
from qa_pipeline.contracts import Call, Finding, PIIMatch, Transcript
from qa_pipeline.stages.pii.checks import RULE_VERSION, classify_digits, mask_digits, number_rule, plan_shape
from qa_pipeline.stages.pii.context import LENGTHS, asked_type, cue_after, cue_type, noun_just_before, typed_by_context
from qa_pipeline.stages.pii.email import emails, mask_email
from qa_pipeline.stages.pii.identity import identity_findings
from qa_pipeline.stages.pii.sound import merge_sound, sound_findings
from qa_pipeline.stages.pii.units import MIXED, NOT_PII_AFTER, Unit, digit_runs, run_spans, speaker_streams


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
    rule_id, severity = number_rule(f.details.type, speaker)
    return dataclasses.replace(f, speaker=speaker, rule_id=rule_id, severity=severity)  # type: ignore[arg-type]


def _all_numbers_and_data(transcript: Transcript, call: Call | None, opts: PrivacyConfig | None) -> list[Finding]:
    """Every number, e-mail address and identity detail, the unexplained long numbers as type ``digits``.

    On a mono call the speakers come from diarization, which can hand a piece of a number to the other
    speaker (a 0.4 s "four nine seven" inside the caller's card number); there numbers are read from
    everybody's words in one stream, so such a split cannot leave digits unredacted, and each number is
    attributed to the speaker who said most of it."""
    opts = opts or PrivacyConfig()
    call_id = call.call_id if call else ""
    mixed = call is not None and call.layout == "mono"
    findings: list[Finding] = []
    for speaker, units in speaker_streams(transcript, mixed).items():
        written = len(findings)
        by_ref = {u.ref: i for i, u in enumerate(units)}
        for run in digit_runs(units, opts):
            run = _with_trunk_zero(units, by_ref, run, transcript.language, opts)
            value = "".join(u.value for u in run if u.kind in ("digit", "weak", "x"))
            typed = number_type(transcript, run, value, speaker, opts, units)
            if typed is None:
                continue
            pii_type, check = typed
            after = units[by_ref[run[-1].ref] + 1] if by_ref[run[-1].ref] + 1 < len(units) else None
            if pii_type == "digits" and after is not None and after.text.lower() in NOT_PII_AFTER:
                continue  # an amount or a quantity, not an identifier
            rule_id, severity = number_rule(pii_type, speaker)
            findings.append(Finding(
                call_id=call_id, kind="pii", rule_id=rule_id,
                rule_version=RULE_VERSION, speaker=speaker,  # type: ignore[arg-type]
                start=round(run[0].start, 3), end=round(run[-1].end, 3),
                evidence=f"{pii_type}: {mask_digits(value)}",
                confidence=0.95 if check in ("luhn", "gb11643") else 0.85 if check else 0.75 if pii_type != "digits" else 0.5,
                severity=severity,
                details=PIIMatch(type=pii_type, masked=mask_digits(value), n_digits=len(value), check=check,
                                 spans=run_spans(run)),
            ))
        if opts.sound_digits:
            findings[written:] = merge_sound(findings[written:], sound_findings(units, speaker, call_id, opts))
        if speaker == MIXED:
            findings[written:] = [_attribute(f, transcript) for f in findings[written:]]
    for speaker in dict.fromkeys(seg.speaker for seg in transcript.segments):
        for address, spans, start, end, *how in emails(transcript, speaker):
            no_at = bool(how)
            findings.append(Finding(
                call_id=call_id, kind="pii", rule_id="pii_email", rule_version=RULE_VERSION,
                speaker=speaker, start=round(start, 3), end=round(end, 3),  # type: ignore[arg-type]
                evidence=f"email: {mask_email(address)}" + (" (no 'at' heard)" if no_at else ""),
                confidence=0.6 if no_at else 0.9, severity="minor",
                details=PIIMatch(type="email", masked=mask_email(address), spans=spans,
                                 read_by="shape_no_at" if no_at else ""),
            ))
    findings += identity_findings(transcript, call_id)
    findings.sort(key=lambda f: (f.start, f.end))
    return findings


def detect_pii(transcript: Transcript, call: Call | None = None, opts: PrivacyConfig | None = None) -> list[Finding]:
    """Personal data of established type: cards, IDs, phones, SSNs, security codes, e-mails, dates of birth,
    addresses and names. A long number whose type nothing established (an order, a reference…) is masked in
    the redacted view (``masked_numbers``) but is not a finding."""
    return [f for f in _all_numbers_and_data(transcript, call, opts) if f.details.type != "digits"]


def masked_numbers(transcript: Transcript, call: Call | None = None, opts: PrivacyConfig | None = None) -> list[Finding]:
    """Everything redaction covers: the personal data, and every other long number."""
    return _all_numbers_and_data(transcript, call, opts)


def number_type(transcript: Transcript, run: list[Unit], value: str, speaker: str,
                opts: PrivacyConfig, units: list[Unit]) -> tuple[str, str | None] | None:
    """(type, check) of a read-out number: its check digit or strict shape, else what the words before it
    say it is, else what the other party's question before this answer asked for; ("digits", None) for a long
    number of no established type (and for one whose own words say it is an order, a policy, an amount…, even
    when it has a phone's shape); None for a short one."""
    shape = classify_digits(value, opts.min_digits)
    cue = cue_type(transcript, run[0].start, speaker)
    if cue is None:
        cue = noun_just_before(transcript, run[0].start, speaker) or cue_after(transcript, run[-1].end, speaker) \
            or asked_type(transcript, run[0].start, speaker)
    if cue == "not_pii":
        return ("digits", None) if shape else None
    if shape is not None and shape[0] == "bank_card" and cue in LENGTHS and cue != "bank_card" \
            and len(value) in LENGTHS[cue]:
        return cue, None  # one number in ten passes Luhn by chance: 身份证号 said before it is surer
    if shape is not None and shape[0] in ("cn_id", "bank_card"):
        return shape
    plan = None if _glued_to_letters(run, units) else plan_shape(value, transcript.language)
    if plan == "cn_mobile" or (plan is not None and cue in (None, "phone")):
        return "phone", plan  # a numbering plan's shape: a phone unless a cue says it is another type
    if shape is not None and shape[0] == "phone" and cue == "phone":
        return shape
    by_cue = typed_by_context(value, cue)
    if by_cue is not None:
        return by_cue, None
    if plan is not None:
        return "phone", plan
    return ("digits", None) if shape else None


def _glued_to_letters(run: list[Unit], units: list[Unit]) -> bool:
    """Does the number start inside a word that begins with letters ("OD4417-092-6631", "KD0271984456")? Such a
    code is an order's, an account's or a parcel's; nobody writes or says a phone number that way."""
    before = [u for u in units if u.ref[:2] == run[0].ref[:2] and u.ref[3] == run[0].ref[2]]
    return any(u.text.isalpha() and u.text.isascii() for u in before)


def _with_trunk_zero(units: list[Unit], by_ref: dict[tuple[int, int, int, int], int], run: list[Unit],
                     language: str, opts: PrivacyConfig) -> list[Unit]:
    """The run with the "oh" before it when that "oh" is a phone's leading zero ("oh seven seven double oh…":
    runs drop an "oh" at their ends, an interjection as often as a digit, but 07700 900456 is a UK mobile and
    7700 900456 nothing)."""
    i = by_ref[run[0].ref] - 1
    while i >= 0 and units[i].kind == "sep":
        i -= 1
    if i < 0 or units[i].kind != "weak" or units[i].value != "0" or run[0].start - units[i].end > opts.max_gap:
        return run
    value = "".join(u.value for u in run if u.kind in ("digit", "weak", "x"))
    if plan_shape(value, language) is None and plan_shape("0" + value, language) is not None:
        return [dataclasses.replace(units[i], kind="digit"), *run]
    return run


def findings_summary(findings: list[Finding]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for f in findings:
        if f.kind == "pii":
            counts[f.details.type or "?"] = counts.get(f.details.type or "?", 0) + 1
    return counts
