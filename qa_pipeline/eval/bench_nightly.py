"""`qa bench nightly`: the whole pipeline against faster-whisper's own ways, same audio, same run.

For each worker count it runs `run_nightly` on a fresh database with a cold
transcript cache (so every call is really transcribed), samples the RSS of the
process tree, and reports wall time per stage, end-to-end real-time factor and
peak memory. Then it transcribes the same recordings with each peer of
``eval/peers.py`` (plain mono, batched mono, batched per channel; the same model
and thread count). Where the folder has scripts (``labels.json``), every row is
scored against them: WER (English) and CER (Mandarin) of the whole night.
"""

from __future__ import annotations

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
from qa_pipeline.eval.asr import Reference, hypothesis_text, in_file_order, sample_references
from qa_pipeline.eval.peers import PEERS, score, transcribe_peer
from qa_pipeline.store.db import Store


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


def references(source: Path) -> dict[str, Reference]:
    """The scripts of the calls in ``source`` by call id (a folder with manifest.csv and labels.json)."""
    if not (source.is_dir() and (source / "labels.json").exists() and (source / "manifest.csv").exists()):
        return {}
    return {ref.id.split("/", 1)[1]: ref for ref in sample_references(source)}


def _rates(scored: list[tuple[str, int, int]]) -> dict[str, float]:
    """Corpus WER (en) / CER (zh) from (language, errors, length) per call."""
    out = {}
    for lang, key in (("en", "wer_en"), ("zh", "cer_zh")):
        length = sum(n for lg, _, n in scored if lg == lang)
        if length:
            out[key] = round(sum(e for lg, e, _ in scored if lg == lang) / length, 4)
    return out


def bench_pipeline(source: Path, config: QAConfig, workers: int, threads: int,
                   refs: dict[str, Reference] | None = None, batch_calls: int = 1) -> dict[str, Any]:
    previous = os.environ.get("QA_CACHE_DIR")
    cache = _cold_cache()
    scored: list[tuple[str, int, int]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="qa_bench_db_") as tmp:
            with RssSampler() as rss:
                summary = run_nightly(source, Path(tmp) / "bench.db", config,
                                      BatchOptions(workers=workers, threads_per_worker=threads, batch_calls=batch_calls))
            store = Store(Path(tmp) / "bench.db")
            for call_id, ref in (refs or {}).items():
                result = store.current_result(call_id)
                if result is not None:
                    texts = hypothesis_text(result.transcript, 2 if result.call.layout == "stereo" else 1)
                    texts = in_file_order(texts, result.call.agent_channel)
                    scored.append((ref.language, *score(ref, texts)))
            store.close()
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
        "batch_calls": batch_calls,
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
        **_rates(scored),
    }


def bench_peer(name: str, source: Path, config: QAConfig, threads: int,
               refs: dict[str, Reference] | None = None) -> dict[str, Any]:
    """One peer of eval/peers.py over every call of the night, in this process (the clock runs from the
    decoded audio to the text: loading the files is not counted, for the peers as it is for no one else)."""
    model, spec = load_whisper(config.asr.model, config.asr.device, config.asr.compute_type, threads)
    total_audio = total_wall = 0.0
    calls = 0
    scored: list[tuple[str, int, int]] = []
    with RssSampler() as rss:
        for call in discover(source).calls:
            try:
                layout = call.layout if call.layout in ("stereo", "mono") else None
                audio = load_audio(call.audio_path, config.audio.max_seconds, call.agent_channel, layout)
            except AudioError:
                continue
            language = call.language if call.language not in ("", "auto") else None
            start = time.perf_counter()
            texts, _ = transcribe_peer(name, model, audio, language)
            texts = in_file_order(texts, audio.agent_channel)
            total_wall += time.perf_counter() - start
            total_audio += audio.duration
            calls += 1
            ref = (refs or {}).get(call.call_id)
            if ref is not None:
                scored.append((ref.language, *score(ref, texts)))
    return {
        "peer": name,
        "model": spec.name,
        "threads": threads,
        "calls": calls,
        "audio_seconds": round(total_audio, 1),
        "wall_seconds": round(total_wall, 2),
        "rtf": round(total_wall / total_audio, 4) if total_audio else 0.0,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "peak_rss_one_process_mb": round(rss.peak_rss_process / 2**20, 1),
        **_rates(scored),
    }


def bench_nightly(source: Path, config: QAConfig, workers: list[int], peers: bool = True,
                  batch_calls: list[int] | None = None) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    refs = references(source)
    load = {"start": round(os.getloadavg()[0], 2)}
    runs = [bench_pipeline(source, config, w, max(1, cores // w), refs, b) for w in workers for b in batch_calls or [1]]
    out: dict[str, Any] = {"source": str(source), "cores": cores, "model": config.asr.model,
                           "compute_type": config.asr.compute_type, "pipeline": runs, "peers": [],
                           "scored_calls": len(refs), "load_1min": load}
    if peers:
        out["peers"] = [bench_peer(name, source, config, cores, refs) for name in PEERS]
        for run in runs:
            for peer in out["peers"]:
                run[f"speedup_vs_{peer['peer']}"] = round(peer["wall_seconds"] / run["wall_seconds"], 3) \
                    if run["wall_seconds"] else 0.0
    load["end"] = round(os.getloadavg()[0], 2)
    return out
