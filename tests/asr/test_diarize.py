"""Mono diarization on real recordings: DER on the real phone call, roles on the real call mixed to mono."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import shared

from qa_pipeline.base.audio import Audio, load_audio
from qa_pipeline.contracts import Segment, Transcript, Word
from qa_pipeline.eval.der import diarization_error_rate, load_rttm
from qa_pipeline.eval.diarization import channel_truth, mix_to_mono, role_accuracy
from qa_pipeline.stages.diarize import agent_likeness, diarize, track_speakers


@pytest.mark.shared
def test_der_on_the_real_phone_call():
    clip = load_audio(shared("phone_en", "sample.wav"))
    track = track_speakers(clip.channels[0])
    assert track.n_speakers == 2
    result = diarization_error_rate(load_rttm(shared("phone_en", "sample.rttm")), track.turns, collar=0.25)
    assert result.der <= 0.20, result.as_dict()


@pytest.mark.shared
def test_one_speaker_is_found_as_one_voice():
    agent = load_audio(shared("calls_en", "Auto_Repairs_40_UTC_agent.wav"))
    track = track_speakers(agent.channels[0])
    assert track.n_speakers == 1
    assert {spk for _, _, spk in track.turns} == {"S0"}


def test_stereo_transcript_is_returned_untouched():
    audio = Audio("x.wav", "0", 16000, 2, "wav", 1.0, [__import__("numpy").zeros(16000, "float32")] * 2, "stereo")
    t = Transcript("en", "m", {}, 1.0, [Segment("agent", 0.0, 1.0, "hi", "hi", words=[Word(0, 1, "hi", 1)])])
    assert diarize(audio, t) is t


def test_agent_cues_in_both_languages():
    agent = [(0.5, "Thank you for calling Harbor Bank, how can I help you today?")]
    caller = [(5.0, "Hi, I lost my card yesterday.")]
    assert agent_likeness(agent, 0.0) > agent_likeness(caller, 0.0)
    assert agent_likeness([(0.3, "您好这里是东方银行信用卡中心我是客服小王")], 0.0) > agent_likeness([(4.0, "你好我的卡丢了")], 0.0)


@pytest.mark.slow
@pytest.mark.shared
def test_roles_on_the_real_call_mixed_to_mono(real_call_stereo):
    from qa_pipeline.config import QAConfig, TranscribeOptions
    from qa_pipeline.pipeline import diarize_call
    from qa_pipeline.stages.transcribe import transcribe_cached

    stereo = load_audio(real_call_stereo)
    seconds = 120  # the first two minutes keep the test short; `qa eval diarization` scores all of it
    n = seconds * 16000
    stereo = dataclasses.replace(stereo, channels=[c[:n] for c in stereo.channels], duration=float(seconds),
                                 sha256=stereo.sha256 + f"-first{seconds}s")
    mono = mix_to_mono(stereo)
    # the product's roles: the voices, then what each says by the rule pack's examples
    labelled, roles = diarize_call(mono, transcribe_cached(mono, TranscribeOptions(language="en")), QAConfig())
    assert {s.speaker for s in labelled.segments} == {"agent", "caller"}
    assert roles.source == "voices" and roles.meaning > 0 and roles.confidence >= 0.8 and not roles.uncertain
    greeting = next(s for s in labelled.segments if "calling" in s.text.lower())  # "Thank you for calling …"
    assert greeting.speaker == "agent"
    agent, caller = stereo.channels
    result = role_accuracy(labelled, lambda a, b: channel_truth(agent, caller, a, b))
    assert result["words"] > 150
    assert result["accuracy"] >= 0.95, result
    # word order and times survive the split: every word still lies inside its segment
    for seg in labelled.segments:
        assert all(seg.start <= w.start and w.end <= seg.end for w in seg.words)
