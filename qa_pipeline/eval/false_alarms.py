"""`qa eval false-alarms`: banned-phrase findings where there are none to find.

- Text (``--corpus``): sentences of large real text (eval/corpora.py) each said by the agent as a turn of its
  own, through the product's rule stage unchanged; findings per 10,000 sentences.
- Speech (``--real``): every real recording under ../shared/data in a language the packs cover, transcribed
  (cached) and every word put in the agent's mouth (stricter than the truth: callers are judged as agents);
  findings per hour of speech. None of these recordings holds a banned phrase.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import load_audio
from qa_pipeline.config import DEFAULT_MAX_SECONDS, TranscribeOptions
from qa_pipeline.contracts import Call, Finding, Segment, Transcript, Word
from qa_pipeline.errors import AudioError
from qa_pipeline.eval.utterances import TOKEN_SECONDS
from qa_pipeline.stages.rules.examples import word_pieces
from qa_pipeline.stages.rules.matcher import normalize_tokens
from qa_pipeline.stages.rules.pack import RulePack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.transcribe import transcribe_cached

SENTENCE_GAP = 5.0  # seconds between sentences: more than the rules' join gap and turn gap, so each stands alone
CHUNK = 250  # sentences per synthetic transcript
REAL_FOLDERS = {"calls_en": "en", "phone_en": "en", "asr_en": "en", "asr_zh": "zh"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg"}


def sentences_transcript(sentences: list[str], language: str, speaker: str = "agent") -> Transcript:
    segments, t = [], 0.0
    for text in sentences:
        tokens = normalize_tokens(text) or [text]
        pieces = word_pieces(text, len(tokens))
        words = [Word(round(t + i * TOKEN_SECONDS, 3), round(t + (i + 1) * TOKEN_SECONDS, 3), p, 0.9)
                 for i, p in enumerate(pieces)]
        end = words[-1].end if words else t + TOKEN_SECONDS
        segments.append(Segment(speaker, round(t, 3), end, text, text, words=words))
        t = end + SENTENCE_GAP
    return Transcript(language=language, model_id="reference", settings={}, duration=round(t, 3), segments=segments)


def _banned(transcript: Transcript, pack: RulePack, call_id: str) -> list[Finding]:
    call = Call(call_id=call_id, audio_path="", language=pack.language)
    return [f for f in detect_phrases(transcript, call, pack, kinds=("banned_phrase",)) if f.kind == "banned_phrase"]


def _summary(findings: list[Finding]) -> dict[str, Any]:
    return {"findings": len(findings),
            "by_rule": dict(Counter(f.rule_id for f in findings).most_common()),
            "by_tier": dict(Counter(f.details.tier for f in findings).most_common()),
            "examples": [{"rule": f.rule_id, "tier": f.details.tier, "said": f.evidence, "like": f.details.phrase,
                          "confidence": round(f.confidence, 2)} for f in findings]}


def text_false_alarms(sentences: list[str], pack: RulePack, corpus: str) -> dict[str, Any]:
    findings: list[Finding] = []
    for at in range(0, len(sentences), CHUNK):
        findings += _banned(sentences_transcript(sentences[at:at + CHUNK], pack.language), pack, f"{corpus}:{at}")
    report = {"corpus": corpus, "language": pack.language, "sentences": len(sentences), **_summary(findings)}
    report["per_10k_sentences"] = round(10000 * len(findings) / max(1, len(sentences)), 2)
    return report


def real_recordings(shared: Path) -> list[tuple[Path, str]]:
    """(path, language) of every recording under REAL_FOLDERS of ``shared``, in name order."""
    out = []
    for folder, language in REAL_FOLDERS.items():
        out += [(p, language) for p in sorted((shared / folder).rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES]
    return out


def real_false_alarms(shared: Path, packs: dict[str, RulePack], asr: TranscribeOptions | None = None) -> dict[str, Any]:
    per_language: dict[str, dict[str, Any]] = {}
    for path, language in real_recordings(shared):
        if language not in packs:
            continue
        try:
            audio = load_audio(path, DEFAULT_MAX_SECONDS, 0, None)
        except AudioError:
            continue  # (not a recording libsndfile or PyAV reads: nothing to judge)
        opts = dataclasses.replace(asr or TranscribeOptions(), language=language)
        transcript = transcribe_cached(audio, opts)
        as_agent = dataclasses.replace(transcript, segments=[dataclasses.replace(s, speaker="agent")
                                                             for s in transcript.segments])
        found = _banned(as_agent, packs[language], str(path.relative_to(shared)))
        entry = per_language.setdefault(language, {"recordings": 0, "speech_seconds": 0.0, "found": []})
        entry["recordings"] += 1
        entry["speech_seconds"] += sum(s.end - s.start for s in transcript.segments)
        entry["found"] += found
    out = {}
    for language, entry in per_language.items():
        hours = entry["speech_seconds"] / 3600
        out[language] = {"recordings": entry["recordings"], "speech_hours": round(hours, 3),
                         **_summary(entry["found"]),
                         "per_hour": round(len(entry["found"]) / hours, 2) if hours else None}
    return out


def render_text(report: dict[str, Any], examples: int = 10) -> str:
    lines = [f"{report['corpus']} ({report['language']}): {report['sentences']} sentences, "
             f"{report['findings']} banned-phrase findings = {report['per_10k_sentences']} per 10,000 sentences"]
    if report["findings"]:
        lines.append("  by rule: " + ", ".join(f"{k} {v}" for k, v in report["by_rule"].items()))
        lines.append("  by tier: " + ", ".join(f"{k} {v}" for k, v in report["by_tier"].items()))
    for ex in report["examples"][:examples]:
        lines.append(f"    {ex['rule']} [{ex['tier']} {ex['confidence']}] {ex['said']!r} ~ {ex['like']!r}")
    return "\n".join(lines)


def render_real(report: dict[str, Any], examples: int = 10) -> str:
    lines = []
    for language, r in report.items():
        lines.append(f"real speech ({language}): {r['recordings']} recordings, {r['speech_hours']} h, "
                     f"{r['findings']} banned-phrase findings = {r['per_hour']} per hour")
        for ex in r["examples"][:examples]:
            lines.append(f"    {ex['rule']} [{ex['tier']} {ex['confidence']}] {ex['said']!r} ~ {ex['like']!r}")
    return "\n".join(lines) or "no real recordings found"
