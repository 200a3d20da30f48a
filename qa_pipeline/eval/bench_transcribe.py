"""Speed of the telephony transcription against faster-whisper's own ways, in one process, same model object.

On the real stereo call, each round times ``transcribe_audio`` (per-channel VAD, both channels' speech decoded
in batches, no cache) and the three peers of ``eval/peers.py`` (plain mono, batched mono, batched per
channel), in an order that rotates from round to round, so that a shared machine's load hits every
configuration alike; the ratios are the numbers to read, seconds move with the load. Then (``references``)
every configuration transcribes the real reference clips once and is scored on them (WER for English, CER for
Mandarin): faster counts only at equal or better accuracy. Models are loaded before any clock starts.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from pathlib import Path

import numpy as np

from qa_pipeline.base.audio import load_audio
from qa_pipeline.base.models import load_whisper
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.eval.asr import Reference, find_references, hypothesis_text
from qa_pipeline.eval.peers import PEERS, Run, score, timed, transcribe_peer
from qa_pipeline.stages.transcribe import transcribe_audio

SAMPLE_CALL = "real_auto_repairs_40.flac"
OURS = "pipeline"
CONFIGS = (OURS, *PEERS)


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


def run_config(name: str, audio, opts: TranscribeOptions, language: str | None) -> Run:
    """One configuration on one recording, timed; the pipeline with ``opts`` (no cache), a peer with the model
    ``opts`` names and the same language hint."""
    if name == OURS:
        ours = dataclasses.replace(opts, language=language or "auto")

        def fn():
            transcript = transcribe_audio(audio, ours)
            return hypothesis_text(transcript, len(audio.channels)), {"language": transcript.language}
    else:
        model, _ = load_whisper(opts.model, opts.device, opts.compute_type, opts.threads)

        def fn():
            return transcribe_peer(name, model, audio, language)
    return timed(name, fn)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def bench_transcribe(path: Path, opts: TranscribeOptions, threads: int = 2, rounds: int = 1,
                     references: list[Reference] | None = None) -> dict:
    opts = dataclasses.replace(opts, threads=threads)
    audio = load_audio(path)
    # Load every model the profile may pick, so that no clock includes loading.
    for name in {opts.model, *opts.language_models.values()}:
        load_whisper(name, opts.device, opts.compute_type, threads)
    load_before = _load()
    call_runs: dict[str, list[Run]] = {name: [] for name in CONFIGS}
    for r in range(rounds):
        order = CONFIGS[r % len(CONFIGS):] + CONFIGS[: r % len(CONFIGS)]
        for name in order:
            call_runs[name].append(run_config(name, audio, opts, None))
    load_call = _load()
    clips = []
    for ref in references or []:
        clip_audio = load_audio(ref.path, layout=ref.layout)
        row = {"id": ref.id, "language": ref.language, "audio_seconds": round(clip_audio.duration, 2), "runs": {}}
        for name in CONFIGS:
            run = run_config(name, clip_audio, opts, ref.language)
            errors, length = score(ref, run.texts)
            row["runs"][name] = {"seconds": run.seconds, "errors": errors, "length": length,
                                 "text": " | ".join(run.texts)}
        clips.append(row)
    summary = {}
    for name in CONFIGS:
        runs = call_runs[name]
        seconds = statistics.median(r.seconds for r in runs)
        row = {"seconds": round(seconds, 3), "seconds_all": [r.seconds for r in runs],
               "cpu_seconds": round(statistics.median(r.cpu_seconds for r in runs), 3),
               "rtf": round(seconds / audio.duration, 4), "words": runs[0].words,
               "peak_rss_mb": max(r.peak_rss_mb for r in runs),
               "time_vs_ours": round(seconds / statistics.median(r.seconds for r in call_runs[OURS]), 3)}
        for lang, key in (("en", "wer_en"), ("zh", "cer_zh")):
            scored = [c["runs"][name] for c in clips if c["language"] == lang]
            total = sum(s["length"] for s in scored)
            if total:
                row[key] = round(sum(s["errors"] for s in scored) / total, 4)
        summary[name] = row
    return {"audio": str(path), "audio_seconds": round(audio.duration, 3), "model": opts.model,
            "compute_type": opts.compute_type, "threads": threads, "rounds": rounds,
            "load_1min": {"start": load_before, "after_call": load_call, "end": _load()},
            "summary": summary, "clips": clips}


def real_references(data_dir: Path | None) -> list[Reference]:
    """The real clips with a reference (phone_en, jfk, LibriSpeech, the Mandarin clips…); none without data."""
    return find_references(data_dir) if data_dir is not None and data_dir.is_dir() else []
