"""Data contracts shared by every stage (DESIGN.md).

Plain dataclasses that round-trip through JSON. Stages talk to each other only through these types, so each
stage can be run, cached and tested on its own; the store keeps a result as this JSON and reads it back typed.
Bump ``SCHEMA_VERSION`` whenever a field changes meaning, and teach ``call_result_from_dict`` the old form.

Schema history: 1, ``score``, ``tone`` and ``Finding.details`` were free-form dicts; 2, they are the typed
classes below (the same field names, so version 1 results read back as version 2).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union

SCHEMA_VERSION = 2

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


# ---------------------------------------------------------------- what a finding found, by kind
@dataclass
class PhraseMatch:
    """``banned_phrase`` and ``escalation``: a pack rule heard in a speaker's words."""

    category: str = ""
    matched: str = ""  # the words that matched
    phrase: str = ""  # the pack phrasing (or pattern) they matched
    tier: str = ""  # exact | regex | fuzzy | semantic
    auto_fail: bool = False
    speaker_assumed: bool = False  # a mono call the diarizer could not split: the speaker is a guess
    assist: bool = False


@dataclass
class StepTrigger:
    start: float
    text: str


@dataclass
class StepResult:
    """``script_step``: whether a required step was done, where, and why it passed or failed."""

    step: str = ""
    status: str = ""  # pass | fail | na
    tier: str = ""  # the tier that passed it (exact | fuzzy | semantic | …), "" when it failed
    call_type: str = ""
    window: list[float] = field(default_factory=list)  # [from, to] seconds the step was looked for in
    matched: list[str] = field(default_factory=list)
    phrase: list[str] = field(default_factory=list)
    occurrences: list[list[float]] = field(default_factory=list)  # every [start, end] the step was heard
    trigger: StepTrigger | None = None  # what made a conditional step apply (a complaint before empathy)
    triggered: bool = True
    missing_parts: list[str] = field(default_factory=list)
    auto_fail: bool = False
    order_violation: bool = False
    expected_after: str = ""
    expected_after_start: float | None = None
    assist: bool = False


@dataclass
class ToneEvent:
    """``tone``: a run of agitated speech (emotional_agent, emotional_caller)."""

    peak_agitation: float = 0.0
    agitated_seconds: float = 0.0
    segments: list[list[float]] = field(default_factory=list)  # [start, end, agitation]
    assist: bool = False
    cues: dict[str, float] = field(default_factory=dict)  # energy / pitch / rate: peak z; words: peak negativity
    peak_at: float | None = None  # second of the most agitated segment: where a coach listens first
    segment_cues: list[list[str]] = field(default_factory=list)  # per segment of ``segments``: its raised cues


@dataclass
class TimingEvent:
    """``silence`` (dead air) and ``overtalk``."""

    seconds: float | None = None  # silence: its length
    level_dbfs: float | None = None  # silence: the loudest level in it
    interrupted: str = ""  # overtalk: who was cut in on
    overlap_seconds: float | None = None
    assist: bool = False


@dataclass
class PIIMatch:
    """``pii``: personal data, never the digits themselves (masked form, word positions for redaction)."""

    type: str = ""  # bank_card | cn_id | phone | email | digits | …
    masked: str = ""
    n_digits: int | None = None
    check: str | None = None  # the check it passed: luhn | cn_id | mobile | …
    read_by: str = ""  # "" (written or spoken digits) | sound | shape_no_at
    sound_units: int | None = None
    spans: list[list[int]] = field(default_factory=list)  # [segment, word, char start, char end]
    assist: bool = False


FindingDetails = PhraseMatch | StepResult | ToneEvent | TimingEvent | PIIMatch
DETAILS_BY_KIND: dict[str, type] = {
    "banned_phrase": PhraseMatch, "escalation": PhraseMatch, "script_step": StepResult, "tone": ToneEvent,
    "silence": TimingEvent, "overtalk": TimingEvent, "pii": PIIMatch,
}
FindingKind = Literal["banned_phrase", "script_step", "escalation", "tone", "silence", "overtalk", "pii"]


@dataclass
class Finding:
    call_id: str
    kind: str  # one of FindingKind
    rule_id: str
    rule_version: str
    speaker: Speaker
    start: float
    end: float
    evidence: str
    confidence: float
    severity: str = "minor"  # minor | major | critical
    details: FindingDetails = field(default_factory=PhraseMatch)

    @property
    def category(self) -> str:
        """A banned phrase's category, personal data's type; "" otherwise."""
        return getattr(self.details, "category", "") or getattr(self.details, "type", "")

    @property
    def status(self) -> str:
        """A script step's pass | fail | na; "" for other kinds."""
        return getattr(self.details, "status", "")

    @property
    def auto_fail(self) -> bool:
        return bool(getattr(self.details, "auto_fail", False))


# ---------------------------------------------------------------- tone of a call
@dataclass
class Trend:
    start: float | None
    end: float | None
    delta: float
    direction: str  # calmer | steady | more agitated


@dataclass
class SpeakerTone:
    agitation: float | None
    trend: Trend | None
    talk_seconds: float
    segments: int
    baseline: dict[str, list[float]] = field(default_factory=dict)  # cue -> [mean, sd]


@dataclass
class ToneSegment:
    speaker: str
    start: float
    end: float
    agitation: float
    acoustic: float | None
    text_negativity: float
    z: dict[str, float] = field(default_factory=dict)
    text: str = ""
    text_positivity: float = 0.0
    speaking_seconds: float = 0.0
    reliability: float = 1.0  # speaking_seconds / (speaking_seconds + tone.short_seconds): how far z is trusted


