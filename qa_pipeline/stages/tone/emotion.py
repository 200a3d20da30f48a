"""Tone stage: agitation of agent and caller per segment and per call, emotional flags, call dynamics.

``analyze_tone(audio, transcript, call, config)`` fuses two signals per transcript segment:

- acoustic arousal (``acoustic.py``): loudness, pitch level and spread, vocal effort and speaking rate as
  z-scores against the speaker's own baseline in the call (stereo: the speaker's channel; mono: the mix),
- text negativity (``sentiment.py``): probability that the segment's words are negative,

into ``agitation`` in [0, 1]. Runs of agitated segments become ``tone`` findings (``emotional_agent`` /
``emotional_caller``); gaps with nobody speaking become ``silence`` findings; one speaker starting while the
other is mid-sentence, and both talking for a while, becomes an ``overtalk`` finding.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa_pipeline.base.audio import blocks
from qa_pipeline.config import ToneConfig
from qa_pipeline.contracts import Call, Finding, Segment, TimingEvent, ToneSummary, Transcript, from_data
from qa_pipeline.stages.tone import acoustic
from qa_pipeline.stages.tone.flags import emotion_findings
from qa_pipeline.stages.tone.sentiment import LABELS, load_sentiment

TONE_VERSION = "tone-2"  # 2: flags by agreeing cues per role (flags.py), resting loudness
_CJK = re.compile(r"[\u3400-\u9fff0-9]")


@dataclass
class ToneResult:
    summary: ToneSummary
    findings: list[Finding] = field(default_factory=list)


def _units(seg: Segment) -> int:
    """Syllable proxy: Chinese characters and digits (read one syllable each) in Mandarin, else words."""
    if re.search(r"[\u3400-\u9fff]", seg.text):
        return len(_CJK.findall(seg.text))
    return len(seg.words) or len(seg.text.split())


def _speaking_seconds(seg: Segment) -> float | None:
    spans = _speech_intervals([seg], join_gap=0.3) if seg.words else []
    return sum(b - a for a, b in spans) or None


def _speech_intervals(segments: list[Segment], join_gap: float = 0.5) -> list[tuple[float, float]]:
    """When a speaker is actually talking: word times where known (segments span pauses), else segments."""
    spans = sorted((w.start, w.end) for s in segments for w in s.words if w.end > w.start)
    spans += sorted((s.start, s.end) for s in segments if not s.words)
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + join_gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _speaker_channels(audio: Any, transcript: Transcript) -> dict[str, np.ndarray]:
    speakers = sorted({s.speaker for s in transcript.segments})
    if audio.layout == "stereo" and len(audio.channels) == 2:
        channel = {"agent": audio.channels[0], "caller": audio.channels[1]}
        return {sp: channel.get(sp, audio.mono()) for sp in speakers}
    mono = audio.mono()
    return {sp: mono for sp in speakers}


def _logistic(x: float, center: float, slope: float) -> float:
    return 1.0 / (1.0 + math.exp(-slope * (x - center)))



@dataclass
class Measured:
    """What the tone stage measures of a call's segments before it decides anything: acoustic cues per
    segment and the text negativity of its words (the costly part; the decisions are cheap to re-run)."""

    segments: list[Segment]
    regions: list[acoustic.RegionFeatures]
    negativity: np.ndarray
    sentiment_model: str
    positivity: np.ndarray | None = None

    def by_speaker(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, seg in enumerate(self.segments):
            out.setdefault(seg.speaker, []).append(i)
        return out


def measure_segments(audio: Any, transcript: Transcript, model: Any) -> Measured:
    segments = [s for s in transcript.segments if s.end > s.start]
    texts = [s.text for s in segments]
    probs = model.predict_proba(texts) if texts else np.zeros((0, 3))
    negativity = probs[:, LABELS.index("negative")] if len(texts) else np.zeros(0)
    positivity = probs[:, LABELS.index("positive")] if len(texts) else np.zeros(0)
    channels = _speaker_channels(audio, transcript)
    frames_cache: dict[int, acoustic.FrameFeatures] = {}
    regions: list[acoustic.RegionFeatures] = []
    for seg in segments:
        signal = channels[seg.speaker]
        key = id(signal)
        if key not in frames_cache:
            spans = [(s.start, s.end) for s in segments if channels[s.speaker] is signal]
            frames_cache[key] = acoustic.frame_features(signal, audio.rate, spans)
        regions.append(acoustic.region_features(frames_cache[key], seg.start, seg.end, _units(seg),
                                                _speaking_seconds(seg)))
    return Measured(segments, regions, np.asarray(negativity, dtype=float), model.name,
                    np.asarray(positivity, dtype=float))


def score_segments(measured: Measured, cfg: ToneConfig,
                   baseline: dict[str, dict[str, tuple[float, float]]] | None = None,
                   ) -> tuple[list[dict[str, Any]], dict[str, dict[str, tuple[float, float]]]]:
    """Per segment: cue z-scores against the speaker's own baseline, acoustic score, text negativity and
    their fusion (agitation); and each speaker's baseline."""
    segments, regions = measured.segments, measured.regions
    timeline: list[dict[str, Any]] = []
    baselines: dict[str, dict[str, tuple[float, float]]] = {}
    for speaker, idx in measured.by_speaker().items():
        base = acoustic.speaker_baseline([regions[i] for i in idx], cfg.prior_seconds, (baseline or {}).get(speaker),
                                         cfg.rest_quantile)
        baselines[speaker] = base
        for i in idx:
            z = acoustic.zscores(regions[i], base)
            talk = _speaking_seconds(segments[i]) or segments[i].end - segments[i].start
            # A second of speech is a few dozen frames: its cue means are noisy, so they count for less.
            reliability = talk / (talk + cfg.short_seconds) if cfg.short_seconds else 1.0
            arousal = acoustic.arousal(z) * reliability
            acoustic_score = _logistic(arousal, cfg.acoustic_center, cfg.acoustic_slope) if np.isfinite(arousal) else None
            text_neg = float(measured.negativity[i])
            # The voice leads; negative words raise agitation into the headroom the voice leaves, so calm
            # words cannot hide a shouting voice and negative words alone (a calmly stated complaint)
            # cannot pass flag_threshold.
            voice = acoustic_score if acoustic_score is not None else 0.0
            agitation = voice + cfg.text_weight * text_neg * (1.0 - voice)
            timeline.append({
                "speaker": speaker, "start": round(segments[i].start, 2), "end": round(segments[i].end, 2),
                "agitation": round(float(agitation), 3),
                "acoustic": None if acoustic_score is None else round(acoustic_score, 3),
                "text_negativity": round(text_neg, 3),
                "text_positivity": round(float(measured.positivity[i]), 3) if measured.positivity is not None else 0.0,
                "z": {k: round(v, 2) for k, v in z.items()},
                "text": segments[i].text,
                "speaking_seconds": round(talk, 2), "reliability": round(reliability, 3),
            })
    timeline.sort(key=lambda row: (row["start"], row["speaker"]))
    return timeline, baselines


