"""Every option class of the product: one dataclass per section of ``qa.yaml``.

Defaults are the product's behaviour; ``qa.yaml`` overrides them section by section. Field metadata
(``choices``, ``min``, ``max``) is what ``load_config`` checks besides the type, so a new option is
validated by declaring it here. The reference (docs/reference/configuration.md) lists every field; a
test fails when one is missing there.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

ZH_PROMPT = "以下是普通话的电话录音。"  # steers Whisper to Simplified characters and punctuation
DEFAULT_MAX_SECONDS = 4 * 3600.0
# Whisper decodes at most 448 tokens per window, prompt included; faster-whisper cuts hotwords at 223 tokens
# without a word. A vocabulary within this many (estimated) tokens leaves a window Whisper's own 224 to decode.
VOCABULARY_TOKENS = 200
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def choice(default: str, *choices: str) -> Any:
    return field(default=default, metadata={"choices": (default, *choices)})


def bounded(default: float | int, low: float | None = None, high: float | None = None) -> Any:
    return field(default=default, metadata={"min": low, "max": high})


@dataclass
class TranscribeOptions:
    """``asr:`` decoding settings; every field but ``threads`` is part of the cache key and stored with the
    transcript."""

    model: str = "base"
    device: str = choice("cpu", "cuda")
    compute_type: str = "int8"
    threads: int = bounded(0, 0)  # 0: CTranslate2 picks (all cores)
    language: str = "auto"  # auto | zh | en | any Whisper code
    languages: tuple[str, ...] = ("zh", "en")  # auto-detection chooses among these
    language_confidence: float = bounded(0.9, 0.0, 1.0)  # below this after one channel, the other is probed too
    # Per-language model override, e.g. {"en": "tiny.en"}: choose the best model per language.
    language_models: dict[str, str] = field(default_factory=dict)
    beam_size: int = bounded(5, 1)
    # Timestamp tokens while decoding: Whisper keeps its place in a long window
    # better with them (fewer skipped sentences); word times come from alignment either way.
    timestamps: bool = True
    batch_size: int = bounded(8, 1)
    # On a GPU the windows of a batch (and of several calls, qa nightly --batch-calls) are encoded and decoded
    # together; a larger batch fills the device. Used instead of batch_size when device is cuda.
    cuda_batch_size: int = bounded(16, 1)
    chunk_seconds: float = bounded(30.0, 1.0, 30.0)
    region_gap: float = bounded(0.5, 0.0)  # silence put between packed speech regions
    # Silero VAD on each channel. Silero scores 8 kHz telephone speech low (fast speech on the real call
    # peaks at 0.3-0.45): 0.5 drops whole sentences; the gates deal with what else gets in.
    vad_threshold: float = bounded(0.35, 0.0, 1.0)
    vad_min_silence_ms: int = bounded(500, 0)
    vad_speech_pad_ms: int = bounded(200, 0)
    vad_min_speech_ms: int = bounded(250, 0)
    # Hallucination gates
    no_speech_threshold: float = bounded(0.6, 0.0, 1.0)
    logprob_threshold: float = -1.0
    hard_logprob_threshold: float = -1.6
    compression_ratio_threshold: float = bounded(2.4, 0.0)
    min_word_prob: float = bounded(0.25, 0.0, 1.0)  # mean word probability below this: not speech
    max_ngram_repeats: int = bounded(4, 1)
    initial_prompt_zh: str = ZH_PROMPT
    # Whisper can end a window early (end-of-text before the window's last speech): the speech left after the
    # window's last word is decoded again, as a window of its own, when it holds at least this many seconds of
    # speech regions; up to tail_passes times. 0 turns it off.
    tail_retry_seconds: float = bounded(1.0, 0.0)
    tail_passes: int = bounded(2, 0)
    # Turn splitting of decoded chunks
    turn_gap: float = bounded(1.0, 0.0)
    max_turn_seconds: float = bounded(12.0, 1.0)
    # The names a call centre lives by (company, products, plans) per language, e.g. {"zh": ["畅联宽带"]}:
    # Whisper hears them as hotwords, and the rules stage keeps them whole (never a banned phrase by sound).
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def key(self) -> dict[str, Any]:
        """The settings that decide the words. Thread count only decides the speed, so it is
        left out: a batch that gives each worker its share of the cores reuses the cache
        and counts as 'already processed'. An empty vocabulary is left out too, so the transcripts
        cached before there was one stay valid."""
        d = dataclasses.asdict(self)
        d["languages"] = list(self.languages)
        d.pop("threads")
        d["vocabulary"] = {lang: list(terms) for lang, terms in sorted(self.vocabulary.items()) if terms}
        if not d["vocabulary"]:
            d.pop("vocabulary")
        if self.device != "cuda":  # never used on a CPU: a CPU's transcripts and results keep their keys
            d.pop("cuda_batch_size")
        return d

    def hotwords(self, language: str) -> str | None:
        """The vocabulary of ``language`` as Whisper's hotwords, or None."""
        terms = self.vocabulary.get(language, ())
        return ("、" if language in ("zh", "yue", "ja") else ", ").join(terms) or None

    def check(self) -> tuple[str, str] | None:
        """(field, what is wrong) beyond the types, or None."""
        for lang, terms in self.vocabulary.items():
            if not _LANGUAGE_CODE.fullmatch(lang):
                return f"vocabulary.{lang}", "expected a Whisper language code (zh, en, …)"
            seen: set[str] = set()
            for i, term in enumerate(terms):
                if not term.strip():
                    return f"vocabulary.{lang}[{i}]", "expected a name, got an empty string"
                if term.strip().lower() in seen:
                    return f"vocabulary.{lang}[{i}]", f"{term!r} is listed twice"
                seen.add(term.strip().lower())
            tokens = prompt_tokens(self.hotwords(lang) or "")
            if tokens > VOCABULARY_TOKENS:
                return (f"vocabulary.{lang}", f"about {tokens} Whisper tokens, more than the {VOCABULARY_TOKENS} "
                        "a prompt may take (roughly 100 Chinese characters or 600 letters): keep the names "
                        "that Whisper gets wrong")
        return None


