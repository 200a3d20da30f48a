"""Digits read by sound (Mandarin): characters that sound like digits where Whisper wrote look-alikes; a
candidate becomes a finding only when it validates as a phone, an ID or a card."""

from __future__ import annotations

import dataclasses

from qa_pipeline.config import PrivacyConfig
from qa_pipeline.contracts import Finding, PIIMatch
from qa_pipeline.stages.pii.checks import RULE_VERSION, mask_digits, number_rule, validated_number
from qa_pipeline.stages.pii.spoken_digits import is_cjk, sound_digits
from qa_pipeline.stages.pii.units import Unit, run_spans, word_spans

SOUND_MIN_UNITS = 7  # a shorter stretch of digit-sounding characters is never a candidate


# One stray unit at either end of a run may be dropped ("是" in "号码是要求求…"), no more: every window tried is
# another chance for a random run to pass a check (a 16-digit window passes Luhn one time in ten), and with two
# dropped units an 18-digit run whose ID check fails still held a Luhn-valid 16- or 17-digit window half the time.
SOUND_MAX_TRIM = 1




SOUND_MIN_READ = 3  # fewer characters read by sound: the written digits decide (a Luhn pass by adding 是 is chance)


def sound_values(units: list[Unit]) -> list[str | None]:
    """For each unit: the digit a Mandarin character sounds like (if it is not a written digit), else None."""

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


def sound_runs(units: list[Unit], sound: list[str | None], opts: PrivacyConfig) -> list[list[tuple[Unit, str, bool]]]:
    """Stretches of digits (written or read by sound) joined only by separators: (unit, digit, by sound)."""
    runs: list[list[tuple[Unit, str, bool]]] = []
    current: list[tuple[Unit, str, bool]] = []
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


def _sound_window(run: list[tuple[Unit, str, bool]]) -> tuple[int, int, str, str] | None:
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


def sound_findings(units: list[Unit], speaker: str, call_id: str, opts: PrivacyConfig) -> list[Finding]:
    """Numbers Whisper wrote as look-alike Mandarin characters (要求求起屋 for 幺九九七五).

    Only a run of at least SOUND_MIN_UNITS digit-sounding units, joined by nothing but separators, is a
    candidate, and it becomes a finding only when it (less one stray unit at an end) validates as a Chinese
    ID (check digit), a bank card (Luhn, 16 or 19 digits) or a Chinese mobile number (11 digits, 1[3-9]):
    ordinary text rarely holds 11 digit-sounding characters in a row, and a random run rarely passes the checks.
    """
    findings = []
    for run in sound_runs(units, sound_values(units), opts):
        hit = _sound_window(run)
        if hit is None:
            continue
        first, last, pii_type, check = hit
        window = run[first : last + 1]
        value = "".join(v for _, v, _ in window)
        rule_id, severity = number_rule(pii_type, speaker)
        n_sound = sum(1 for _, _, by_sound in window if by_sound)
        findings.append(Finding(
            call_id=call_id, kind="pii", rule_id=rule_id,
            rule_version=RULE_VERSION, speaker=speaker,  # type: ignore[arg-type]
            start=round(window[0][0].start, 3), end=round(window[-1][0].end, 3),
            evidence=f"{pii_type}: {mask_digits(value)} (read by sound)",
            confidence=0.7 if check in ("luhn", "gb11643") else 0.5,
            severity=severity,
            details=PIIMatch(type=pii_type, masked=mask_digits(value), n_digits=len(value), check=check,
                             read_by="sound", sound_units=n_sound, spans=run_spans([u for u, _, _ in window])),
        ))
    return findings


def merge_sound(found: list[Finding], by_sound: list[Finding]) -> list[Finding]:
    """Add sound-read numbers where the written-digit detector found nothing validated at that time.

    A sound-read number replaces an unvalidated "digits" finding it overlaps (the written digits were a part
    of it); it is dropped where a validated finding of the same speaker already covers that time.
    """
    out = list(found)
    for f in by_sound:
        overlapping = [g for g in out if g.speaker == f.speaker and g.start < f.end and g.end > f.start]
        if any(g.details.type != "digits" for g in overlapping):
            continue
        out = [g for g in out if g not in overlapping]
        spans = sorted(word_spans(tuple(s) for g in overlapping + [f] for s in g.details.spans))
        start = min([f.start] + [g.start for g in overlapping])
        end = max([f.end] + [g.end for g in overlapping])
        out.append(dataclasses.replace(f, start=start, end=end, details=dataclasses.replace(f.details, spans=spans)))
    return out
