"""Emotional flags per role: agreeing cues against the speaker's own baseline, the role's context, evidence."""

from __future__ import annotations

import numpy as np

from qa_pipeline.config import ToneConfig
from qa_pipeline.contracts import Call
from qa_pipeline.stages.tone import acoustic
from qa_pipeline.stages.tone.emotion import TONE_VERSION
from qa_pipeline.stages.tone.flags import emotion_findings, segment_cues

CFG = ToneConfig()


def _row(speaker: str, start: float, seconds: float, z: dict[str, float], negativity: float = 0.1,
         agitation: float = 0.7, text: str = "words") -> dict:
    return {"speaker": speaker, "start": start, "end": start + seconds, "agitation": agitation,
            "acoustic": agitation, "text_negativity": negativity, "z": z, "text": text,
            "speaking_seconds": seconds, "reliability": seconds / (seconds + CFG.short_seconds)}


def _flags(rows: list[dict]) -> list:
    return emotion_findings(rows, Call("c", "x.wav"), CFG, TONE_VERSION)


def test_a_louder_strained_voice_is_a_flag_with_its_cues_and_second() -> None:
    rows = [_row("caller", 0.0, 4.0, {"loudness_db": 0.1, "effort_db": 0.0}, agitation=0.2),
            _row("caller", 10.0, 3.0, {"loudness_db": 2.5, "effort_db": 2.0, "pitch_st": 0.2}, text="This is ridiculous"),
            _row("caller", 14.0, 2.0, {"loudness_db": 2.8, "effort_db": 1.5}, negativity=0.9, text="Unbelievable",
                 agitation=0.8)]
    [flag] = _flags(rows)
    assert (flag.rule_id, flag.speaker, flag.start, flag.end) == ("emotional_caller", "caller", 10.0, 16.0)
    assert set(flag.details.cues) == {"loudness", "effort", "words"}
    assert flag.details.peak_at == 14.0  # the most agitated segment: where a coach listens first
    assert flag.evidence.startswith("from 14 s: louder +") and "negative words 0.90" in flag.evidence
    assert flag.details.segment_cues == [["effort", "loudness"], ["effort", "loudness", "words"]]


def test_one_cue_alone_is_not_a_flag() -> None:
    """Louder only, faster only, negative words only: how people also speak when calm."""
    assert not _flags([_row("caller", 0.0, 5.0, {"loudness_db": 3.0, "effort_db": 0.2})])
    assert not _flags([_row("caller", 0.0, 5.0, {"rate": 2.5})])
    assert not _flags([_row("caller", 0.0, 5.0, {"loudness_db": 0.0}, negativity=0.95)])


def test_an_agents_words_and_pace_are_not_the_agents_emotion() -> None:
    """An agent explaining a procedure fast, or naming the caller's frustration, is not flagged; the same
    cues from the caller are the caller's state."""
    explaining = {"rate": 2.5, "loudness_db": 0.4}
    empathy = {"loudness_db": 1.8, "effort_db": 0.3}
    agent = [_row("agent", 0.0, 8.0, explaining, text="So first you open the app, then tap settings"),
             _row("agent", 10.0, 3.0, empathy, negativity=0.7, text="I understand how frustrating that is")]
    assert not _flags(agent)
    caller = [{**r, "speaker": "caller"} for r in agent]
    assert [f.rule_id for f in _flags(caller)] == ["emotional_caller"]
    shouting = [_row("agent", 0.0, 3.0, {"loudness_db": 2.6, "effort_db": 2.2})]
    assert [f.rule_id for f in _flags(shouting)] == ["emotional_agent"]


def test_a_short_segment_counts_less_but_a_short_outburst_of_many_cues_is_a_flag() -> None:
    short = _row("caller", 0.0, 0.4, {"loudness_db": 1.5, "effort_db": 1.5})
    assert segment_cues(short, CFG) == {}  # 0.4 s: z counts 0.44 of itself
    two_cues = _row("caller", 0.0, 0.9, {"loudness_db": 2.5, "effort_db": 2.0})
    assert set(segment_cues(two_cues, CFG)) == {"loudness", "effort"}
    assert not _flags([two_cues])  # under flag_min_seconds, and no more cues than a segment needs
    outburst = _row("caller", 0.0, 0.9, {"loudness_db": 3.0, "effort_db": 2.2, "pitch_st": 1.7}, negativity=0.8)
    assert [f.end for f in _flags([outburst])] == [0.9]


def test_the_chart_threshold_still_gates_the_flag() -> None:
    calm_overall = _row("caller", 0.0, 4.0, {"loudness_db": 1.5, "effort_db": 1.2}, agitation=0.3)
    assert not _flags([calm_overall])


def _regions(levels: list[tuple[float, float]]) -> list[acoustic.RegionFeatures]:
    """(seconds, loudness dB) per segment, one after another."""
    out, t = [], 0.0
    for seconds, level in levels:
        out.append(acoustic.RegionFeatures(t, t + seconds, {"loudness_db": level}))
        t += seconds + 0.5
    return out


def test_resting_loudness_of_a_speaker_angry_all_call_long() -> None:
    """Angry (loud) for 26 s with 2 s of calm: the 30 % quantile is angry, the calmest 5 % is not."""
    regions = _regions([(5.0, -15.0), (2.0, -27.0), (6.0, -14.5), (5.0, -15.5), (5.0, -14.8), (5.0, -15.2)])
    plain = acoustic.speaker_baseline(regions, rest_quantile=0.0)["loudness_db"][0]
    rest = acoustic.speaker_baseline(regions, rest_quantile=0.05)["loudness_db"][0]
    assert plain > -15.5  # the angry voice as its own baseline: no z, no flag
    assert rest < plain - 5.0  # measured from the calm stretch: the angry voice stands out


def test_resting_loudness_leaves_a_calm_lively_voice_alone() -> None:
    """A calm speaker whose level varies by a few dB, with one soft "okay": the centre barely moves."""
    rng = np.random.default_rng(7)
    levels = [(float(rng.uniform(1.5, 6.0)), float(rng.normal(-20.0, 2.5))) for _ in range(40)] + [(1.0, -29.0)]
    regions = _regions(levels)
    plain = acoustic.speaker_baseline(regions, rest_quantile=0.0)["loudness_db"][0]
    rest = acoustic.speaker_baseline(regions, rest_quantile=0.05)["loudness_db"][0]
    assert plain - rest < 1.9  # less than one unit of loudness z


def test_a_long_neutral_agent_explanation_needs_every_voice_cue() -> None:
    """An agent leaning in to explain a procedure (louder and brighter, neutral words, 5 s) is not flagged;
    the same voice in a short turn, or raised on all three cues, is."""
    leaning_in = {"loudness_db": 1.4, "effort_db": 1.9, "pitch_st": 0.3}
    explaining = _row("agent", 0.0, 5.0, leaning_in, negativity=0.05, text="Also, if you wanted to wait two days")
    assert not _flags([explaining])
    assert _flags([_row("agent", 0.0, 3.0, leaning_in, negativity=0.05)])
    raised = _row("agent", 0.0, 5.0, {**leaning_in, "pitch_st": 1.5}, negativity=0.05)
    assert [f.rule_id for f in _flags([raised])] == ["emotional_agent"]


def test_a_bright_voice_with_friendly_words_is_warmth() -> None:
    bright = {"loudness_db": 1.5, "effort_db": 1.3, "pitch_st": 1.7}
    warm = {**_row("agent", 0.0, 3.0, bright, text="That sounds great, thank you!"), "text_positivity": 0.9}
    assert not _flags([warm])
    assert _flags([{**warm, "text_positivity": 0.1}])
