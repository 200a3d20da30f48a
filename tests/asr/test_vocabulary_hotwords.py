"""asr.vocabulary reaches Whisper: the greeting of two voiced dev calls (evalsets/calls), cut to its first turn,
spells the company's name as the vocabulary gives it, and the transcript's settings record the list."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qa_pipeline.base.audio import load_audio
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.stages.transcribe import transcribe_cached

CALLS = Path(__file__).resolve().parents[2] / "evalsets" / "calls"


@pytest.mark.parametrize("call_id, language, agent_channel, layout, names", [
    ("ev_en_gym_cancellation", "en", 0, "mono", ("IronWorks Fitness", "IronWorks")),  # base hears "our own work"
    ("ev_zh_hotel_parking_pets", "zh", 1, "stereo", ("晴川酒店",)),  # base hears 秦川酒店
])
def test_the_vocabulary_spells_the_company_name(call_id: str, language: str, agent_channel: int, layout: str,
                                                names: tuple[str, ...]) -> None:
    first = json.loads((CALLS / "labels.json").read_text(encoding="utf-8"))["calls"][call_id]["utterances"][0]
    audio = load_audio(CALLS / "audio" / f"{call_id}.flac", agent_channel=agent_channel, layout=layout)
    end = first["end"] + 0.5
    clip = dataclasses.replace(audio, channels=[c[: int(end * 16000)] for c in audio.channels], duration=end,
                               sha256=f"{audio.sha256}-first-turn")
    plain = transcribe_cached(clip, TranscribeOptions(language=language))
    named = transcribe_cached(clip, TranscribeOptions(language=language, vocabulary={language: names}))
    text = lambda t: " ".join(s.text for s in t.segments)  # noqa: E731
    assert names[0] not in text(plain) and "vocabulary" not in plain.settings  # the miss the vocabulary mends
    assert names[0] in text(named), text(named)
    assert named.settings["vocabulary"] == {language: list(names)}
