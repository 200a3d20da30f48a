"""Ingest on real recordings: every format we promise, every way a file can be bad."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qa_pipeline.base.audio import TARGET_RATE, AudioError, load_audio
from tests.conftest import shared


def speech_clip() -> Path:
    return shared("asr_en", "wenet_resources", "librispeech-1995-1837-0001.wav")


def assert_audio_error(path: Path, reason: str, **kwargs) -> AudioError:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    assert info.value.reason == reason, str(info.value)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


# ------------------------------------------------------------------ bad input


def test_truncated_wav(tmp_path: Path) -> None:
    data = speech_clip().read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    err = assert_audio_error(cut, "truncated")
    assert "header promises" in err.detail


def test_garbage_named_wav_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    assert_audio_error(path, "corrupt")


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert_audio_error(path, "empty")


def test_one_second_of_silence(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(8000, dtype=np.int16), 8000, subtype="PCM_16")
    assert_audio_error(path, "silent")


@pytest.mark.parametrize("content", [b"this is a text file, not audio\n" * 40, b"\x89PNG\r\n\x1a\n" + bytes(600)])
def test_unsupported_format(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not_audio.mp3"
    path.write_bytes(content)
    assert_audio_error(path, "unsupported")


def test_over_long(tmp_path: Path) -> None:
    assert_audio_error(speech_clip(), "too_long", max_seconds=5.0)


def test_not_found(tmp_path: Path) -> None:
    assert_audio_error(tmp_path / "missing.wav", "not_found")


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix"),
    [
        ("WAV", "PCM_U8", "wav"),
        ("WAV", "ULAW", "wav"),
        ("WAV", "ALAW", "wav"),
        ("WAV", "FLOAT", "wav"),
        ("FLAC", "PCM_16", "flac"),
        ("MP3", "MPEG_LAYER_III", "mp3"),
        ("OGG", "VORBIS", "ogg"),
    ],
)
def test_reads_formats_from_a_real_clip(tmp_path: Path, fmt: str, subtype: str, suffix: str) -> None:
    samples, rate = sf.read(speech_clip(), dtype="float32")
    telephone = samples[::2]  # 8 kHz, as a phone system stores it (the clip is band-limited speech)
    path = tmp_path / f"clip.{suffix}"
    sf.write(path, telephone * 0.9, rate // 2, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.layout == "mono" and audio.source_rate == rate // 2
    assert abs(audio.duration - len(telephone) / (rate // 2)) < 0.1
    out = audio.channels[0]
    assert out.dtype == np.float32 and abs(len(out) - len(telephone) * 2) < 0.1 * TARGET_RATE
    # Same signal back, within the codec's loss: compare the loudness envelopes.
    env_in = np.sqrt(np.mean(np.square(telephone[: len(telephone) // 400 * 400]).reshape(-1, 400), axis=1))
    env_out = np.sqrt(np.mean(np.square(out[: len(out) // 800 * 800]).reshape(-1, 800), axis=1))
    n = min(len(env_in), len(env_out))
    lag = max(range(-5, 6), key=lambda k: np.corrcoef(np.roll(env_in[:n], k), env_out[:n])[0, 1])
    assert np.corrcoef(np.roll(env_in[:n], lag), env_out[:n])[0, 1] > 0.9


def test_44k_stereo_flac_near_identical_becomes_16k_mono() -> None:
    audio = load_audio(shared("asr_en", "whisper_fixtures", "jfk.flac"))
    assert audio.source_rate == 44100 and audio.source_channels == 2
    assert audio.layout == "mono" and len(audio.channels) == 1
    assert abs(len(audio.channels[0]) / TARGET_RATE - audio.duration) < 0.01
    assert any("identical" in n for n in audio.notes)


def test_distinct_stereo_and_agent_channel_swap() -> None:
    path = shared("asr_en", "whisper_fixtures", "stereo_diarization.wav")
    left = sf.read(path, dtype="float32")[0][:, 0]
    default = load_audio(path)
    swapped = load_audio(path, agent_channel=1)
    assert default.layout == swapped.layout == "stereo"
    n = len(default.channels[0])
    assert np.corrcoef(default.channels[0], left[:n])[0, 1] > 0.99  # agent = left
    assert np.array_equal(swapped.channels[0], default.channels[1])  # agent = right
    assert np.array_equal(swapped.channels[1], default.channels[0])
    forced = load_audio(path, layout="mono")
    assert forced.layout == "mono" and len(forced.channels) == 1


def test_8k_stereo_call(real_call_stereo: Path, tmp_path: Path) -> None:
    audio = load_audio(real_call_stereo)
    assert audio.layout == "stereo" and audio.source_rate == 8000
    assert 240 < audio.duration < 250
    assert len(audio.sha256) == 64
    copy = tmp_path / "copy.flac"
    shutil.copyfile(real_call_stereo, copy) if real_call_stereo.suffix == ".flac" else sf.write(
        copy, sf.read(real_call_stereo, dtype="int16")[0], 8000, subtype="PCM_16"
    )
    assert load_audio(copy).layout == "stereo"
