"""Telephony transcription with the real model on real audio.

The real stereo call is transcribed once per session (through the CLI, into the
session's transcript cache) and shared by the tests below.
"""


from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.base.models import ModelError, install_model


def fake_model_package(root: Path, content: bytes) -> dict:
    """A tiny installed package holding model files, and its manifest entry."""
    pkg = root / "qa_fake_model_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "config.json").write_text("{}")
    (pkg / "data" / "model.bin.part1").write_bytes(content[:10])
    (pkg / "data" / "model.bin.part2").write_bytes(content[10:])
    return {
        "dir": "whisper-fake",
        "files": [{"package": "qa_fake_model_pkg", "path": "data/config.json", "name": "config.json"}],
        "model_bin": {
            "parts": [
                {"package": "qa_fake_model_pkg", "path": "data/model.bin.part1"},
                {"package": "qa_fake_model_pkg", "path": "data/model.bin.part2"},
            ],
            "sha256": hashlib.sha256(content).hexdigest(),
        },
        "multilingual": True,
    }


def test_install_model_checks_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"not really a model, but bytes to checksum" * 100
    entry = fake_model_package(tmp_path / "site", content)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("qa_fake_model_pkg", None)
    target = tmp_path / "models"

    placed = install_model("fake", target, manifest={"fake": entry})
    assert (placed / "model.bin").read_bytes() == content

    wrong = dict(entry, model_bin=dict(entry["model_bin"], sha256="0" * 64))
    with pytest.raises(ModelError) as info:
        install_model("fake", target, force=True, manifest={"fake": wrong})
    message = str(info.value)
    assert "fake" in message and "0" * 64 in message and hashlib.sha256(content).hexdigest() in message
    assert not (target / "whisper-fake.partial").exists()

    with pytest.raises(ModelError, match="not installed"):
        missing = dict(entry, files=[dict(entry["files"][0], package="qa_no_such_package")])
        install_model("fake", tmp_path / "other", manifest={"fake": missing})


def test_tail_chunk_maps_back_to_file_time() -> None:
    from qa_pipeline.stages.transcribe import SAMPLE_RATE, Window, tail_chunk

    # Two regions packed into one window: 0-4 s of the window is file 10-14 s, 4.5-7.5 s is file 30-33 s.
    chunk = Window(0, np.zeros(int(7.5 * SAMPLE_RATE), dtype=np.float32), [(0.0, 10.0, 4.0), (4.5, 30.0, 3.0)])
    tail = tail_chunk(chunk, 3.0, 1.0)
    assert tail is not None and len(tail.samples) == int(4.5 * SAMPLE_RATE)
    assert tail.pieces == [(0.0, 13.0, 1.0), (1.5, 30.0, 3.0)]
    assert tail.to_file_span(2.0, 2.5) == (30.5, 31.0)
    assert tail_chunk(chunk, 7.0, 1.0) is None  # 0.5 s of speech left
    assert tail_chunk(chunk, 0.0, 1.0) is None  # no word at all: the model heard no speech


def test_loops_split_into_short_turns_are_dropped_but_repeated_digits_are_not() -> None:
    from qa_pipeline.contracts import Word
    from qa_pipeline.stages.transcribe import looping_words

    def words(*texts: str) -> list[Word]:
        return [Word(float(i), i + 0.5, t, 0.9) for i, t in enumerate(texts)]

    heard = words("还有", "我的", "是", "泥", "河。", "泥", "河。", "泥", "河。", "泥", "河。", "泥", "河。")  # real output
    assert looping_words(heard, 4) == set(range(3, 13))
    number = words("我的", "号码", "是", "幺三八", "八", "八", "八", "八", "八", "八", "八", "八")
    assert looping_words(number, 4) == set()
    assert looping_words(words("no", "no", "no", "I", "said"), 4) == set()


def test_cuda_batches_larger_and_keeps_the_encoder_batched(tmp_path: Path) -> None:
    """asr.device: cuda takes asr.cuda_batch_size windows a batch and encodes them in one call; a CPU takes
    asr.batch_size and encodes one window at a time. (No GPU here: the option plumbing only.)"""
    import ctranslate2

    from qa_pipeline.config import ConfigError, load_config
    from qa_pipeline.stages.transcribe import WindowEncoder
    from qa_pipeline.stages.transcribe.decode import batch_size

    config = tmp_path / "qa.yaml"
    config.write_text("asr:\n  device: cuda\n  cuda_batch_size: 32\n")
    gpu = load_config(config).asr
    assert batch_size(gpu) == 32 and gpu.key()["cuda_batch_size"] == 32
    cpu = load_config(None).asr
    assert batch_size(cpu) == cpu.batch_size == 8 and "cuda_batch_size" not in cpu.key()
    config.write_text("asr:\n  device: cuda\n  cuda_batch_size: 0\n")
    with pytest.raises(ConfigError):
        load_config(config)

    class Model:  # CTranslate2's Whisper as the pipeline sees it: it records each encode call's batch
        def __init__(self, device: str) -> None:
            self.model = type("Inner", (), {"device": device})()
            self.batches: list[int] = []

        def encode(self, features):
            self.batches.append(len(features) if np.ndim(features) == 3 else 1)
            rows = np.zeros((self.batches[-1], 4, 2), dtype=np.float32)
            return ctranslate2.StorageView.from_array(rows)

    features = np.zeros((5, 80, 3000), dtype=np.float32)
    for device, expected in (("cuda", [5]), ("cpu", [1] * 5)):
        model = Model(device)
        WindowEncoder(model).encode(features)
        assert model.batches == expected
