"""Telephony transcription with the real model on real audio.

The real stereo call is transcribed once per session (through the CLI, into the
session's transcript cache) and shared by the tests below.
"""


from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from qa_pipeline.base.audio import AudioError, load_audio
from qa_pipeline.base.textnorm import normalize_display, to_simplified
from qa_pipeline.cli import app
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.contracts import Segment, Transcript, transcript_from_dict
from qa_pipeline.eval.asr import count_errors
from qa_pipeline.stages.transcribe import cache_dir, cache_key, transcribe_audio, transcribe_cached
from tests.conftest import SAMPLES, shared

runner = CliRunner()


def run_cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="session")
def call_transcript(real_call_stereo: Path) -> Transcript:
    return transcript_from_dict(json.loads(run_cli("transcribe", str(real_call_stereo), "--json")))


def active_frames(samples: np.ndarray, floor_dbfs: float = -35.0, frame: int = 160) -> np.ndarray:
    """Start times (s) of 10 ms frames of a 16 kHz channel louder than ``floor_dbfs``.

    Each channel of the call holds one speaker recorded close to the microphone
    (the agent's channel is digital silence between turns, the caller's about
    -65 dBFS, voices -10 to -30 dBFS), so energy on a channel is that speaker's
    voice: an independent, sample-accurate reference for word times that needs no
    transcript (the SILVER transcripts are machine output, and coarse).
    """
    n = len(samples) // frame * frame
    rms = np.sqrt(np.mean(np.square(samples[:n].reshape(-1, frame)), axis=1))
    return np.flatnonzero(20 * np.log10(rms + 1e-12) > floor_dbfs) * frame / 16000


def onset_after(active: np.ndarray, t: float) -> float:
    """First voice onset after ``t``: an active frame with >= 150 ms of activity in the next 300 ms
    (a click or a breath is not an onset)."""
    candidates = active[active >= t]
    for start in candidates:
        if np.count_nonzero((candidates >= start) & (candidates < start + 0.3)) >= 15:
            return float(start)
    raise AssertionError(f"no voice after {t} s")


