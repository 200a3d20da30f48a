"""`qa eval rules|pii --set utterances`: the rules and the personal-data detector on the independent text set.

Each item (evalsets/utterances/<lang>.jsonl) becomes a short call: its context turns, then the utterance,
each a segment whose words are spaced like Whisper's (0.3 s a token, 1 s between turns). The product's own
stages run on it unchanged; what they find inside the utterance's span is compared with the item's labels.
No audio and no ASR: this measures the rules' judgement on how people talk, apart from recognition errors
(the voiced call set measures both together).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.config import PrivacyConfig
from qa_pipeline.contracts import Call, Finding, Segment, Transcript, Word
from qa_pipeline.stages.pii import detect_pii
from qa_pipeline.stages.rules.examples import word_pieces
from qa_pipeline.stages.rules.matcher import build_streams, normalize_tokens
from qa_pipeline.stages.rules.pack import RulePack, load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import check_script

STEPS = ("greeting", "verification", "empathy", "recap", "closing")
TOKEN_SECONDS = 0.3
TURN_GAP = 1.0
# The product's personal-data types, as the set names them; "digits" (an unexplained long number) is no type.
PII_TYPES = {"bank_card": "bank_card", "cn_id": "cn_id", "phone": "phone", "email": "email", "ssn": "ssn",
             "address": "address", "security_code": "security_code", "person_name": "person_name", "dob": "dob"}


def load_items(root: Path, language: str, split: str = "dev") -> list[dict[str, Any]]:
    path = root / "utterances" / f"{language}.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [i for i in items if split == "all" or i["split"] == split]


def item_transcript(item: dict[str, Any]) -> tuple[Transcript, tuple[float, float]]:
    """The item as a transcript, and the time span of the utterance being judged."""
    segments, t = [], 0.0
    span = (0.0, 0.0)
    turns = [*item.get("context", []), {"speaker": item["speaker"], "text": item["text"]}]
    for n, turn in enumerate(turns):
        tokens = normalize_tokens(turn["text"]) or [turn["text"]]
        # The words carry the text as written (punctuation kept at the word it follows, as Whisper does).
        pieces = word_pieces(turn["text"], len(tokens))
        words = [Word(round(t + i * TOKEN_SECONDS, 3), round(t + (i + 1) * TOKEN_SECONDS, 3), p, 0.9)
                 for i, p in enumerate(pieces)]
        end = words[-1].end if words else t
        segments.append(Segment(turn["speaker"], round(t, 3), end, turn["text"], turn["text"], words=words))
        if n == len(turns) - 1:
            span = (round(t, 3), end)
        t = end + TURN_GAP
    language = item["language"]
    return Transcript(language=language, model_id="reference", settings={}, duration=round(t, 3),
                      segments=segments), span


@dataclass
class PR:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def add(self, predicted: bool, gold: bool) -> None:
        self.tp += predicted and gold
        self.fp += predicted and not gold
        self.fn += gold and not predicted

    def as_dict(self) -> dict[str, Any]:
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": r(self.precision), "recall": r(self.recall)}


@dataclass
class UtteranceReport:
    language: str
    split: str
    items: int = 0
    steps: dict[str, PR] = field(default_factory=lambda: {s: PR() for s in STEPS})
    banned: PR = field(default_factory=PR)  # agent items: any banned finding vs any banned label
    banned_category: dict[str, PR] = field(default_factory=lambda: defaultdict(PR))
    allowed_flagged: int = 0
    allowed_items: int = 0
    escalation: PR = field(default_factory=PR)
    pii: dict[str, PR] = field(default_factory=lambda: defaultdict(PR))
    non_pii_items: int = 0
    non_pii_flagged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # misses and false alarms, for dev tuning

    def as_dict(self) -> dict[str, Any]:
        return {"language": self.language, "split": self.split, "items": self.items,
                "steps": {k: v.as_dict() for k, v in self.steps.items()}, "banned": self.banned.as_dict(),
                "banned_category": {k: v.as_dict() for k, v in sorted(self.banned_category.items())},
                "allowed": {"items": self.allowed_items, "flagged": self.allowed_flagged},
                "escalation": self.escalation.as_dict(), "pii": {k: v.as_dict() for k, v in sorted(self.pii.items())},
                "non_pii": {"items": self.non_pii_items, "flagged": self.non_pii_flagged}, "errors": self.errors}


def _inside(f: Finding, span: tuple[float, float]) -> bool:
    return f.start < span[1] and f.end > span[0]


def judge(item: dict[str, Any], pack: RulePack, privacy: PrivacyConfig) -> dict[str, Any]:
    """What the product found in the item's utterance: steps passed, banned categories, escalation, PII types."""
    transcript, span = item_transcript(item)
    call = Call(call_id=item["id"], audio_path="", language=item["language"], call_type="default")
    streams = build_streams(transcript)
    findings = detect_phrases(transcript, call, pack, streams=streams) + check_script(transcript, call, pack,
                                                                                        streams=streams)
    mine = [f for f in findings if _inside(f, span)]
    return {
        "steps": sorted({f.details.step for f in mine if f.kind == "script_step" and f.status == "pass"
                         and not f.details.order_violation}),
        "banned": sorted({f.category for f in mine if f.kind == "banned_phrase" and f.speaker == item["speaker"]}),
        "banned_evidence": [f"{f.rule_id} [{f.details.tier}] {f.details.matched!r}" for f in mine if f.kind == "banned_phrase"],
        "escalation": any(f.kind == "escalation" for f in mine),
        "pii": pii_found(item, privacy, transcript, span),
    }


