"""Transcripts memoised on disk: the same audio with the same settings is transcribed once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

from qa_pipeline.base.audio import Audio
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.contracts import Transcript, transcript_from_dict
from qa_pipeline.stages.transcribe.decode import Plan, decode_plans, finish, plan_audio, transcribe_audio
from qa_pipeline.version import __version__


def cache_dir() -> Path:
    return Path(os.environ.get("QA_CACHE_DIR") or Path.home() / ".cache" / "qa_pipeline") / "transcripts"


def cache_key(audio: Audio, opts: TranscribeOptions) -> str:
    blob = json.dumps(
        {"sha256": audio.sha256, "layout": audio.layout, "n": len(audio.channels),
         "opts": opts.key(), "code": __version__, **({"agent_channel": 1} if audio.agent_channel else {})},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _cached(path: Path) -> Transcript | None:
    if path.exists():
        try:
            return transcript_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError):
            pass  # a damaged cache entry is recomputed
    return None


def _store(path: Path, transcript: Transcript) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(transcript), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def transcribe_cached(audio: Audio, opts: TranscribeOptions | None = None, use_cache: bool = True) -> Transcript:
    """transcribe_audio, memoised on disk by audio sha256 + layout + settings + code version."""
    opts = opts or TranscribeOptions()
    path = cache_dir() / f"{cache_key(audio, opts)}.json"
    transcript = _cached(path) if use_cache else None
    if transcript is None:
        transcript = transcribe_audio(audio, opts)
        if use_cache:
            _store(path, transcript)
    return transcript


def transcribe_cached_many(items: list[tuple[Audio, TranscribeOptions]],
                           use_cache: bool = True) -> list[tuple[Transcript | Exception, float]]:
    """Several recordings at once: what the cache lacks is planned, then the speech windows of all of them
    decoded together (``decode_plans``), each stored in the cache as it is finished. Returns, per item, its
    transcript or the error that stopped it (one bad recording never takes the others down) and its share
    of the wall clock."""
    out: list[tuple[Transcript | Exception, float] | None] = [None] * len(items)
    plans: dict[int, Plan] = {}
    for k, (audio, opts) in enumerate(items):
        started = time.perf_counter()
        path = cache_dir() / f"{cache_key(audio, opts)}.json"
        transcript = _cached(path) if use_cache else None
        if transcript is not None:
            out[k] = (transcript, time.perf_counter() - started)
            continue
        try:
            plans[k] = plan_audio(audio, opts)
        except Exception as exc:  # noqa: BLE001 - this recording's error, classified by its caller
            out[k] = (exc, time.perf_counter() - started)
    decode_plans(list(plans.values()))
    for k, plan in plans.items():
        if plan.error is not None:
            out[k] = (plan.error, plan.seconds)
            continue
        try:
            transcript = finish(plan)
            if use_cache:
                _store(cache_dir() / f"{cache_key(*items[k])}.json", transcript)
            out[k] = (transcript, plan.seconds)
        except Exception as exc:  # noqa: BLE001
            out[k] = (exc, plan.seconds)
    return out  # type: ignore[return-value]