def tones(kind: str, seconds: float = 30.0, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros_like(t)
    if kind == "chords":  # I-vi-IV-V, 2 s each
        progression = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
        for i in range(int(seconds // 2)):
            span = (t >= 2 * i) & (t < 2 * i + 2)
            out[span] = sum(np.sin(2 * np.pi * f * t[span]) for f in progression[i % 4]) / 3
    elif kind == "dtmf":  # key presses: 250 ms tone pairs, 250 ms apart
        for i in range(int(seconds * 2)):
            span = (t >= 0.5 * i) & (t < 0.5 * i + 0.25)
            low, high = (697, 770, 852, 941)[i % 4], (1209, 1336, 1477)[i % 3]
            out[span] = np.sin(2 * np.pi * low * t[span]) + np.sin(2 * np.pi * high * t[span])
    elif kind == "melody":  # plucked notes over a bass drone, like hold music
        notes = [392, 440, 494, 523, 587, 523, 494, 440]
        for i in range(int(seconds * 2)):
            span = (t >= 0.5 * i) & (t < 0.5 * i + 0.5)
            f, env = notes[i % 8], np.exp(-3 * (t[span] - 0.5 * i))
            out[span] = env * (np.sin(2 * np.pi * f * t[span]) + 0.3 * np.sin(4 * np.pi * f * t[span]))
        out += 0.3 * np.sin(2 * np.pi * 110 * t)
    return 0.3 * out / np.max(np.abs(out))


def low_noise(seconds: float = 30.0, rate: int = 8000, seed: int = 0) -> np.ndarray:
    return 0.003 * np.random.default_rng(seed).standard_normal(int(seconds * rate))  # about -50 dBFS


def test_roles_on_the_real_call(call_transcript: Transcript) -> None:
    agent = " ".join(s.text for s in call_transcript.segments if s.speaker == "agent").lower()
    caller = " ".join(s.text for s in call_transcript.segments if s.speaker == "caller").lower()
    first = call_transcript.segments[0]
    assert first.speaker == "agent" and "thank you for calling" in first.text.lower()
    assert "platinum" in agent and "how can i help you" in agent
    assert "dealership" in caller and "jack" in caller
    assert "dealership" not in agent and "thank you for calling" not in caller
    assert call_transcript.language == "en"
    assert {s.speaker for s in call_transcript.segments} == {"agent", "caller"}


def test_word_times_match_each_channels_audio(call_transcript: Transcript, real_call_stereo: Path) -> None:
    audio = load_audio(real_call_stereo)
    active = {"agent": active_frames(audio.channels[0]), "caller": active_frames(audio.channels[1])}
    words = {role: [w for s in call_transcript.segments if s.speaker == role for w in s.words] for role in active}

    greeting = {w.text.strip(",.").lower(): w for w in words["agent"][:6]}
    assert abs(greeting["thank"].start - onset_after(active["agent"], 0.0)) < 0.5
    for name in ("calling", "platinum"):  # spoken, on the agent's channel, inside the greeting
        w = greeting[name]
        assert np.any((active["agent"] >= w.start - 0.5) & (active["agent"] <= w.end + 0.5))
    assert abs(words["caller"][0].start - onset_after(active["caller"], 0.0)) < 0.5

    # The agent is silent from ~6 s to ~45 s; her next sentence ("Of course, I'm so
    # sorry ...") is fast and quiet to the VAD and sits at a packing seam.
    after = [w for w in words["agent"] if w.start > 20.0]
    assert abs(after[0].start - onset_after(active["agent"], 20.0)) < 0.5
    assert "sorry" in " ".join(w.text.lower() for w in after[:8])

    # Every word lies within 0.5 s of its own speaker's voice.
    for role, ws in words.items():
        near = [np.any(np.abs(active[role] - (w.start + w.end) / 2) <= 0.5 + (w.end - w.start) / 2) for w in ws]
        assert np.mean(near) >= 0.98, role
        assert all(0 <= w.start <= w.end <= audio.duration for w in ws)


def test_transcribe_cli_prints_turns(call_transcript: Transcript, real_call_stereo: Path) -> None:
    text = run_cli("transcribe", str(real_call_stereo))  # cached: same settings as the fixture
    lines = [line for line in text.splitlines() if line.startswith("[")]
    assert lines[0].startswith("[00:00.") and "] agent: Thank you for calling" in lines[0]
    assert len(lines) == len(call_transcript.segments)


@pytest.mark.parametrize("kind", ["chords", "dtmf", "melody"])
@pytest.mark.parametrize("channel", [0, 1])
def test_no_words_from_music_or_tones(tmp_path: Path, kind: str, channel: int) -> None:
    other = low_noise() if channel == 0 else np.zeros(30 * 8000)  # low noise, or digital silence
    pair = [tones(kind), other] if channel == 0 else [other, tones(kind)]
    path = tmp_path / f"{kind}.wav"
    sf.write(path, np.stack(pair, axis=1), 8000, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.layout == "stereo"
    assert transcribe_audio(audio, TranscribeOptions(language="en")).segments == []


def test_gates_drop_what_a_permissive_vad_lets_through(tmp_path: Path) -> None:
    # With the VAD made nearly blind, hold music reaches the decoder: the
    # hallucination gates alone must keep it from becoming words.
    path = tmp_path / "melody.wav"
    sf.write(path, np.stack([tones("melody"), low_noise()], axis=1), 8000, subtype="PCM_16")
    transcript = transcribe_audio(load_audio(path), TranscribeOptions(language="en", vad_threshold=0.01))
    assert transcript.segments == []
    assert transcript.dropped_segments >= 1


def test_silence_and_low_noise(tmp_path: Path) -> None:
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.stack([low_noise(seed=1), low_noise(seed=2)], axis=1), 8000, subtype="PCM_16")
    assert transcribe_audio(load_audio(noise), TranscribeOptions(language="en")).segments == []
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros((30 * 8000, 2), dtype=np.int16), 8000, subtype="PCM_16")
    with pytest.raises(AudioError) as info:  # nothing to transcribe: said, not silently empty
        load_audio(silence)
    assert info.value.reason == "silent"


def test_mandarin_simplified_cached_and_language_flag() -> None:
    clip = shared("asr_zh", "aishell-BAC009S0724W0121.wav")
    reference = shared("asr_zh", "aishell-BAC009S0724W0121.txt").read_text(encoding="utf-8").split()[1]
    data = json.loads(run_cli("transcribe", str(clip), "--language", "zh", "--json"))
    transcript = transcript_from_dict(data)
    assert transcript.language == "zh" and transcript.segments
    for seg in transcript.segments:
        assert seg.speaker == "unknown"
        assert seg.text == to_simplified(seg.text) == normalize_display(seg.raw_text)  # Simplified; raw kept
    errors, length = count_errors(reference, " ".join(s.text for s in transcript.segments), "zh")
    assert errors / length <= 0.35

    audio = load_audio(clip)
    opts = TranscribeOptions(language="zh")
    cached = cache_dir() / f"{cache_key(audio, opts)}.json"
    assert cached.exists()  # the CLI run above wrote it
    assert dataclasses.asdict(transcribe_cached(audio, opts)) == dataclasses.asdict(transcript)
    assert transcribe_cached(audio, dataclasses.replace(opts, beam_size=4), use_cache=False).language == "zh"


def test_language_auto_detects_mandarin() -> None:
    audio = load_audio(shared("asr_zh", "aishell-BAC009S0724W0121.wav"))
    detected = transcribe_cached(audio, TranscribeOptions(language="auto"))
    assert detected.language == "zh"
    # The window that language detection encoded is decoded from that same encoding: the same words.
    given = transcribe_cached(audio, TranscribeOptions(language="zh"))
    assert [s.text for s in detected.segments] == [s.text for s in given.segments]


def test_window_encoder_matches_the_batch_one_window_at_a_time(real_call_stereo: Path) -> None:
    import ctranslate2
    from faster_whisper.audio import pad_or_trim

    from qa_pipeline.base.models import load_whisper
    from qa_pipeline.stages.transcribe import WindowEncoder

    model, _ = load_whisper("base", "cpu", "int8", 2)
    audio = load_audio(real_call_stereo)
    windows = np.stack([pad_or_trim(model.feature_extractor(ch[: 30 * 16000])[..., :-1]) for ch in audio.channels])
    batched = np.asarray(model.encode(windows))
    encoder = WindowEncoder(model)
    encoder.encode_and_keep(windows[1])
    assert len(encoder._kept) == 1
    one_by_one = np.asarray(encoder.encode(windows))
    assert not encoder._kept  # the kept window was used, not encoded again
    assert one_by_one.shape == batched.shape
    np.testing.assert_allclose(one_by_one, batched, atol=1e-3)

    # Word alignment one window at a time gives what faster-whisper's batched alignment gives, empty rows included.
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="en")
    texts = [tokenizer.encode(" Thank you for calling."), tokenizer.encode(" Hi, my name is Jack."), []]
    three = np.asarray(model.encode(np.concatenate([windows, windows[:1]])))
    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(three))
    ours = encoder.find_alignment(tokenizer, texts, storage, [3000, 3000, 3000])
    theirs = model.find_alignment(tokenizer, texts, storage, [3000, 3000, 3000])
    assert [[w["word"] for w in row] for row in ours] == [[w["word"] for w in row] for row in theirs]
    assert ours[0] and ours[1] and ours[2] == []
    # Within two of Whisper's 20 ms frames: the alignment heads' attention, summed in another order for one
    # window than for a batch, can tip a word boundary by a frame either way on some CPUs (seen: 0.04 s).
    for row_ours, row_theirs in zip(ours, theirs):
        for a, b in zip(row_ours, row_theirs):
            assert abs(a["start"] - b["start"]) <= 0.041 and abs(a["end"] - b["end"]) <= 0.041


