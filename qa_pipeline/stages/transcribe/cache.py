"""Transcripts memoised on disk: the same audio with the same settings is transcribed once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from qa_pipeline.base.audio import Audio
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.contracts import Transcript, transcript_from_dict
from qa_pipeline.stages.transcribe.decode import transcribe_audio
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


def transcribe_cached(audio: Audio, opts: TranscribeOptions | None = None, use_cache: bool = True) -> Transcript:
    """transcribe_audio, memoised on disk by audio sha256 + layout + settings + code version."""
    opts = opts or TranscribeOptions()
    path = cache_dir() / f"{cache_key(audio, opts)}.json"
    if use_cache and path.exists():
        try:
            return transcript_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError):
            pass  # a damaged cache entry is recomputed
    transcript = transcribe_audio(audio, opts)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(transcript), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    return transcript
