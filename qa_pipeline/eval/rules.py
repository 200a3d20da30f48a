"""`qa eval rules`: precision and recall of phrases and script steps at real ASR noise.

The sample calls (``recordings_sample/manifest.csv`` + ``labels.json``) are transcribed by the base
Whisper model (``transcribe_cached``: the same transcripts the pipeline sees, never the text they were
synthesized from) and the rules run on those transcripts. A finding matches a labelled event when the
kind agrees, the speaker agrees (a mono call's ``unknown`` speaker agrees with either) and the times
overlap within ``tolerance`` seconds; matching is one to one. The baseline is plain exact substring
search of each rule phrase in each segment's normalised text (what a keyword list does).

Script steps are scored per step over the calls whose label is ``present`` or ``missing``; calls labelled
``na`` are counted apart (a ``fail`` there is a wrong demand on the agent).
The real call's hand labels (``evalsets/real_call/labels.json``) check the steps' timestamps.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import load_audio
from qa_pipeline.base.textnorm import normalize_for_match
from qa_pipeline.config import DEFAULT_MAX_SECONDS, TranscribeOptions
from qa_pipeline.contracts import Call, Finding, PhraseMatch, Transcript
from qa_pipeline.stages.rules.matcher import sound_keys
from qa_pipeline.stages.rules.pack import RulePack, load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import check_script
from qa_pipeline.stages.transcribe import transcribe_cached

PHRASE_KINDS = ("banned_phrase", "escalation")
PHRASE_TIERS = ("baseline", "exact", "regex", "fuzzy", "sound")
STEP_TIERS = ("exact", "fuzzy", "semantic", "sound")
# ``sound`` is not a tier of the packs but a measured variant: the default tiers (fuzzy for phrases, semantic
# for steps) with the sound keys that are off by default switched on (``phrases.sound_keys``).
# Real speech with no banned phrase and no labels but that: its findings are false alarms.
EXTRA_COMPLIANT = (("phone_en/sample.wav", "en"),)
REAL_CALL_LABELS = Path(__file__).resolve().parents[2] / "evalsets" / "real_call" / "labels.json"


@dataclass
class EvalCall:
    call: Call
    transcript: Transcript
    labels: dict[str, Any]


def load_eval_calls(samples: Path, model: str = "base", split: str = "all") -> list[EvalCall]:
    """Manifest rows with labels, transcribed (cached) with the manifest's language and agent channel.
    ``split``: dev | test keeps the calls labelled so (an evaluation set); all keeps every call."""

    labels = json.loads((samples / "labels.json").read_text(encoding="utf-8"))["calls"]
    out = []
    with open(samples / "manifest.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["call_id"] not in labels or split not in ("all", labels[row["call_id"]].get("split", split)):
                continue
            channel = int(row.get("agent_channel") or 0)
            audio = load_audio(samples / row["path"], DEFAULT_MAX_SECONDS, channel, row.get("layout") or None)
            transcript = transcribe_cached(audio, TranscribeOptions(model=model, language=row["language"]))
            call = Call(call_id=row["call_id"], audio_path=str(samples / row["path"]), agent_id=row["agent_id"],
                        language=row["language"], layout=audio.layout, agent_channel=channel,  # type: ignore[arg-type]
                        call_type=row.get("call_type") or "default")
            out.append(EvalCall(call, transcript, labels[row["call_id"]]))
    return out


def load_extra_compliant(shared: Path, model: str = "base") -> list[EvalCall]:
    """EXTRA_COMPLIANT recordings (those present), transcribed (cached) like the samples: labelled compliant
    with no events, so they count only towards false alarms per agent-hour."""

    out = []
    for rel, language in EXTRA_COMPLIANT:
        path = shared / rel
        if not path.exists():
            continue
        audio = load_audio(path, DEFAULT_MAX_SECONDS, 0, None)
        transcript = transcribe_cached(audio, TranscribeOptions(model=model, language=language))
        call = Call(call_id=rel, audio_path=str(path), language=language, layout=audio.layout)  # type: ignore[arg-type]
        out.append(EvalCall(call, transcript, {"events": [], "compliant": True, "script": {}}))
    return out


def baseline_findings(transcript: Transcript, call: Call, pack: RulePack) -> list[Finding]:
    """Exact substring of each phrase in each segment's normalised text; no fuzziness, exceptions or regexes."""
    out = []
    for seg in transcript.segments:
        text = normalize_for_match(seg.text)
        compact = text.replace(" ", "") if pack.language == "zh" else f" {text} "
        for rule in pack.rules.values():
            if rule.speaker != "any" and seg.speaker not in (rule.speaker, "unknown"):
                continue
            for phrase in rule.phrases:
                p = normalize_for_match(phrase.replace("'", ""))
                needle = p.replace(" ", "") if pack.language == "zh" else f" {p} "
                hay = compact if pack.language == "zh" else compact.replace("'", "")
                if needle.strip() and needle in hay:
                    out.append(Finding(call.call_id, rule.kind, rule.id, pack.version, seg.speaker, seg.start,
                                       seg.end, seg.text, 1.0, rule.severity,
                                       PhraseMatch(category=rule.category, tier="baseline")))
                    break
    return out


