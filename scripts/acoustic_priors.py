"""Measure the population priors of the scale-free acoustic cues on neutral (non-acted) real speech.

Read speech (LibriSpeech, AISHELL-1, JFK) and conversational telephone speech (the real English call,
phone_en), cut into 3 s windows of speech; prints mean and sd of each cue. emotion_de is never read here:
it is the evaluation set. The numbers go into ``qa_pipeline.stages.tone.acoustic.PRIORS`` and ``SPREAD``.

    QA_SHARED_DATA=/work/shared/data python scripts/acoustic_priors.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline import acoustic  # noqa: E402

SHARED = Path(os.environ.get("QA_SHARED_DATA", ROOT.parent / "shared" / "data"))
CLIPS = [
    "asr_en/wenet_resources/librispeech-1995-1837-0001.wav",
    "asr_en/whisper_fixtures/jfk.flac",
    "asr_zh/aishell-BAC009S0724W0121.wav",
    "asr_zh/fireredasr/BAC009S0764W0121.wav",
    "calls_en/Auto_Repairs_40_UTC_agent.wav",
    "calls_en/Auto_Repairs_40_UTC_caller.wav",
    "phone_en/sample.wav",
]


def main() -> None:
    rows = {name: [] for name in acoustic.FEATURES}
    within = {name: [] for name in acoustic.FEATURES}  # per clip (one speaker): sd across its windows
    for clip in CLIPS:
        per_clip = {name: [] for name in acoustic.FEATURES}
        x, rate = sf.read(SHARED / clip, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        frames = acoustic.frame_features(x, rate)
        duration = len(x) / rate
        for start in np.arange(0, duration - 3.0 + 1e-6, 3.0):
            span = frames.frames(start, start + 3.0)
            if (frames.rms_db[span] > frames.active_floor_db).mean() < 0.5:
                continue  # mostly silence: not a speech window
            region = acoustic.region_features(frames, start, start + 3.0)
            for name, value in region.values.items():
                if np.isfinite(value):
                    rows[name].append(value)
                    per_clip[name].append(value)
        for name, values in per_clip.items():
            if len(values) >= 5:  # only clips long enough to show a speaker's own variation
                within[name].append(float(np.std(values)))
    for name, values in rows.items():
        if values:
            spread = f"{np.mean(within[name]):5.2f}" if within[name] else "  n/a"
            print(f"{name:15s} n={len(values):4d} mean={np.mean(values):6.2f} sd={np.std(values):5.2f} "
                  f"within-speaker sd={spread}")


if __name__ == "__main__":
    main()