def prompt_tokens(text: str) -> int:
    """Whisper tokens of ``text``, estimated: about 1.6 per Chinese character (2 counted), one per three other
    characters (Whisper's tokenizer on the evaluation calls' names: 1.57 and 0.30 per character)."""
    cjk = len(_CJK.findall(text))
    return 2 * cjk + math.ceil((len(text) - cjk) / 3)


@dataclass
class AudioConfig:
    """``audio:`` what a recording may be."""

    max_seconds: float = bounded(DEFAULT_MAX_SECONDS, 1.0)
    agent_channel: int = bounded(0, 0, 1)


@dataclass
class PrivacyConfig:
    """``privacy:`` who sees personal data, how it is found and how redacted audio sounds."""

    coach_view: str = choice("redacted", "raw")  # what the review queue shows coaches
    audio_mode: str = choice("tone", "silence")  # 1 kHz tone or silence over the redacted words
    pad_seconds: float = bounded(0.15, 0.0, 2.0)  # audio covered either side of the words
    min_digits: int = bounded(6, 1)  # shorter digit strings (times, prices) are not personal data
    max_gap: float = bounded(3.0, 0.0)  # seconds of one speaker's silence that end a number
    sound_digits: bool = True  # also read Mandarin characters that sound like digits


@dataclass
class ToneConfig:
    """``tone:`` thresholds of the tone stage (docs/guide/qa-lead.md explains each)."""

    sentiment_model: str = ""  # a transformers text-classification directory; "" = offline default
    text_threads: int = bounded(1, 0)  # CPU threads of the default text embedder (0 = all cores)
    prior_seconds: float = bounded(5.0, 0.0)  # speech seconds at which the speaker's own baseline weighs as much as the prior
    acoustic_center: float = 1.0  # mean cue z-score at which acoustic agitation is 0.5
    acoustic_slope: float = bounded(2.0, 0.0)  # steepness of that logistic
    text_weight: float = bounded(0.4, 0.0, 1.0)  # share of the acoustic headroom (1 - acoustic) that text negativity can fill
    rest_quantile: float = bounded(0.05, 0.0, 0.3)  # the calmest this share of a speaker's speech also places their resting loudness (0: off)
    short_seconds: float = bounded(0.5, 0.0)  # speaking time at which a segment's cue z-scores count half (short = unreliable)
    cue_z: float = bounded(1.0, 0.0)  # a cue group (energy, pitch, rate) whose mean z reaches this is raised
    words_negativity: float = bounded(0.5, 0.0, 1.0)  # text negativity at which the words count as a cue
    words_positivity: float = bounded(0.5, 0.0, 1.0)  # text positivity at which a segment never counts towards a flag
    explain_seconds: float = bounded(4.0, 0.0)  # an agent turn this long in neutral words needs one cue more (an explanation)
    min_cues: int = bounded(2, 1, 4)  # raised cues (energy, pitch, rate, words) an agitated segment needs
    flag_threshold: float = bounded(0.5, 0.0, 1.0)  # segment agitation at or above which the segment may count as agitated
    flag_min_seconds: float = bounded(2.0, 0.0)  # agitated speech in a run needed for an emotional_* finding
    flag_merge_gap: float = bounded(8.0, 0.0)  # agitated segments of one speaker closer than this form one run
    silence_seconds: float = bounded(10.0, 0.0)  # dead air / hold longer than this is a silence finding
    overtalk_min_seconds: float = bounded(1.0, 0.0)  # both talking at least this long after a cut-in is overtalk
    calm_delta: float = bounded(0.1, 0.0)  # trend: end minus start agitation at or below -this counts as calmed down


