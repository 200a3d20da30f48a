"""Every option class of the product: one dataclass per section of ``qa.yaml``.

Defaults are the product's behaviour; ``qa.yaml`` overrides them section by section. Field metadata
(``choices``, ``min``, ``max``) is what ``load_config`` checks besides the type, so a new option is
validated by declaring it here. The reference (docs/reference/configuration.md) lists every field; a
test fails when one is missing there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ZH_PROMPT = "以下是普通话的电话录音。"  # steers Whisper to Simplified characters and punctuation
DEFAULT_MAX_SECONDS = 4 * 3600.0


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

    def key(self) -> dict[str, Any]:
        """The settings that decide the words. Thread count only decides the speed, so it is
        left out: a batch that gives each worker its share of the cores reuses the cache
        and counts as 'already processed'."""
        d = dataclasses.asdict(self)
        d["languages"] = list(self.languages)
        d.pop("threads")
        if self.device != "cuda":  # never used on a CPU: a CPU's transcripts and results keep their keys
            d.pop("cuda_batch_size")
        return d


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
    flag_threshold: float = bounded(0.6, 0.0, 1.0)  # segment agitation at or above which the segment counts as agitated
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