def heard(transcript: Transcript, event: dict[str, Any]) -> bool:
    """Did the ASR produce any words of the event's speaker over the event? (Otherwise no rule can match.)"""
    for seg in transcript.segments:
        if seg.speaker not in (event.get("speaker"), "unknown"):
            continue
        for w in seg.words or []:
            if w.start < event["end"] + 0.5 and event["start"] - 0.5 < w.end:
                return True
    return False


def _overlaps(f: Finding, e: dict[str, Any], tol: float) -> bool:
    return f.start <= e["end"] + tol and e["start"] - tol <= f.end


def match_events(findings: list[Finding], events: list[dict[str, Any]], tol: float
                 ) -> tuple[list[tuple[Finding, dict]], list[Finding], list[dict], int]:
    """Greedy matching of findings to labelled events: (pairs, false findings, missed events, duplicates).

    Each event is matched once; a further finding on an already matched event (two rules firing on
    one sentence) is a duplicate, counted apart and neither a hit nor a false alarm.
    """
    pairs, used = [], set()
    unmatched, duplicates = [], 0

    def agrees(f: Finding, e: dict[str, Any]) -> bool:
        return (e["kind"] == f.kind and (f.speaker == "unknown" or e.get("speaker") in (f.speaker, None))
                and _overlaps(f, e, tol))

    for f in sorted(findings, key=lambda f: -f.confidence):
        best = next((i for i, e in enumerate(events) if i not in used and agrees(f, e)), None)
        if best is not None:
            used.add(best)
            pairs.append((f, events[best]))
        elif any(agrees(f, e) for e in events):
            duplicates += 1
        else:
            unmatched.append(f)
    missed = [e for i, e in enumerate(events) if i not in used]
    return pairs, unmatched, missed, duplicates


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    fn_unheard: int = 0  # misses where the ASR produced no words at all: no text rule could match

    @property
    def recall_heard(self) -> float | None:
        n = self.tp + self.fn - self.fn_unheard
        return self.tp / n if n else None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if (p is not None or r is not None) else None)

    def row(self) -> dict[str, Any]:
        rnd = lambda v: None if v is None else round(v, 3)  # noqa: E731
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "fn_unheard": self.fn_unheard,
                "precision": rnd(self.precision), "recall": rnd(self.recall), "f1": rnd(self.f1),
                "recall_heard": rnd(self.recall_heard)}


@dataclass
class EvalReport:
    phrases: dict[str, dict[str, Any]] = field(default_factory=dict)  # tier -> kind -> counts
    per_rule: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    false_alarms: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # tier -> step -> counts
    real_call: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # every miss and false alarm, for reading
    compliant_calls: list[str] = field(default_factory=list)  # whose banned findings are false alarms
    calls: int = 0
    versions: dict[str, str] = field(default_factory=dict)