def analyze_tone(
    audio: Any,
    transcript: Transcript,
    call: Call,
    config: ToneConfig | None = None,
    baseline: dict[str, dict[str, tuple[float, float]]] | None = None,
    sentiment: Any = None,
) -> ToneResult:
    """Tone of one call. ``baseline``: optional stored per-speaker cue baselines (speaker → feature → (mean, sd)),
    e.g. the agent's over past calls; ``sentiment``: a ``SentimentModel`` (default: the configured back-end)."""

    cfg = config or ToneConfig()
    model = sentiment or load_sentiment(cfg.sentiment_model, cfg.text_threads)
    measured = measure_segments(audio, transcript, model)
    segments = measured.segments
    by_speaker = measured.by_speaker()
    timeline, baselines = score_segments(measured, cfg, baseline)

    findings = emotion_findings(timeline, call, cfg, TONE_VERSION)
    intervals = {sp: _speech_intervals([segments[i] for i in idx]) for sp, idx in by_speaker.items()}
    findings += _silence_findings(intervals, audio, transcript, call, cfg)
    findings += _overtalk_findings(intervals, call, cfg)

    speakers_summary = {}
    for speaker in by_speaker:
        rows = [r for r in timeline if r["speaker"] == speaker]
        talk = sum(b - a for a, b in intervals[speaker])
        speakers_summary[speaker] = {
            "agitation": _weighted_agitation(rows),
            "trend": _trend(rows, cfg),
            "talk_seconds": round(talk, 1),
            "segments": len(rows),
            "baseline": {k: [round(m, 2), round(s, 2)] for k, (m, s) in baselines[speaker].items()},
        }
    agent_talk = speakers_summary.get("agent", {}).get("talk_seconds")
    caller_talk = speakers_summary.get("caller", {}).get("talk_seconds")
    summary = {
        "version": TONE_VERSION,
        "sentiment_model": measured.sentiment_model,
        "layout": audio.layout,
        "duration": round(float(transcript.duration or audio.duration), 2),
        "speakers": speakers_summary,
        "talk_listen_ratio": round(agent_talk / caller_talk, 2) if agent_talk and caller_talk else None,
        "silence_seconds": round(sum(f.end - f.start for f in findings if f.kind == "silence"), 1),
        "overtalk_count": sum(1 for f in findings if f.kind == "overtalk"),
        "timeline": timeline,
    }
    return ToneResult(summary=from_data(ToneSummary, summary), findings=findings)


