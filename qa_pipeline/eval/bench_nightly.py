"""`qa bench nightly`: the whole pipeline against plain faster-whisper, same audio, same run.

For each worker count it runs `run_nightly` on a fresh database with a cold
transcript cache (so every call is really transcribed), samples the RSS of the
process tree, and reports wall time per stage, end-to-end real-time factor and
peak memory. Then it transcribes the same recordings, mixed to mono, with plain
`WhisperModel.transcribe` (its defaults, the same model and thread count).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from qa_pipeline.base.audio import AudioError, load_audio
from qa_pipeline.base.models import load_whisper
from qa_pipeline.batch.discover import discover
from qa_pipeline.batch.nightly import BatchOptions, run_nightly
from qa_pipeline.config import QAConfig


class RssSampler:
    """Peak memory of this process and all its children, sampled every 100 ms.

    ``peak`` is the tree's proportional set size (PSS: a page shared by n processes counts 1/n in each),
    so worker processes sharing libraries and model files are not counted twice, as summed RSS would;
    ``peak_rss_process`` is the largest RSS of any single process."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_rss_process = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [me, *me.children(recursive=True)]:
                    try:
                        info = proc.memory_full_info()
                    except psutil.Error:
                        continue
                    total += getattr(info, "pss", info.rss)
                    self.peak_rss_process = max(self.peak_rss_process, info.rss)
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cold_cache() -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory(prefix="qa_bench_cache_")
    os.environ["QA_CACHE_DIR"] = tmp.name  # read at call time, inherited by workers
    return tmp


def bench_pipeline(source: Path, config: QAConfig, workers: int, threads: int) -> dict[str, Any]:
    previous = os.environ.get("QA_CACHE_DIR")
    cache = _cold_cache()
    try:
        with tempfile.TemporaryDirectory(prefix="qa_bench_db_") as tmp, RssSampler() as rss:
            summary = run_nightly(source, Path(tmp) / "bench.db", config,
                                  BatchOptions(workers=workers, threads_per_worker=threads))
    finally:
        cache.cleanup()
        if previous is None:
            os.environ.pop("QA_CACHE_DIR", None)
        else:
            os.environ["QA_CACHE_DIR"] = previous
    stages = summary.stage_seconds
    stage_total = sum(stages.values()) or 1.0
    asr = stages.get("transcribe", 0.0)
    audio_s = summary.audio_hours * 3600
    return {
        "workers": workers,
        "threads_per_worker": threads,
        "calls": summary.processed,
        "failed": summary.failed,
        "audio_seconds": round(audio_s, 1),
        "wall_seconds": summary.wall_seconds,
        "rtf": summary.rtf,
        "stage_seconds": stages,
        "non_asr_share": round((stage_total - asr) / stage_total, 4),
        # Of the workers' wall time (wall x workers): start-up, model loading and the writer count too.
        "non_asr_share_of_wall": round((stage_total - asr) / (summary.wall_seconds * workers), 4)
        if summary.wall_seconds else 0.0,
        "peak_rss_mb": round(rss.peak / 2**20, 1),  # PSS of the process tree (see RssSampler)
        "peak_rss_one_process_mb": round(rss.peak_rss_process / 2**20, 1),
    }


def bench_plain_whisper(source: Path, config: QAConfig, threads: int) -> dict[str, Any]:

    model, spec = load_whisper(config.asr.model, config.asr.device, config.asr.compute_type, threads)
    total_audio = total_wall = 0.0
    calls = 0
    with RssSampler() as rss:
        for call in discover(source).calls:
            try:
                audio = load_audio(call.audio_path, config.audio.max_seconds, call.agent_channel)
            except AudioError:
                continue
            start = time.perf_counter()
            segments, _ = model.transcribe(audio.mono())
            for _ in segments:  # the generator does the work
                pass
            total_wall += time.perf_counter() - start
            total_audio += audio.duration
            calls += 1
    return {
        "model": spec.name,
        "threads": threads,
        "calls": calls,
        "audio_seconds": round(total_audio, 1),
        "wall_seconds": round(total_wall, 2),
        "rtf": round(total_wall / total_audio, 4) if total_audio else 0.0,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "peak_rss_one_process_mb": round(rss.peak_rss_process / 2**20, 1),
    }


def bench_nightly(source: Path, config: QAConfig, workers: list[int], plain: bool = True) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    runs = [bench_pipeline(source, config, w, max(1, cores // w)) for w in workers]
    out: dict[str, Any] = {"source": str(source), "cores": cores, "model": config.asr.model,
                           "compute_type": config.asr.compute_type, "pipeline": runs}
    if plain:
        base = bench_plain_whisper(source, config, cores)
        out["plain_faster_whisper"] = base
        for run in runs:
            run["speedup_vs_plain"] = round(base["wall_seconds"] / run["wall_seconds"], 3) if run["wall_seconds"] else 0.0
    return out


def as_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r for r in result["pipeline"]]
    return rows