def evaluate(calls: list[EvalCall], packs: dict[str, RulePack], tol: float = 2.0,
             real_labels: Path | None = REAL_CALL_LABELS) -> EvalReport:
    report = EvalReport(calls=len(calls), versions={k: p.version for k, p in packs.items()})
    duplicates: dict[str, int] = {}
    missed_default: set[tuple[str, str, float]] = set()
    for tier in PHRASE_TIERS:
        per_kind = {k: Counts() for k in PHRASE_KINDS}
        per_rule: dict[str, Counts] = {}
        per_cat: dict[str, Counts] = {}
        fa, compliant_hours = 0, 0.0
        for ec in calls:
            pack = packs[ec.call.language if ec.call.language in packs else "zh"]
            if tier == "baseline":
                found = baseline_findings(ec.transcript, ec.call, pack)
            elif tier == "sound":
                with sound_keys():
                    found = detect_phrases(ec.transcript, ec.call, pack, max_tier="fuzzy")
            else:
                found = detect_phrases(ec.transcript, ec.call, pack, max_tier=tier)
            events = [e for e in ec.labels["events"] if e["kind"] in PHRASE_KINDS]
            pairs, unmatched, missed, dups = match_events(found, events, tol)
            duplicates[tier] = duplicates.get(tier, 0) + dups
            for f, e in pairs:
                per_kind[f.kind].tp += 1
                per_rule.setdefault(f.rule_id, Counts()).tp += 1
                per_cat.setdefault(f"{e['kind']}:{e.get('category', '')}", Counts()).tp += 1
            for f in unmatched:
                per_kind[f.kind].fp += 1
                per_rule.setdefault(f.rule_id, Counts()).fp += 1
                if tier in ("fuzzy", "sound"):
                    report.errors.append(f"{ec.call.call_id}: false {f.kind} {f.rule_id} {f.speaker} "
                                         f"{f.start:.1f}-{f.end:.1f} {f.details.matched!r} in {f.evidence!r}"
                                         + (" [sound variant]" if tier == "sound" else ""))
            if tier == "sound":
                for f, e in pairs:
                    if (ec.call.call_id, e["kind"], e["start"]) in missed_default:
                        report.errors.append(f"{ec.call.call_id}: recovered {e['kind']} {e['start']:.1f} "
                                             f"{e.get('text', '')!r} by {f.details.matched!r} [sound variant]")
            for e in missed:
                was_heard = heard(ec.transcript, e)
                if tier == "fuzzy":
                    missed_default.add((ec.call.call_id, e["kind"], e["start"]))
                per_kind[e["kind"]].fn += 1
                per_kind[e["kind"]].fn_unheard += not was_heard
                per_cat.setdefault(f"{e['kind']}:{e.get('category', '')}", Counts()).fn += 1
                if tier == "fuzzy":
                    asr_text = " / ".join(s.text for s in ec.transcript.segments
                                       if s.start <= e["end"] + tol and e["start"] - tol <= s.end)
                    report.errors.append(f"{ec.call.call_id}: missed {e['kind']} {e.get('category', '')} "
                                         f"{e['start']:.1f}-{e['end']:.1f} {e.get('text', '')!r}; ASR heard {asr_text!r}")
            if ec.labels.get("compliant"):
                compliant_hours += ec.transcript.duration / 3600
                if tier == "fuzzy":
                    report.compliant_calls.append(ec.call.call_id)
                fa += sum(1 for f in unmatched if f.kind == "banned_phrase")
        report.phrases[tier] = {k: c.row() for k, c in per_kind.items()}
        report.false_alarms[tier] = {"false_alarms": fa, "hours": round(compliant_hours, 3),
                                     "duplicates": duplicates.get(tier, 0),
                                     "per_agent_hour": round(fa / compliant_hours, 2) if compliant_hours else None}
        if tier == "fuzzy":
            report.per_rule = {k: c.row() for k, c in sorted(per_rule.items())}
            report.per_category = {k: c.row() for k, c in sorted(per_cat.items())}

    default_status: dict[tuple[str, str], str] = {}
    for tier in STEP_TIERS:
        counts: dict[str, Counts] = {}
        na_wrong: dict[str, int] = {}
        for ec in calls:
            pack = packs[ec.call.language if ec.call.language in packs else "zh"]
            if tier == "sound":
                with sound_keys():
                    script = check_script(ec.transcript, ec.call, pack, max_tier="semantic")
            else:
                script = check_script(ec.transcript, ec.call, pack, max_tier=tier)
            results = {f.rule_id: f for f in script if not f.details.order_violation}
            step_events = {e["step"]: e for e in ec.labels["events"] if e["kind"] == "script_step"}
            for step, label in ec.labels.get("script", {}).items():
                if step not in results:
                    continue
                status = results[step].details.status
                c = counts.setdefault(step, Counts())
                if label == "present":
                    c.tp += status == "pass"
                    c.fn += status != "pass"
                    if status != "pass" and step in step_events and not heard(ec.transcript, step_events[step]):
                        c.fn_unheard += 1
                elif label == "missing":
                    c.fp += status == "pass"
                elif label == "na" and status == "fail":
                    na_wrong[step] = na_wrong.get(step, 0) + 1
                if tier == "semantic" and ((label == "present") != (status == "pass")) and label != "na":
                    report.errors.append(f"{ec.call.call_id}: step {step} labelled {label}, got {status}"
                                         + _step_context(ec.transcript, step_events.get(step), results[step], tol))
                if tier == "semantic" and label == "na" and status == "fail":
                    report.errors.append(f"{ec.call.call_id}: step {step} labelled na, got fail")
                if tier == "semantic":
                    default_status[(ec.call.call_id, step)] = status
                if tier == "sound" and default_status.get((ec.call.call_id, step)) != status:
                    report.errors.append(f"{ec.call.call_id}: step {step} labelled {label}, got {status} with the "
                                         f"sound keys, {default_status.get((ec.call.call_id, step))} without "
                                         f"{results[step].details.matched!r} [sound variant]")
        report.steps[tier] = {s: {**c.row(), "na_but_fail": na_wrong.get(s, 0)} for s, c in counts.items()}

    if real_labels and real_labels.exists():
        report.real_call = evaluate_real_call(calls, packs, real_labels, tol)
    return report


