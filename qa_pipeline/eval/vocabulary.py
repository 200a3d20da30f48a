"""`qa eval vocabulary`: how many of a call's own names (its company, products, plans) the transcript spells as
given, without and with ``asr.vocabulary``, on voiced calls with their scripts.

A call's names come from a names file (``{call_id: [name, …]}``, e.g. ``evalsets/calls/vocabulary.yaml``), and
each call is transcribed twice: with the configured settings and no vocabulary, then with that call's names as
the vocabulary of its language. A name counts as heard where the product's own rule finds it (the rules stage's
protected words: its normalised tokens in a row, case and spaces aside), in the script and in the transcript
alike; recall is names heard over names said, per occurrence. The error rate of the whole call (WER/CER against
the script) is reported beside it, since a prompt can cost words elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import load_audio
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.config.yamlfile import Reader, load_yaml
from qa_pipeline.contracts import Transcript
from qa_pipeline.eval.asr import count_errors, hypothesis_text, sample_references
from qa_pipeline.eval.samples import load_manifest
from qa_pipeline.stages.rules.matcher import Token, find_protected, normalize_tokens, protected_names
from qa_pipeline.stages.transcribe import transcribe_cached

PROFILES = ("without", "with")


def load_names(path: Path, calls: set[str]) -> dict[str, list[str]]:
    """The names file: call id → the names of that call's company and products (strict, like every YAML here:
    a call id that is not one of ``calls`` is an error with its line)."""
    reader = Reader(path, load_yaml(path), "")
    for call_id in reader.data:
        if str(call_id) not in calls:
            raise reader.error(str(call_id), "no such call in the set's labels.json")
    return {str(call_id): reader.strings(str(call_id)) for call_id in list(reader.data)}


def heard(text: str, names: list[str]) -> dict[str, int]:
    """How often each name occurs in ``text``: longer names first, so "Skyline" is not counted again inside
    "Skyline Airways"."""
    tokens = [Token(t, t, 0.0, 0.0) for t in normalize_tokens(text)]
    by_key = {"".join(normalize_tokens(n)): n for n in names}
    spans = sorted(find_protected(tokens, protected_names(tuple(names))), key=lambda s: (-(s[1] - s[0]), s[0]))
    taken: set[int] = set()
    counts = dict.fromkeys(names, 0)
    for a, b, key in spans:
        if not taken & set(range(a, b)):
            taken.update(range(a, b))
            counts[by_key[key]] += 1
    return counts


@dataclass
class CallNames:
    call_id: str
    language: str
    names: list[str]
    said: dict[str, int]  # occurrences in the script
    heard: dict[str, dict[str, int]] = field(default_factory=dict)  # profile → name → occurrences (capped at said)
    errors: dict[str, tuple[int, int]] = field(default_factory=dict)  # profile → (edit errors, reference length)
    misses: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # profile → [{name, heard_as}]
    hotwords: str = ""


@dataclass
class VocabularyReport:
    split: str
    calls: list[CallNames] = field(default_factory=list)
    without_names: list[str] = field(default_factory=list)  # calls of the split missing from the names file

    def recall(self, profile: str, language: str | None = None) -> tuple[int, int]:
        rows = [c for c in self.calls if language in (None, c.language)]
        return sum(sum(c.heard[profile].values()) for c in rows), sum(sum(c.said.values()) for c in rows)

    def error_rate(self, profile: str, language: str) -> float | None:
        rows = [c.errors[profile] for c in self.calls if c.language == language]
        total = sum(n for _, n in rows)
        return sum(e for e, _ in rows) / total if total else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"split": self.split, "calls": [dataclasses.asdict(c) for c in self.calls],
                               "without_names": self.without_names, "summary": {}}
        for lang in ("zh", "en", None):
            for profile in PROFILES:
                hit, total = self.recall(profile, lang)
                row = {"heard": hit, "said": total, "recall": round(hit / total, 4) if total else None}
                if lang:
                    rate = self.error_rate(profile, lang)
                    row["error_rate"] = None if rate is None else round(rate, 4)
                out["summary"][f"{lang or 'all'}/{profile}"] = row
        return out


def _heard_as(transcript: Transcript, start: float, end: float) -> str:
    return " ".join(s.text for s in transcript.segments if s.start < end and start < s.end)[:120]


def evaluate_vocabulary(folder: Path, opts: TranscribeOptions, names_file: Path, split: str = "dev") -> VocabularyReport:
    """Every call of ``split`` in ``folder`` (manifest.csv + labels.json) that the names file lists."""
    _, labels = load_manifest(folder)
    names = load_names(names_file, set(labels))
    report = VocabularyReport(split)
    for ref in sample_references(folder):
        call_id = ref.id.split("/", 1)[1]
        label = labels[call_id]
        if split != "all" and label.get("split") != split:
            continue
        if not names.get(call_id):
            report.without_names.append(call_id)
            continue
        utterances = label["utterances"]
        row = CallNames(call_id, ref.language, names[call_id],
                        heard(" | ".join(u["text"] for u in utterances), names[call_id]))
        audio = load_audio(ref.path, layout=ref.layout)
        plain = dataclasses.replace(opts, language=ref.language, vocabulary={})
        for profile, o in (("without", plain),
                           ("with", dataclasses.replace(plain, vocabulary={ref.language: tuple(names[call_id])}))):
            transcript = transcribe_cached(audio, o)
            row.hotwords = o.hotwords(ref.language) or row.hotwords
            hyps = hypothesis_text(transcript, len(audio.channels))
            counts = heard(" | ".join(hyps), row.names)
            row.heard[profile] = {n: min(counts[n], row.said[n]) for n in row.names}
            refs = ref.channel_texts if len(hyps) == len(ref.channel_texts) else [ref.text]
            hyps = hyps if len(hyps) == len(refs) else [" ".join(hyps)]
            scored = [count_errors(r, h, ref.language) for r, h in zip(refs, hyps)]
            row.errors[profile] = (sum(e for e, _ in scored), sum(n for _, n in scored))
            row.misses[profile] = [
                {"name": n, "heard_as": _heard_as(transcript, u["start"], u["end"])}
                for u in utterances for n, k in heard(u["text"], row.names).items() if k
                and heard(_heard_as(transcript, u["start"], u["end"]), [n])[n] < k]
        report.calls.append(row)
    return report


def render(report: VocabularyReport, show_misses: bool = True) -> str:
    lines = [f"Names of each call's company and products heard as written ({report.split} split), "
             "without and with asr.vocabulary:"]
    for c in report.calls:
        (hw, hn), said = (sum(c.heard[p].values()) for p in PROFILES), sum(c.said.values())
        lines.append(f"  {c.call_id:<34} {c.language}  {hw:>2}/{said} → {hn:>2}/{said}   [{c.hotwords}]")
        for m in c.misses["with"] if show_misses else []:
            lines.append(f"      still missed {m['name']!r}: {m['heard_as']}")
        for m in c.misses["without"] if show_misses else []:
            if m["name"] not in {x["name"] for x in c.misses["with"]}:
                lines.append(f"      fixed {m['name']!r} (was: {m['heard_as']})")
    for lang, what in (("zh", "CER"), ("en", "WER"), (None, "")):
        parts = []
        for p in PROFILES:
            hit, total = report.recall(p, lang)
            rate = report.error_rate(p, lang) if lang else None
            parts.append(f"{p}: {hit}/{total} = {hit / total:.1%}" if total else f"{p}: –")
            if rate is not None:
                parts[-1] += f" ({what} {rate:.1%})"
        lines.append(f"  {lang or 'all'}: " + "  ·  ".join(parts))
    if report.without_names:
        lines.append(f"  not in the names file (not scored): {', '.join(report.without_names)}")
    return "\n".join(lines)