def pii_found(item: dict[str, Any], privacy: PrivacyConfig, transcript: Transcript | None = None,
              span: tuple[float, float] | None = None) -> list[str]:
    """The personal-data types the detector finds inside the item's utterance."""
    if transcript is None or span is None:
        transcript, span = item_transcript(item)
    call = Call(call_id=item["id"], audio_path="", language=item["language"], call_type="default")
    return sorted({f.category for f in detect_pii(transcript, call, privacy) if _inside(f, span)})


def evaluate(root: Path, language: str, split: str = "dev", rules: list[Path] | None = None,
             privacy: PrivacyConfig | None = None, pii_only: bool = False) -> UtteranceReport:
    """Every label of the items; ``pii_only``: only personal data (``qa eval pii --set utterances``)."""
    pack = None if pii_only else load_rule_pack(rules, language)
    privacy = privacy or PrivacyConfig()
    report = UtteranceReport(language, split)
    for item in load_items(root, language, split):
        report.items += 1
        labels = item["labels"]
        got = {"pii": pii_found(item, privacy)} if pack is None else judge(item, pack, privacy)

        def error(what: str, item: dict[str, Any] = item, **extra: Any) -> None:
            report.errors.append({"id": item["id"], "what": what, "text": item["text"], **extra})

        if pack is None:
            pass
        elif item["speaker"] == "agent":
            for step in STEPS:
                gold, predicted = step in labels["steps"], step in got["steps"]
                report.steps[step].add(predicted, gold)
                if gold != predicted:
                    error(f"step {step} {'missed' if gold else 'false pass'}")
            gold_banned, predicted_banned = bool(labels["banned"]), bool(got["banned"])
            report.banned.add(predicted_banned, gold_banned)
            for category in set(labels["banned"]) | set(got["banned"]):
                report.banned_category[category].add(category in got["banned"], category in labels["banned"])
            if gold_banned != predicted_banned or set(labels["banned"]) != set(got["banned"]):
                error("banned", gold=labels["banned"], found=got["banned"], evidence=got["banned_evidence"])
            if labels["allowed"]:
                report.allowed_items += 1
                report.allowed_flagged += predicted_banned
        else:
            report.escalation.add(got["escalation"], labels["escalation"])
            if got["escalation"] != labels["escalation"]:
                error(f"escalation {'missed' if labels['escalation'] else 'false alarm'}")
        gold_pii = {PII_TYPES.get(s["type"], s["type"]) for s in labels["pii"]}
        for kind in gold_pii | set(got["pii"]):
            report.pii[kind].add(kind in got["pii"], kind in gold_pii)
        if gold_pii != set(got["pii"]):
            error("pii", gold=sorted(gold_pii), found=got["pii"])
        if labels["non_pii"] and not gold_pii:
            report.non_pii_items += 1
            report.non_pii_flagged += bool(got["pii"])
    return report


def render(report: UtteranceReport, show_errors: bool = False) -> str:
    def pct(v: float | None) -> str:
        return "  –  " if v is None else f"{v:5.2f}"

    lines = [f"utterances {report.language} ({report.split}): {report.items} items"]
    for step, pr in report.steps.items():
        lines.append(f"  step {step:13s} precision {pct(pr.precision)} recall {pct(pr.recall)}  (tp {pr.tp} fp {pr.fp} fn {pr.fn})")
    b = report.banned
    lines.append(f"  banned (any)       precision {pct(b.precision)} recall {pct(b.recall)}  (tp {b.tp} fp {b.fp} fn {b.fn})")
    for category, pr in sorted(report.banned_category.items()):
        lines.append(f"    {category:16s} precision {pct(pr.precision)} recall {pct(pr.recall)}  (tp {pr.tp} fp {pr.fp} fn {pr.fn})")
    lines.append(f"  allowed lines flagged: {report.allowed_flagged} of {report.allowed_items}")
    e = report.escalation
    lines.append(f"  escalation         precision {pct(e.precision)} recall {pct(e.recall)}  (tp {e.tp} fp {e.fp} fn {e.fn})")
    for kind, pr in sorted(report.pii.items()):
        lines.append(f"  pii {kind:14s} precision {pct(pr.precision)} recall {pct(pr.recall)}  (tp {pr.tp} fp {pr.fp} fn {pr.fn})")
    lines.append(f"  items with only non-personal numbers flagged as personal data: {report.non_pii_flagged} of {report.non_pii_items}")
    if show_errors:
        counts = Counter(err["what"].split(" ")[0] for err in report.errors)
        lines.append(f"  errors: {dict(counts)}")
        for err in report.errors:
            extra = {k: v for k, v in err.items() if k not in ("id", "what", "text")}
            lines.append(f"    {err['id']} {err['what']}: {err['text']} {extra if extra else ''}")
    return "\n".join(lines)