@dataclass
class DiarizeOptions:
    """``diarization:`` mono calls: who speaks when."""

    window: float = bounded(1.5, 0.2)  # seconds of speech per embedding
    hop: float = bounded(0.25, 0.01)  # step between windows; finer than the window gives sharper turn boundaries
    vad_threshold: float = bounded(0.5, 0.0, 1.0)
    vad_min_silence_ms: int = bounded(300, 0)
    vad_speech_pad_ms: int = bounded(100, 0)
    vad_min_speech_ms: int = bounded(200, 0)
    # Two voice centroids (uncentred) more similar than this are one speaker: a
    # single talker split in two measured 0.935-0.95 on minutes of real speech,
    # two talkers 0.76-0.88. Short one-speaker clips (< ~20 s) can fall below.
    same_speaker_similarity: float = bounded(0.92, 0.0, 1.0)
    min_speaker_share: float = bounded(0.05, 0.0, 0.5)  # a "voice" with less of the speech than this is noise
    min_turn: float = bounded(0.3, 0.0)  # shorter runs of one speaker inside another's speech are smoothed away
    agent_voice: str = ""  # optional wav of the agent's voice; decides roles by voice instead of words
    # A mono call whose role confidence (0.5 a coin toss .. 1 sure) is below this is queued with "roles
    # uncertain", for a coach to check who is the agent (and swap them if need be).
    min_role_confidence: float = bounded(0.8, 0.5, 1.0)


@dataclass
class QueueConfig:
    """``queue:`` how the review queue is built and claimed."""

    sample_per_agent_week: int = bounded(2, 0)  # unflagged calls sampled per agent per ISO week
    exemplary_min_score: float = bounded(95.0, 0.0, 100.0)
    exemplary_per_team_week: int = bounded(2, 0)
    claim_ttl_minutes: float = bounded(60.0, 1.0)
    low_asr_confidence: float = bounded(0.6, 0.0, 1.0)
    # DESIGN.md (emotion management): intervene early with agents whose emotion runs high. An
    # emotional-agent flag alone is one "major" finding (15); this lifts it above routine script misses.
    emotional_agent_points: float = bounded(30.0, 0.0)
    seed: str = "qa"  # the random sample is a hash of this and the call: the same calls every rebuild


@dataclass
class ReviewConfig:
    """``review:`` what an agent may do with a review released to them."""

    # Days, from the moment a review is released to the agent, in which the agent may dispute it. After that
    # the review stands (it can still be acknowledged). At least 1: a release always leaves a window.
    dispute_window_days: int = bounded(7, 1, 365)


@dataclass
class ReportConfig:
    """``reports:`` the HR scorecard and the daily report. Defaults follow DESIGN.md (tiers, 80 points as the line)."""

    min_calls: int = bounded(5, 1)  # fewer calls in the week: "insufficient data", no tier, no rank
    # tier name -> lowest mean score of the tier; the lowest threshold must be 0 so every score has a tier
    tiers: dict[str, float] = field(default_factory=lambda: {"gold": 90.0, "silver": 80.0, "bronze": 70.0, "iron": 0.0})
    confidence: float = bounded(0.95, 0.5, 0.999)  # level of the t-interval on the mean score
    trend_weeks: int = bounded(8, 1)  # weeks shown on each agent's trend line (this one included)
    exemplary_min_score: float = bounded(95.0, 0.0, 100.0)  # daily report: clean calls at or above this are examples
    top_findings: int = bounded(10, 1)  # daily report: how many recurring findings
    recurring_days: int = bounded(7, 1)  # daily report: window (days, ending on the date) for recurring findings
    form: str | None = field(default=None, metadata={"internal": True})  # set from qa.yaml's ``form:``

    def tier_of(self, score: float | None) -> str | None:
        if score is None:
            return None
        for name, low in sorted(self.tiers.items(), key=lambda kv: -kv[1]):
            if score >= low:
                return name
        return None

    def check(self) -> tuple[str, str] | None:
        """(field, what is wrong) beyond the types, or None."""
        if not self.tiers:
            return "tiers", "expected a mapping of tier name to lowest score"
        if any(not 0 <= low <= 100 for low in self.tiers.values()):
            return "tiers", "every tier's lowest score must be within 0..100"
        if min(self.tiers.values()) != 0:
            return "tiers", "the lowest tier must start at 0 so every score has a tier"
        return None