def _weighted_agitation(rows: list[dict[str, Any]]) -> float | None:
    weights = [r["end"] - r["start"] for r in rows]
    if not rows or sum(weights) <= 0:
        return None
    return round(float(np.average([r["agitation"] for r in rows], weights=weights)), 3)


def _trend(rows: list[dict[str, Any]], cfg: ToneConfig) -> dict[str, Any] | None:
    """Agitation over the first third of the speaker's speech vs the last third."""
    if len(rows) < 2:
        return None
    total = sum(r["end"] - r["start"] for r in rows)
    cum, first, last = 0.0, [], []
    for r in rows:
        mid = cum + (r["end"] - r["start"]) / 2
        cum += r["end"] - r["start"]
        if mid <= total / 3:
            first.append(r)
        elif mid >= 2 * total / 3:
            last.append(r)
    first, last = first or rows[:1], last or rows[-1:]
    start, end = _weighted_agitation(first), _weighted_agitation(last)
    delta = round(end - start, 3)
    return {"start": start, "end": end, "delta": delta,
            "direction": "calmer" if delta <= -cfg.calm_delta else "more agitated" if delta >= cfg.calm_delta else "steady"}


def _silence_findings(intervals: dict[str, list[tuple[float, float]]], audio: Any, transcript: Transcript,
                      call: Call, cfg: ToneConfig) -> list[Finding]:
    """Gaps between the first and last speech of the call where nobody speaks. A gap whose audio is loud
    (hold music, background talk not transcribed) is reported as a hold rather than dead air."""
    spans = sorted(s for v in intervals.values() for s in v)
    findings = []
    end_so_far = spans[0][1] if spans else 0.0
    mix = audio.mono()
    loud_floor = _loud_floor(mix, audio.rate)
    for start, end in spans[1:]:
        if start - end_so_far > cfg.silence_seconds:
            gap = mix[int(end_so_far * audio.rate): int(start * audio.rate)]
            level = 10 * math.log10(float(np.mean(gap.astype(np.float64) ** 2)) + 1e-12) if gap.size else -120.0
            kind = "hold" if level > loud_floor else "dead_air"
            findings.append(Finding(
                call_id=call.call_id, kind="silence", rule_id=kind, rule_version=TONE_VERSION, speaker="unknown",
                start=round(end_so_far, 2), end=round(start, 2),
                evidence=f"{start - end_so_far:.1f} s with no speech ({kind.replace('_', ' ')}, {level:.0f} dBFS)",
                confidence=1.0, severity="minor",
                details=TimingEvent(seconds=round(start - end_so_far, 1), level_dbfs=round(level, 1)),
            ))
        end_so_far = max(end_so_far, end)
    return findings


def _loud_floor(x: np.ndarray, rate: int) -> float:
    """Level (dBFS) 30 dB under the recording's loud 20 ms frames: quieter than this is silence."""
    hop = rate // 50
    n = len(x) // hop
    if n == 0:
        return -120.0
    # Block by block: a float64 copy of a 3-hour mix would be 1.4 GB (the same frame powers either way).
    power = np.concatenate([np.mean(b.astype(np.float64).reshape(-1, hop) ** 2, axis=1)
                            for b in blocks(x[: n * hop], hop * 3000)])
    return float(10 * np.log10(np.percentile(power, 95) + 1e-12)) - 30.0


def _overtalk_findings(intervals: dict[str, list[tuple[float, float]]], call: Call, cfg: ToneConfig) -> list[Finding]:
    """Speaker B starts while A is talking (A started first) and both talk for at least overtalk_min_seconds."""
    findings = []
    roles = [sp for sp in intervals if sp != "unknown"]
    for cutter in roles:
        for other in roles:
            if other == cutter:
                continue
            for b_start, b_end in intervals[cutter]:
                for a_start, a_end in intervals[other]:
                    if a_start < b_start < a_end:
                        overlap = min(a_end, b_end) - b_start
                        if overlap >= cfg.overtalk_min_seconds:
                            findings.append(Finding(
                                call_id=call.call_id, kind="overtalk", rule_id=f"{cutter}_interrupts",
                                rule_version=TONE_VERSION, speaker=cutter,  # type: ignore[arg-type]
                                start=round(b_start, 2), end=round(min(a_end, b_end), 2),
                                evidence=f"{cutter} cut in on {other} ({overlap:.1f} s of talking over)",
                                confidence=1.0, severity="minor",
                                details=TimingEvent(interrupted=other, overlap_seconds=round(overlap, 2)),
                            ))
    return sorted(findings, key=lambda f: f.start)