def _step_context(transcript: Transcript, event: dict[str, Any] | None, result: Finding, tol: float) -> str:
    """What was said and what the ASR heard (that speaker, around the labelled time), and the step's window."""
    if event is None:
        return ""
    heard_text = " / ".join(s.text for s in transcript.segments
                            if s.speaker in (event.get("speaker"), "unknown")
                            and s.start <= event["end"] + tol and event["start"] - tol <= s.end)
    window = result.details.window
    trigger = result.details.trigger
    return (f" {event['start']:.1f}-{event['end']:.1f} {event.get('text', '')!r}; ASR heard {heard_text!r}; window {window}"
            + (f"; trigger at {trigger.start:.1f} {trigger.text!r}" if trigger else ""))


def evaluate_real_call(calls: list[EvalCall], packs: dict[str, RulePack], labels_path: Path, tol: float) -> dict[str, Any]:
    """Hand-labelled steps of the real call: does each pass, and does its time agree with the label?"""
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    ec = next((c for c in calls if c.call.call_id == labels["call_id"]), None)
    if ec is None:
        return {"error": f"{labels['call_id']} is not among the evaluated calls"}
    pack = packs[ec.call.language if ec.call.language in packs else "en"]
    results = {f.rule_id: f for f in check_script(ec.transcript, ec.call, pack) if not f.details.order_violation}
    out = {}
    for item in labels["labels"]:
        f = results.get(item["step"])
        status = f.details.status if f else "absent"
        spans = [(f.start, f.end)] + [tuple(o) for o in f.details.occurrences] if f and status == "pass" else []
        hit = next((sp for sp in spans if sp[0] <= item["end"] + tol and item["start"] - tol <= sp[1]), None)
        ok_time = hit is not None
        out[item["name"]] = {"step": item["step"], "status": status, "label": [item["start"], item["end"]],
                             "found": list(hit) if hit else ([f.start, f.end] if f and status == "pass" else None),
                             "time_ok": ok_time, "evidence": f.evidence if f else ""}
    return out


