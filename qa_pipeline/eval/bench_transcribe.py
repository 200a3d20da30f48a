"""Speed of the telephony transcription against plain faster-whisper, in one process.

(a) ``transcribe_audio`` on the stereo call (per-channel VAD, both channels'
speech decoded in batches, no cache); (b) faster-whisper's own
``WhisperModel.transcribe`` with its defaults on the same file mixed to mono, with
the same model object and thread count. Both run in the same process one after
the other, so a shared machine's load hits both alike; the ratio (b)/(a) is the
number to read, the real-time factors move with the load. Models are loaded
before the clocks start.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_pipeline.base.audio import load_audio
from qa_pipeline.base.models import load_whisper
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.stages.transcribe import transcribe_audio

SAMPLE_CALL = "real_auto_repairs_40.flac"


@dataclass
class BenchResult:
    audio: str
    audio_seconds: float
    model: str
    threads: int
    pipeline_seconds: float  # (a) wall time
    plain_seconds: float  # (b) wall time
    pipeline_cpu_seconds: float
    plain_cpu_seconds: float
    pipeline_words: int
    plain_words: int
    peak_rss_mb: float  # of this process, both runs and the loaded models included
    settings: dict

    @property
    def pipeline_rtf(self) -> float:
        return self.pipeline_seconds / self.audio_seconds

    @property
    def plain_rtf(self) -> float:
        return self.plain_seconds / self.audio_seconds

    @property
    def ratio(self) -> float:
        return self.plain_seconds / self.pipeline_seconds

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {
            "pipeline_rtf": round(self.pipeline_rtf, 4),
            "plain_rtf": round(self.plain_rtf, 4),
            "ratio": round(self.ratio, 3),
        }


def default_call(repo_root: Path, shared_data: Path, work_dir: Path) -> Path | None:
    """The committed sample call, else the same call built from ../shared/data/calls_en."""
    committed = repo_root / "recordings_sample" / SAMPLE_CALL
    if committed.exists():
        return committed
    agent_path = shared_data / "calls_en" / "Auto_Repairs_40_UTC_agent.wav"
    caller_path = shared_data / "calls_en" / "Auto_Repairs_40_UTC_caller.wav"
    if not (agent_path.exists() and caller_path.exists()):
        return None
    import soundfile as sf

    agent, rate = sf.read(agent_path, dtype="int16")
    caller, _ = sf.read(caller_path, dtype="int16")
    n = min(len(agent), len(caller))
    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / "real_auto_repairs_40.wav"
    sf.write(out, np.stack([agent[:n], caller[:n]], axis=1), rate, subtype="PCM_16")
    return out


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_transcribe(path: Path, opts: TranscribeOptions, threads: int = 2) -> BenchResult:
    opts = dataclasses.replace(opts, threads=threads)
    audio = load_audio(path)
    # Load every model the profile may pick, so that neither clock includes loading.
    for name in {opts.model, *opts.language_models.values()}:
        load_whisper(name, opts.device, opts.compute_type, threads)

    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    transcript = transcribe_audio(audio, opts)
    pipeline_seconds, pipeline_cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0

    model_name = transcript.settings["model"]
    model, _ = load_whisper(model_name, opts.device, opts.compute_type, threads)
    mono = audio.mono() if audio.layout == "stereo" else audio.channels[0]
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    segments, _info = model.transcribe(mono)  # faster-whisper's defaults: beam 5, no VAD
    plain_words = sum(len(s.text.split()) for s in segments)  # the generator decodes here
    plain_seconds, plain_cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0

    return BenchResult(
        audio=str(path),
        audio_seconds=round(audio.duration, 3),
        model=model_name,
        threads=threads,
        pipeline_seconds=round(pipeline_seconds, 3),
        plain_seconds=round(plain_seconds, 3),
        pipeline_cpu_seconds=round(pipeline_cpu, 3),
        plain_cpu_seconds=round(plain_cpu, 3),
        pipeline_words=sum(len(s.words) for s in transcript.segments),
        plain_words=plain_words,
        peak_rss_mb=round(_peak_rss_mb(), 1),
        settings=transcript.settings,
    )
