"""Data contracts shared by every stage (DESIGN.md).

Plain dataclasses that round-trip through JSON. Stages talk to each other only
through these types, so each stage can be run, cached and tested on its own.
Bump ``SCHEMA_VERSION`` whenever a field changes meaning.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1

Speaker = Literal["agent", "caller", "unknown"]
Layout = Literal["stereo", "mono"]


@dataclass
class Call:
    call_id: str
    audio_path: str
    sha256: str = ""
    agent_id: str = ""
    team: str = ""
    started_at: str = ""  # ISO 8601, local time of the call centre
    direction: str = "inbound"
    language: str = "auto"  # hint: auto | zh | en
    layout: Layout = "stereo"
    agent_channel: int = 0
    caller_channel: int = 1
    call_type: str = "default"


@dataclass
class Word:
    start: float
    end: float
    text: str
    prob: float


@dataclass
class Segment:
    speaker: Speaker
    start: float
    end: float
    text: str  # normalised (Simplified Chinese for Mandarin)
    raw_text: str = ""  # exactly what the model produced
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    language: str
    model_id: str
    settings: dict[str, Any]
    duration: float
    segments: list[Segment] = field(default_factory=list)
    language_probability: float = 1.0
    dropped_segments: int = 0  # removed by the hallucination gates
    schema_version: int = SCHEMA_VERSION

    def text(self, speaker: Speaker | None = None) -> str:
        sep = "" if self.language == "zh" else " "
        return sep.join(s.text for s in self.segments if speaker is None or s.speaker == speaker)


FindingKind = Literal[
    "banned_phrase", "script_step", "escalation", "tone", "silence", "overtalk", "pii"
]


@dataclass
class Finding:
    call_id: str
    kind: str  # one of FindingKind; str so that packs can add kinds
    rule_id: str
    rule_version: str
    speaker: Speaker
    start: float
    end: float
    evidence: str
    confidence: float
    severity: str = "minor"  # minor | major | critical
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallResult:
    call: Call
    transcript: Transcript
    findings: list[Finding] = field(default_factory=list)
    tone: dict[str, Any] = field(default_factory=dict)
    score: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def to_json(obj: Any, **kwargs: Any) -> str:
    return json.dumps(to_dict(obj), ensure_ascii=False, **kwargs)


def transcript_from_dict(d: dict[str, Any]) -> Transcript:
    segments = [
        Segment(**{**s, "words": [Word(**w) for w in s.get("words", [])]})
        for s in d.get("segments", [])
    ]
    return Transcript(**{**d, "segments": segments})


def finding_from_dict(d: dict[str, Any]) -> Finding:
    return Finding(**d)


def call_result_from_dict(d: dict[str, Any]) -> CallResult:
    return CallResult(
        **{
            **d,
            "call": Call(**d["call"]),
            "transcript": transcript_from_dict(d["transcript"]),
            "findings": [finding_from_dict(f) for f in d.get("findings", [])],
        }
    )
