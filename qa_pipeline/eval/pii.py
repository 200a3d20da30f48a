"""`qa eval pii`: recall and precision of ``pii`` findings, overall and per type (card, ID, phone, address…).

``--set samples``: scripted numbers in synthesized calls (recordings_sample/pii_eval and the labelled sample
calls) and real recordings that hold no card or ID numbers (false alarms). ``--set calls``: the independent
voiced calls (evalsets/calls), one split, with their ``non_pii`` numbers (orders, policies, amounts…) that must
not be findings. On either, the redacted audio can be transcribed again and every digit heard inside a
redacted span counted. ``--set utterances`` is text only (``qa_pipeline.eval.utterances``)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import Audio, load_audio
from qa_pipeline.config import DEFAULT_MAX_SECONDS, TranscribeOptions
from qa_pipeline.contracts import Call, Finding, Segment, Transcript, Word
from qa_pipeline.eval.diarization import RATE
from qa_pipeline.eval.rules import load_eval_calls
from qa_pipeline.eval.samples import load_manifest
from qa_pipeline.eval.utterances import PR
from qa_pipeline.stages.diarize import diarize
from qa_pipeline.stages.pii.checks import ID_CHECK, ID_WEIGHTS, luhn_valid
from qa_pipeline.stages.pii.detect import detect_pii, masked_numbers
from qa_pipeline.stages.pii.redact import redact_audio
from qa_pipeline.stages.pii.units import word_units
from qa_pipeline.stages.transcribe import transcribe_cached

_EN_WORD = dict(zip("0123456789", ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]))


_ZH_WORD = dict(zip("0123456789", "零一二三四五六七八九"))
# The sample calls were labelled before names, dates of birth, addresses, SSNs and security codes were types:
# on them only these are scored (the others are scored on the independent sets, which label every type).
SAMPLE_TYPES = frozenset({"bank_card", "cn_id", "phone", "email"})


def _luhn_number(rng: random.Random, prefix: str, length: int) -> str:

    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _cn_id(rng: random.Random) -> str:

    body = rng.choice(["110105", "310104", "440305", "510107"]) + f"{rng.randint(1960, 2004)}{rng.randint(1, 12):02d}" \
        f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS)) % 11]


def _spoken(digits: str, groups: list[int], lang: str, yao: bool = False) -> str:
    words, i = [], 0
    for g in groups:
        part = digits[i : i + g]
        i += g
        if lang == "en":
            words.append(" ".join(_EN_WORD[d] for d in part))
        else:
            words.append("".join("幺" if (yao and d == "1") else _ZH_WORD[d] for d in part))
    return (", " if lang == "en" else "，").join(words)


def synth_pii_items(seed: int = 7) -> list[tuple[str, str, str | None, str]]:
    """(language, sentence, pii type or None, value) read aloud in recordings_sample/pii_eval (scripts/make_samples.py)."""
    rng = random.Random(seed)
    items: list[tuple[str, str, str | None, str]] = []
    for _ in range(3):
        us = f"{rng.randint(2, 9)}{rng.randint(10, 99)}{rng.randint(2, 9)}{rng.randint(100000, 999999)}"
        items.append(("en", f"My phone number is {_spoken(us, [3, 3, 4], 'en')}.", "phone", us))
    for prefix in ("4", "51", "37"):
        n = 15 if prefix == "37" else 16
        card = _luhn_number(rng, prefix, n)
        groups = [4, 6, 5] if n == 15 else [4, 4, 4, 4]
        items.append(("en", f"The card number is {_spoken(card, groups, 'en')}.", "bank_card", card))
    acct = "".join(rng.choice("0123456789") for _ in range(8))
    items.append(("en", f"My account number is {_spoken(acct, [8], 'en')}.", "digits", acct))
    items.append(("en", "You can email me at mark dot jones at example dot com.", "email", "mark.jones@example.com"))
    items.append(("en", "Please send it to lisa at mailbox dot org.", "email", "lisa@mailbox.org"))
    for text in ("The appointment is at ten thirty on Tuesday.", "It costs two hundred and fifty dollars.",
                 "I bought the car in twenty eighteen, about two weeks ago.", "We have two options right now.",
                 "Please hold for one moment while I check."):
        items.append(("en", text, None, ""))
    for _ in range(3):
        mobile = "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))
        items.append(("zh", f"我的手机号码是{_spoken(mobile, [3, 4, 4], 'zh', yao=True)}。", "phone", mobile))
    for _ in range(2):
        cid = _cn_id(rng)
        spoken = _spoken(cid[:17], [6, 4, 4, 3], "zh") + ("叉" if cid[17] == "X" else _ZH_WORD[cid[17]])
        items.append(("zh", f"我的身份证号码是{spoken}。", "cn_id", cid))
    for _ in range(2):
        card = _luhn_number(rng, "622", 16)
        items.append(("zh", f"我的银行卡号是{_spoken(card, [4, 4, 4, 4], 'zh')}。", "bank_card", card))
    for text in ("我们下午三点见。", "一共是两百五十元。", "我一会儿给您回个电话。", "请您稍等一下。"):
        items.append(("zh", text, None, ""))
    return items


def pii_eval_calls(samples: Path | None) -> list[tuple[str, Path, list[dict[str, Any]]]]:
    """(name, path, pii events) of the calls that read ``synth_pii_items`` aloud: ``<samples>/pii_eval``, made by
    scripts/make_samples.py with the sample calls' voices (recorded-speaker TTS, not espeak-ng, whose Mandarin
    digits Whisper base could not hear)."""
    folder = samples / "pii_eval" if samples is not None else None
    if folder is None or not (folder / "labels.json").exists():
        return []
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))["calls"]
    return [(call_id, folder / call["path"], call["events"]) for call_id, call in labels.items()]


@dataclass
class PIIReport:
    files: list[dict[str, Any]] = field(default_factory=list)
    true_positives: int = 0
    false_negatives: int = 0
    false_positives: int = 0
    digits_heard_in_redacted_spans: int = 0
    redacted_spans_checked: int = 0
    type_right: int = 0  # detected events whose type (phone, card…) was also right
    per_type: dict[str, PR] = field(default_factory=dict)  # a finding counts for its type only when the type is right
    non_pii_numbers: int = 0  # labelled numbers that are not personal data (orders, policies, amounts…)
    non_pii_raised: int = 0  # … of them overlapped by a finding
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_alarms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        total = self.true_positives + self.false_negatives
        return self.true_positives / total if total else 1.0

    @property
    def precision(self) -> float:
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else 1.0

    def type_pr(self, kind: str) -> PR:
        return self.per_type.setdefault(kind, PR())

    def as_dict(self) -> dict[str, Any]:
        return {"recall": round(self.recall, 4), "precision": round(self.precision, 4), **self.__dict__,
                "per_type": {k: v.as_dict() for k, v in sorted(self.per_type.items())}}


def _overlaps(f: Finding, e: dict[str, Any], slack: float = 0.5) -> bool:
    return f.start < e["end"] + slack and f.end > e["start"] - slack


def score_findings(findings: list[Finding], events: list[dict[str, Any]], report: PIIReport, name: str) -> None:
    """Match findings to labelled events by time and speaker (when both are known).

    Overall, an event counts as detected when a ``pii`` finding covers it, whatever type the finding gives
    (what matters for privacy is that it is redacted); per type, only a finding of the event's type is a hit
    for that type, and a finding of another type is a miss of the one and a false alarm of the other.
    Events of type ``non_pii`` (and the samples' ``digits``: an account number) are numbers that must be
    masked but are not personal data: a finding over one is a false alarm, counted in ``non_pii_raised``.
    """
    numbers = [e for e in events if e.get("kind") == "non_pii" or e["type"] == "digits"]
    events = [e for e in events if e not in numbers]
    report.non_pii_numbers += len(numbers)
    # Raised on the number: a finding centred on it (an address said right after an account number is not).
    report.non_pii_raised += sum(any(e["start"] - 0.25 <= (f.start + f.end) / 2 <= e["end"] + 0.25 for f in findings)
                                 for e in numbers)
    used: set[int] = set()
    for e in events:
        candidates = [i for i, f in enumerate(findings) if i not in used and _overlaps(f, e)
                      and (e.get("speaker") in (None, "unknown") or f.speaker == e["speaker"])]
        match = next((i for i in candidates if findings[i].details.type == e["type"]),
                     candidates[0] if candidates else None)
        if match is None:
            report.false_negatives += 1
            report.type_pr(e["type"]).fn += 1
            report.misses.append({"file": name, "type": e["type"], "start": e["start"], "end": e["end"],
                                  "text": e.get("text", "")})
        else:
            used.add(match)
            report.true_positives += 1
            found = findings[match].details.type
            report.type_right += found == e["type"]
            report.type_pr(e["type"]).add(found == e["type"], True)
            if found != e["type"]:
                report.type_pr(found).fp += 1
                report.misses.append({"file": name, "type": e["type"], "start": e["start"], "end": e["end"],
                                      "text": e.get("text", ""), "found_as": found})
    for i, f in enumerate(findings):
        if i not in used:
            report.false_positives += 1
            report.type_pr(f.details.type).fp += 1
            report.false_alarms.append({"file": name, "type": f.details.type, "evidence": f.evidence,
                                        "start": f.start, "end": f.end, "speaker": f.speaker})


def digits_heard(transcript: Transcript, spans: list[tuple[float, float]]) -> int:
    """Digits (written or spoken, any language) that a transcript has inside ``spans``."""

    count = 0
    for seg in transcript.segments:
        for w in seg.words or [Word(seg.start, seg.end, seg.text, 1.0)]:
            mid = (w.start + w.end) / 2
            if any(a <= mid <= b for a, b in spans):
                count += sum(len(u.value) for u in word_units(w.text, (0, 0), w.start, w.end) if u.kind == "digit")
    return count


def evaluate_pii(
    shared: Path, samples: Path | None, asr: TranscribeOptions, check_redacted_audio: bool = True, pad: float = 0.15,
) -> PIIReport:
    report = PIIReport()
    jobs: list[tuple[str, Audio, list[dict[str, Any]]]] = [
        (name, load_audio(path), events) for name, path, events in pii_eval_calls(samples)
    ]
    if samples is not None and samples.exists():
        rows, labels = load_manifest(samples)
        for row in rows:  # every call: those without labelled personal data count the false alarms
            events = [e for e in labels.get(row["call_id"], {}).get("events", []) if e.get("kind") == "pii"]
            clip = load_audio(samples / row["path"], agent_channel=int(row.get("agent_channel") or 0))
            jobs.append((row["call_id"], clip, events))
    if (shared / "phone_en" / "sample.wav").exists():
        jobs.append(("phone_en/sample.wav (real)", load_audio(shared / "phone_en" / "sample.wav"), []))
    agent_wav = shared / "calls_en" / "Auto_Repairs_40_UTC_agent.wav"
    if agent_wav.exists() and not any(name.startswith("real_") for name, _, _ in jobs):
        agent = load_audio(agent_wav).channels[0]
        caller = load_audio(shared / "calls_en" / "Auto_Repairs_40_UTC_caller.wav").channels[0]
        n = min(len(agent), len(caller))
        jobs.append(("calls_en/Auto_Repairs_40 (real)", Audio(str(agent_wav), "calls_en-auto-repairs-40", 8000, 2,
                                                              "wav", n / RATE, [agent[:n], caller[:n]], "stereo"), []))
    for name, clip, events in jobs:
        transcript = diarize(clip, transcribe_cached(clip, asr))
        call = Call(call_id=name, audio_path=clip.path, layout=clip.layout)  # type: ignore[arg-type]
        _score_call(report, name, clip, transcript, call, events, asr if check_redacted_audio else None, pad,
                    SAMPLE_TYPES)
    return report


def evaluate_pii_set(folder: Path, split: str = "dev", model: str = "base", check_redacted_audio: bool = False,
                     pad: float = 0.15) -> PIIReport:
    """An evaluation set of voiced calls (evalsets/calls): its ``split`` calls, transcribed (cached) as
    ``qa eval rules --set calls`` transcribes them, mono calls diarized as the pipeline does, and scored
    against their ``pii`` and ``non_pii`` events."""
    report = PIIReport()
    for ec in load_eval_calls(folder, model, split):
        clip = load_audio(ec.call.audio_path, DEFAULT_MAX_SECONDS, ec.call.agent_channel, ec.call.layout)
        events = [e for e in ec.labels.get("events", []) if e.get("kind") in ("pii", "non_pii")]
        asr = TranscribeOptions(model=model, language=ec.call.language) if check_redacted_audio else None
        _score_call(report, ec.call.call_id, clip, diarize(clip, ec.transcript), ec.call, events, asr, pad)
    return report


def _score_call(report: PIIReport, name: str, clip: Audio, transcript: Transcript, call: Call,
                events: list[dict[str, Any]], asr: TranscribeOptions | None, pad: float,
                types: frozenset[str] | None = None) -> None:
    """Score one call's findings (of ``types``, default all); with ``asr``, transcribe its redacted audio again
    and count the digits heard inside what redaction covered (every masked number, not only the findings)."""
    findings = [f for f in detect_pii(transcript, call) if types is None or f.details.type in types]
    before = (report.true_positives, report.false_negatives, report.false_positives)
    score_findings(findings, events, report, name)
    entry: dict[str, Any] = {"file": name, "events": sum(e.get("kind") != "non_pii" for e in events),
                             "findings": len(findings), "tp": report.true_positives - before[0],
                             "fn": report.false_negatives - before[1], "fp": report.false_positives - before[2]}
    covered = masked_numbers(transcript, call)
    if asr is not None and covered:
        redacted = redact_audio(clip, covered, "tone", pad)
        red_clip = Audio(clip.path + "#redacted", clip.sha256 + "-redacted-" + _findings_key(covered), clip.source_rate,
                         clip.source_channels, clip.source_format, clip.duration, redacted, clip.layout)
        heard = digits_heard(transcribe_cached(red_clip, asr), [(f.start - pad, f.end + pad) for f in covered])
        entry["digits_heard_after_redaction"] = heard
        report.digits_heard_in_redacted_spans += heard
        report.redacted_spans_checked += len(covered)
    report.files.append(entry)


def reference_transcript(utterances: list[dict[str, Any]], language: str) -> Transcript:
    """A transcript from scripted utterances (word times spread evenly over each utterance)."""


    segments = []
    for u in utterances:
        tokens = re.findall(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+", u["text"])
        step = (u["end"] - u["start"]) / max(1, len(tokens))
        words = [Word(round(u["start"] + i * step, 3), round(u["start"] + (i + 1) * step, 3), tok, 1.0)
                 for i, tok in enumerate(tokens)]
        segments.append(Segment(u["speaker"], u["start"], u["end"], u["text"], u["text"], words=words))
    return Transcript(language, "reference", {}, max((u["end"] for u in utterances), default=0.0), segments)


def evaluate_pii_on_reference_text(samples: Path | None) -> PIIReport:
    """The detector alone, on the scripted text (no ASR): synthesized items and labelled sample calls."""
    report = PIIReport()
    items = synth_pii_items()
    for lang in ("en", "zh"):
        utterances, events, t = [], [], 0.0
        for _, (item_lang, text, kind, _value) in enumerate(items):
            if item_lang != lang:
                continue
            utterances.append({"speaker": "caller", "start": t, "end": t + 5.0, "text": text})
            if kind:
                events.append({"type": kind, "speaker": "caller", "start": t, "end": t + 5.0})
            t += 10.0
        score_findings(_of(detect_pii(reference_transcript(utterances, lang))), events, report, f"synth_{lang} (text)")
    if samples is not None and samples.exists():
        rows, labels = load_manifest(samples)
        for row in rows:
            label = labels.get(row["call_id"], {})
            if not label.get("utterances"):
                continue
            events = [e for e in label.get("events", []) if e.get("kind") == "pii"]
            ref = reference_transcript(label["utterances"], label.get("language", row.get("language", "en")))
            score_findings(_of(detect_pii(ref)), events, report, row["call_id"] + " (text)")
    return report


def _of(findings: list[Finding], types: frozenset[str] = SAMPLE_TYPES) -> list[Finding]:
    return [f for f in findings if f.details.type in types]


def render_types(title: str, per_type: dict[str, PR], non_pii: tuple[int, int] | None = None) -> str:
    """Precision and recall per personal-data type, and how many non-personal numbers were raised."""
    def pct(v: float | None) -> str:
        return "  –  " if v is None else f"{v:5.2f}"

    lines = [title]
    for kind, pr in sorted(per_type.items()):
        lines.append(f"  {kind:14s} precision {pct(pr.precision)} recall {pct(pr.recall)}  (tp {pr.tp} fp {pr.fp} fn {pr.fn})")
    if non_pii is not None:
        lines.append(f"  numbers that are not personal data (orders, policies, accounts, amounts…) raised as findings: "
                     f"{non_pii[0]} of {non_pii[1]} (masked in the redacted view all the same)")
    return "\n".join(lines)


def _findings_key(findings: list[Finding]) -> str:

    return hashlib.sha256(json.dumps([(f.start, f.end, f.speaker) for f in findings]).encode()).hexdigest()[:16]


def render_report(report: PIIReport, title: str, files: bool = False, details: bool = True) -> str:
    """Overall and per-type numbers of a run; ``files``: one line per call; ``details``: each miss and false
    alarm (not for a test split)."""
    lines = []
    for f in report.files if files else []:
        extra = (f" · digits heard after redaction {f['digits_heard_after_redaction']}"
                 if "digits_heard_after_redaction" in f else "")
        lines.append(f"{f['file']}: {f['events']} labelled, {f['findings']} found, tp {f['tp']} fn {f['fn']} fp {f['fp']}{extra}")
    for m in report.misses if details else []:
        how = f" (found as {m['found_as']})" if m.get("found_as") else ""
        lines.append(f"  missed {m['type']}{how} in {m['file']} at {m['start']:.1f}-{m['end']:.1f} s {m.get('text', '')}")
    for m in report.false_alarms if details else []:
        lines.append(f"  false alarm {m['evidence']} in {m['file']} at {m['start']:.1f} s")
    lines.append(f"{title}: recall {report.recall:.3f} precision {report.precision:.3f} (tp {report.true_positives}, "
                 f"fn {report.false_negatives}, fp {report.false_positives}; type right {report.type_right})")
    if report.redacted_spans_checked:
        lines.append(f"  digits heard in {report.redacted_spans_checked} redacted spans: {report.digits_heard_in_redacted_spans}")
    lines.append(render_types("  per type", report.per_type, (report.non_pii_raised, report.non_pii_numbers)
                              if report.non_pii_numbers else None))
    return "\n".join(lines)