def run(samples: Path, model: str = "base", rules: list[Path] | None = None, tol: float = 2.0,
        shared: Path | None = None, split: str = "all") -> EvalReport:
    """``shared``: the reference data holding EXTRA_COMPLIANT (None: the samples alone)."""
    calls = load_eval_calls(samples, model, split) + (load_extra_compliant(shared, model) if shared else [])
    packs = {lang: load_rule_pack(rules, lang) for lang in ("zh", "en")}
    return evaluate(calls, packs, tol)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def render(report: EvalReport) -> str:
    lines = [f"# qa eval rules · {report.calls} calls · base-model transcripts · overlap ±2 s",
             "R heard: recall over the labelled events where the ASR produced any words of that speaker",
             "", "phrases        tier         P     R  R heard  (tp/fp/fn)  false alarms/agent-hour (compliant calls)"]
    for tier in PHRASE_TIERS:
        for kind in PHRASE_KINDS:
            r = report.phrases[tier][kind]
            fa = report.false_alarms[tier]["per_agent_hour"] if kind == "banned_phrase" else None
            lines.append(f"{kind:14s} {tier:8s} {_fmt(r['precision']):>5s} {_fmt(r['recall']):>5s} "
                         f"{_fmt(r['recall_heard']):>7s}  ({r['tp']}/{r['fp']}/{r['fn']})  {_fmt(fa) if fa is not None else ''}")
    fa = report.false_alarms.get("fuzzy", {})
    lines.append(f"(compliant audio: {fa.get('hours')} h, {fa.get('false_alarms')} false alarms with the default "
                 f"tiers; {fa.get('duplicates')} duplicate findings on already matched events, not counted)")
    lines.append(f"(compliant calls: {', '.join(report.compliant_calls)})")
    lines.append("(sound: the default tiers plus the sound keys that are off by default: Metaphone for English "
                 "phrases of 3+ words, aspiration fold p/b t/d k/g for Mandarin)")
    lines += ["", "per rule (all tiers)      P     (tp/fp)"]
    for rule, r in report.per_rule.items():
        lines.append(f"  {rule:24s} {_fmt(r['precision']):>5s} ({r['tp']}/{r['fp']})")
    lines += ["", "per labelled category     R     (tp/fn)"]
    for cat, r in report.per_category.items():
        lines.append(f"  {cat:28s} {_fmt(r['recall']):>5s} ({r['tp']}/{r['fn']})")
    lines += ["", "script steps  tier         P     R    F1  R heard  (tp/fp/fn)  na-but-fail"]
    for tier in STEP_TIERS:
        for step, r in report.steps[tier].items():
            lines.append(f"  {step:12s} {tier:8s} {_fmt(r['precision']):>5s} {_fmt(r['recall']):>5s} "
                         f"{_fmt(r['f1']):>5s} {_fmt(r['recall_heard']):>7s}  ({r['tp']}/{r['fp']}/{r['fn']})  "
                         f"{r['na_but_fail']}")
    if report.real_call:
        lines += ["", "real call (hand labels)"]
        for name, r in report.real_call.items():
            if isinstance(r, dict):
                lines.append(f"  {name:18s} {r['step']:12s} {r['status']:5s} label {r['label']} found {r['found']} "
                             f"time {'ok' if r['time_ok'] else 'not found'}")
    if report.errors:
        lines += ["", "misses and false alarms (all tiers)"] + [f"  {e}" for e in report.errors]
    return "\n".join(lines)