# ---------------------------------------------------------------- alerts
def required(default: Any = "") -> Any:
    """A field qa.yaml must set (``build_section`` refuses the mapping without it); ``default`` only types it."""
    if isinstance(default, (list, tuple, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"required": True})
    return field(default=default, metadata={"required": True})


# What an alert can be sent on (docs/guide/qa-lead.md#alerts). Spelt as in qa.yaml; the ones with a colon take
# an argument: a rule id, a criterion id of the form, a score.
EVENT_FIXED = ("auto_fail", "escalation_emotional_agent")
EVENT_PREFIXES = ("rule:", "criterion:", "score_below:")


def event_problem(event: str) -> str | None:
    """Why ``event`` is not an alert event, or None."""
    if event in EVENT_FIXED:
        return None
    prefix = next((p for p in EVENT_PREFIXES if event.startswith(p)), None)
    if prefix is None:
        return f"{event!r} is not an event; events: {', '.join(EVENT_FIXED)}, " + ", ".join(f"{p}<…>" for p in EVENT_PREFIXES)
    arg = event[len(prefix):].strip()
    if not arg:
        return f"{event!r} needs {'a score' if prefix == 'score_below:' else 'an id'} after the colon"
    if prefix == "score_below:":
        try:
            bar = float(arg)
        except ValueError:
            return f"{event!r}: {arg!r} is not a number"
        if not 0 < bar <= 100:
            return f"{event!r}: the score must be within 0..100 (above 0)"
    return None


def _events_problem(events: tuple[str, ...]) -> tuple[str, str] | None:
    if not events:
        return "events", "expected at least one event"
    problem = next((p for p in map(event_problem, events) if p), None)
    return ("events", problem) if problem else None


@dataclass
class WebhookAlert:
    """``alerts.webhooks[]``: a signed JSON POST per call and event."""

    url: str = required()
    events: tuple[str, ...] = required(())
    secret: str = ""  # HMAC-SHA256 key of X-QA-Signature, written in qa.yaml…
    secret_env: str = ""  # …or the name of the environment variable that holds it (read when qa nightly starts)

    def check(self) -> tuple[str, str] | None:
        if not self.url.startswith(("http://", "https://")):
            return "url", f"expected an http:// or https:// address, got {self.url!r}"
        if bool(self.secret) == bool(self.secret_env):
            return "secret", "set exactly one of secret and secret_env: every POST is signed"
        return _events_problem(self.events)


@dataclass
class EmailAlert:
    """``alerts.email``: one plain-text e-mail per call and event, through an SMTP server."""

    smtp_host: str = required()
    smtp_port: int = bounded(25, 1, 65535)
    sender: str = field(default="", metadata={"required": True, "key": "from"})  # ``from:`` in qa.yaml
    to: tuple[str, ...] = required(())
    events: tuple[str, ...] = required(())
    starttls: bool = False
    user: str = ""
    password: str = ""  # written in qa.yaml…
    password_env: str = ""  # …or the name of the environment variable that holds it

    def check(self) -> tuple[str, str] | None:
        if not self.to:
            return "to", "expected at least one address"
        if self.password and self.password_env:
            return "password", "set password or password_env, not both"
        if (self.password or self.password_env) and not self.user:
            return "user", "a password needs a user to log in as"
        return _events_problem(self.events)


@dataclass
class AlertsConfig:
    """``alerts:`` what ``qa nightly`` sends when a stored call fires an event (docs/guide/qa-lead.md#alerts)."""

    base_url: str = ""  # the web app's address (qa serve), for the link to the call page
    timeout: float = bounded(2.0, 0.1, 60.0)  # seconds one attempt may take (connect, send, answer)
    attempts: int = bounded(3, 1, 10)  # tries per delivery before it is given up
    backoff: float = bounded(0.5, 0.0, 30.0)  # seconds before the second try, doubled before each later one
    drain_seconds: float = bounded(15.0, 0.0)  # at the end of the run: the longest wait for deliveries still queued
    webhooks: list[WebhookAlert] = field(default_factory=list)
    email: EmailAlert | None = None

    def check(self) -> tuple[str, str] | None:
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            return "base_url", f"expected an http:// or https:// address, got {self.base_url!r}"
        return None
