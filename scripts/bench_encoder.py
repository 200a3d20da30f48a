"""Seconds per 30 s window of the Whisper encoder, by batch size, on the real sample call.

Why ``transcribe.WindowEncoder`` encodes a batch's windows one by one on a CPU: CTranslate2's
encoder costs more per window in a batch than alone there. Run on an idle machine:

    .venv/bin/python scripts/bench_encoder.py [--model base] [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.base.audio import load_audio  # noqa: E402
from qa_pipeline.base.models import load_whisper  # noqa: E402
from qa_pipeline.stages.transcribe import SAMPLE_RATE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from faster_whisper.audio import pad_or_trim

    model, _ = load_whisper(args.model, "cpu", "int8", args.threads)
    audio = load_audio(ROOT / "recordings_sample" / "real_auto_repairs_40.flac")
    window = 30 * SAMPLE_RATE
    samples = np.concatenate(audio.channels)
    features = [pad_or_trim(model.feature_extractor(samples[i : i + window])[..., :-1]) for i in range(0, 8 * window, window)]
    model.encode(features[0])  # warm-up
    print(f"model {args.model} · int8 · {args.threads} threads · 8 windows of the real call")
    for batch in (1, 2, 4, 8):
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            for b in range(0, 8, batch):
                model.encode(np.stack(features[b : b + batch]))
            best = min(best, (time.perf_counter() - start) / 8)
        print(f"batch {batch}: {best:.3f} s a window")


if __name__ == "__main__":
    main()