def test_agent_channel_flag_swaps_roles() -> None:
    clip = shared("asr_en", "whisper_fixtures", "stereo_diarization.wav")  # different sentence on L and R
    # Both orders, one after the other: the cache must not hand back the other order's roles.
    plain = transcript_from_dict(json.loads(run_cli("transcribe", str(clip), "--json")))
    swapped = transcript_from_dict(json.loads(run_cli("transcribe", str(clip), "--agent-channel", "1", "--json")))
    for transcript, agent_word, caller_word in ((plain, "wizard", "horizon"), (swapped, "horizon", "wizard")):
        text = {role: " ".join(s.text for s in transcript.segments if s.speaker == role).lower() for role in ("agent", "caller")}
        assert agent_word in text["agent"] and caller_word in text["caller"]


# ---------------------------------------------------------------- windows that end early, loops
def test_speech_after_a_windows_last_word_is_decoded_again() -> None:
    """Whisper ends the agent's packed window before its speech does (where depends on the VAD's cut and the
    decoder: at 22 s or at 46 s of ~52 on this call): the labelled agent turns after its last word (the closing
    at 50 s at least) come only from decoding the rest as windows of their own."""
    audio = load_audio(SAMPLES / "zh_banned_refusal.flac")
    opts = TranscribeOptions(language="zh")
    with_tail = transcribe_audio(audio, opts)  # not the cache: this is the code under test
    without = transcribe_audio(audio, dataclasses.replace(opts, tail_retry_seconds=0))
    labelled = [u for u in json.loads((SAMPLES / "labels.json").read_text())["calls"]["zh_banned_refusal"]["utterances"]
                if u["speaker"] == "agent"]

    def heard(t: Transcript, u: dict) -> bool:
        return any(s.speaker == "agent" and s.start < u["end"] and s.end > u["start"] for s in t.segments)

    def agent_after(t: Transcript, start: float) -> list[Segment]:
        return [s for s in t.segments if s.speaker == "agent" and s.start >= start]

    lost = [u["text"] for u in labelled if not heard(without, u)]
    assert lost, "Whisper decoded this call's every agent turn in one pass: the sample no longer tests the tails"
    assert all(heard(with_tail, u) for u in labelled), [u["text"] for u in labelled if not heard(with_tail, u)]
    closing = agent_after(with_tail, 49.0)
    assert closing and closing[-1].end <= audio.duration and "再见" in closing[-1].text