@dataclass
class ToneSummary:
    version: str = ""
    sentiment_model: str = ""
    layout: str = ""
    duration: float = 0.0
    speakers: dict[str, SpeakerTone] = field(default_factory=dict)
    talk_listen_ratio: float | None = None
    silence_seconds: float = 0.0
    overtalk_count: int = 0
    timeline: list[ToneSegment] = field(default_factory=list)


# ---------------------------------------------------------------- score of a call
@dataclass
class Evidence:
    kind: str
    rule_id: str
    speaker: str
    start: float
    end: float
    text: str
    confidence: float


@dataclass
class CriterionScore:
    id: str
    section: str
    title: str
    weight: float
    status: str  # pass | fail | na
    points: float
    assist: bool = False
    human: bool = False  # a coach set the points
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class SectionScore:
    id: str
    title: str
    weight: float
    points: float
    percent: float | None


@dataclass
class RuleHit:
    """An auto-fail item or a bonus of the form that the call's findings matched."""

    id: str
    title: str
    points: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Score:
    form_id: str = ""
    form_version: str = ""
    total: float | None = None
    raw_total: float | None = None
    passed: bool = False
    pass_mark: float = 80.0
    auto_fail: bool = False
    auto_fail_reasons: list[RuleHit] = field(default_factory=list)
    bonus: list[RuleHit] = field(default_factory=list)
    sections: list[SectionScore] = field(default_factory=list)
    criteria: list[CriterionScore] = field(default_factory=list)

    def criterion(self, criterion_id: str) -> CriterionScore | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


RoleSource = Literal["channels", "voices", "turns", "voice_sample", "given", "coach"]


@dataclass
class Roles:
    """Who is the agent in a call's transcript, and how sure. A stereo call's roles come from its channels; a
    mono call's from its two voices and what each says (stages/diarize.py ``settle_roles``), with a confidence
    from 0.5 (a coin toss) to 1; a coach who swapped them makes them ``coach`` (store/roles.py)."""

    source: RoleSource = "channels"
    confidence: float = 1.0
    uncertain: bool = False  # confidence below diarization.min_role_confidence: the queue says so
    cues: float = 0.0  # agent's minus caller's phrase cues (greeting for the company, own problem…), per sqrt-word
    meaning: float = 0.0  # agent's minus caller's mean log-odds of being said by an agent (the pack's examples)
    first: float = 0.0  # the first-speaker prior given to the agent (+) or against it (-)
    swapped: bool = False  # the machine's assignment was reversed (by the evidence of what is said, or a coach)
    decided_by: str = ""  # the coach, when source is "coach"
    decision_id: str = ""


@dataclass
class CallResult:
    call: Call
    transcript: Transcript
    findings: list[Finding] = field(default_factory=list)
    tone: ToneSummary = field(default_factory=ToneSummary)
    score: Score = field(default_factory=Score)
    roles: Roles = field(default_factory=Roles)
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


# ---------------------------------------------------------------- JSON
def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


T = TypeVar("T")
_HINTS: dict[type, dict[str, Any]] = {}


def from_data(cls: type[T], data: Any) -> T:
    """``data`` (parsed JSON) as an instance of the dataclass ``cls``, nested contracts included.

    Fields absent from ``data`` take their defaults; a key the class does not know is an error: the data
    is of another schema version, which ``call_result_from_dict`` converts first."""
    return _value(cls, data)


def _value(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in args if a is not type(None)]
        return _value(options[0], value) if len(options) == 1 else value
    if origin is Literal or hint is Any:
        return value
    if origin in (list, tuple):
        return origin(_value(args[0], v) for v in value) if args else list(value)
    if origin is dict:
        return {k: _value(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        hints = _HINTS.get(hint) or _HINTS.setdefault(hint, typing.get_type_hints(hint))
        names = {f.name for f in dataclasses.fields(hint)}
        unknown = set(value) - names
        if unknown:
            raise ValueError(f"{hint.__name__}: unknown field(s) {sorted(unknown)}")
        kwargs = {k: _value(hints[k], v) for k, v in value.items() if k != "details"}
        if hint is Finding:
            kwargs["details"] = details_from_dict(value["kind"], value.get("details") or {})
        return hint(**kwargs)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def details_from_dict(kind: str, data: dict[str, Any]) -> FindingDetails:
    return from_data(DETAILS_BY_KIND.get(kind, PhraseMatch), data)


def transcript_from_dict(d: dict[str, Any]) -> Transcript:
    return from_data(Transcript, d)


def score_from_dict(d: dict[str, Any] | None) -> Score:
    return from_data(Score, d or {})


def call_result_from_dict(d: dict[str, Any]) -> CallResult:
    """A stored result of any schema version, as this version's CallResult."""
    if d.get("schema_version", 1) < 2:
        d = _upgrade_v1(d)
    return from_data(CallResult, d)


# Version 1 kept details, score and tone as free dicts with these names; anything else they held (a key a
# later version dropped) is left out here rather than refused.
def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in (data or {}).items() if k in names}


def _upgrade_v1(d: dict[str, Any]) -> dict[str, Any]:
    findings = []
    for f in d.get("findings", []):
        details = dict(f.get("details") or {})
        if isinstance(details.get("trigger"), dict):
            details["trigger"] = _known(StepTrigger, details["trigger"])
        findings.append({**f, "details": _known(DETAILS_BY_KIND.get(f["kind"], PhraseMatch), details)})
    tone = dict(d.get("tone") or {})
    tone["speakers"] = {k: _known(SpeakerTone, v) for k, v in (tone.get("speakers") or {}).items()}
    return {**d, "findings": findings, "tone": _known(ToneSummary, tone), "score": d.get("score") or {},
            "schema_version": SCHEMA_VERSION}
