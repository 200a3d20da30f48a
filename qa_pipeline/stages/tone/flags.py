"""Emotional flags per role (``emotional_agent`` / ``emotional_caller``), each carrying its evidence.

A segment's cues are z-scores against the speaker's own baseline in the call (``acoustic.speaker_baseline``),
so a steadily loud, high or fast talker is not flagged for being themselves. The cues, as a coach hears them:

- ``loudness``: the level of the speaker's active frames,
- ``effort``: the spectrum's tilt towards 1-3.4 kHz (a raised, strained voice),
- ``pitch``: median pitch,
- ``rate``: syllables per second of speaking time: shown in the evidence, never counted (a count of a few
  words over Whisper's word times is too noisy on real speech to decide anything),
- ``words``: the text's negativity (the sentiment model).

A voice cue is raised when its z, times the segment's reliability (speaking time t: t / (t + short_seconds),
a half-second "Sure." is a few dozen frames), reaches ``cue_z``; the words when their negativity reaches
``words_negativity``. A segment counts towards a flag when its agitation reaches ``flag_threshold`` and at
least ``min_cues`` cues that count for the role agree: one cue on its own (louder only, faster only,
negative words only) is how people also speak when calm.

The call's context, per role:

- both: a segment whose words are positive (``words_positivity``: thanks, "that sounds great") never counts;
  a raised, bright voice there is warmth, and emotional flags are about anger and distress;
- caller: words of anger or complaint are evidence of the caller's state and count as a cue;
- agent: only the voice's loudness, effort and pitch count. An agent's words are about the caller's problem
  ("I understand how frustrating that is" reads as negative), and an agent explaining a procedure talks
  faster and longer than in the short answers that set their baseline: neither is the agent's emotion.
  A long agent turn (``explain_seconds`` of speech) in neutral words is an explanation: agents lean in, louder
  and brighter, to explain a procedure, so there one cue more than ``min_cues`` must agree;

Agitated segments of one speaker closer than ``flag_merge_gap`` form a run. A run with ``flag_min_seconds``
of agitated speech, or one segment on which more than ``min_cues`` cues agree (a short outburst, "你骂谁呢?"),
is a finding; its details name the cues with their peak values and the second a coach should listen from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qa_pipeline.config import ToneConfig
from qa_pipeline.contracts import Call, Finding, ToneEvent

VOICE_CUES: dict[str, str] = {"loudness": "loudness_db", "effort": "effort_db", "pitch": "pitch_st", "rate": "rate"}
CUE_WORDS = {"loudness": "louder", "effort": "strained voice", "pitch": "higher pitch", "rate": "faster"}


def segment_cues(row: dict[str, Any], cfg: ToneConfig) -> dict[str, float]:
    """The raised cues of a timeline row: voice cue → z (at least ``cue_z``, after the row's ``reliability``:
    a short segment counts less), ``words`` → negativity (at least ``words_negativity``)."""
    cues: dict[str, float] = {}
    shrink = float(row.get("reliability", 1.0))
    for cue, feature in VOICE_CUES.items():
        z = row["z"].get(feature)
        if z is not None and np.isfinite(z) and z * shrink >= cfg.cue_z:
            cues[cue] = round(float(z) * shrink, 2)
    if row["text_negativity"] >= cfg.words_negativity:
        cues["words"] = round(float(row["text_negativity"]), 2)
    return cues


def counts_as_agitated(row: dict[str, Any], cues: dict[str, float], cfg: ToneConfig) -> bool:
    if row["agitation"] < cfg.flag_threshold:
        return False
    if row.get("text_positivity", 0.0) >= cfg.words_positivity:
        return False  # a bright voice saying "That sounds great" is warmth, not anger or distress
    needed = cfg.min_cues
    if (row["speaker"] == "agent" and row["text_negativity"] < cfg.words_negativity
            and row.get("speaking_seconds", 0.0) >= cfg.explain_seconds):
        needed += 1  # a long agent turn in neutral words is an explanation: leaning in is not emotion
    return len(counted_cues(row["speaker"], cues)) >= needed


def counted_cues(speaker: str, cues: dict[str, float]) -> list[str]:
    """The cues that count towards a flag for this role (the module's docstring says why)."""
    voice = [c for c in cues if c in ("loudness", "effort", "pitch")]
    return voice if speaker == "agent" else voice + [c for c in cues if c == "words"]


def emotion_findings(timeline: list[dict[str, Any]], call: Call, cfg: ToneConfig, version: str) -> list[Finding]:
    findings = []
    for speaker in ("agent", "caller", "unknown"):
        hot = []
        for row in timeline:
            if row["speaker"] != speaker:
                continue
            cues = segment_cues(row, cfg)
            if counts_as_agitated(row, cues, cfg):
                hot.append((row, cues))
        runs: list[list[tuple[dict[str, Any], dict[str, float]]]] = []
        for item in hot:
            if runs and item[0]["start"] - runs[-1][-1][0]["end"] <= cfg.flag_merge_gap:
                runs[-1].append(item)
            else:
                runs.append([item])
        for run in runs:
            seconds = sum(r["end"] - r["start"] for r, _ in run)
            # A short outburst is a flag too when more cues agree on it than a segment needs.
            outburst = any(len(counted_cues(speaker, c)) > cfg.min_cues for _, c in run)
            if seconds >= cfg.flag_min_seconds or outburst:
                findings.append(_finding(run, seconds, speaker, call, version))
    return findings


def _finding(run: list[tuple[dict[str, Any], dict[str, float]]], seconds: float, speaker: str, call: Call,
             version: str) -> Finding:
    peak_row = max(run, key=lambda item: item[0]["agitation"])[0]
    cues: dict[str, float] = {}
    for _, seg_cues in run:
        # Rate is shown as support (a coach hears it), never counted.
        for name in counted_cues(speaker, seg_cues) + [c for c in seg_cues if c == "rate"]:
            cues[name] = max(cues.get(name, seg_cues[name]), seg_cues[name])
    heard = [f"{CUE_WORDS[name]} +{cues[name]:.1f}σ" for name in VOICE_CUES if name in cues]
    if "words" in cues:
        heard.append(f"negative words {cues['words']:.2f}")
    evidence = (f"from {peak_row['start']:.0f} s: {', '.join(heard)} (vs. own baseline): "
                + " / ".join(r["text"] for r, _ in run))[:300]
    return Finding(
        call_id=call.call_id, kind="tone",
        rule_id="emotional_agent" if speaker == "agent" else "emotional_caller",
        rule_version=version, speaker=speaker,  # type: ignore[arg-type]
        start=run[0][0]["start"], end=run[-1][0]["end"],
        evidence=evidence,
        confidence=round(peak_row["agitation"], 3),
        severity="major" if speaker == "agent" else "minor",
        details=ToneEvent(peak_agitation=peak_row["agitation"], agitated_seconds=round(seconds, 1),
                          segments=[[r["start"], r["end"], r["agitation"]] for r, _ in run],
                          cues=cues, peak_at=peak_row["start"],
                          segment_cues=[sorted(counted_cues(speaker, c)) for _, c in run]),
    )
