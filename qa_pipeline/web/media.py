"""Call audio for the browser: decoded with qa_pipeline.base.audio, served as WAV with HTTP range support.

The file to read always comes from the database row of a call id; nothing the client sends is
ever used as (part of) a path.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import soundfile as sf

from qa_pipeline import TARGET_RATE, Finding, load_audio, redact_audio

CHANNELS = ("both", "agent", "caller")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Cache:
    """The last few encoded WAVs (a coach seeks within one call many times)."""

    def __init__(self, size: int = 6):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: tuple[object, ...], value: bytes) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_cache = _Cache()


def call_wav(call: dict[str, Any], agent_channel: int, channel: str, redact: list[Finding] | None = None,
             redact_mode: str = "tone", pad: float = 0.15) -> bytes:
    """16-bit WAV of a call: ``both`` = stereo agent left / caller right (mono calls: the one channel).

    ``redact``: the call's findings; its personal-data ones are covered (pii.redact_audio) before encoding.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    # The spans covered are part of the key: a re-run or a role swap changes them for the same recording.
    spans = None if redact is None else tuple((f.speaker, f.start, f.end) for f in redact if f.kind == "pii")
    key = (call["call_id"], call.get("sha256") or "", channel, redact_mode, pad, spans)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    audio = load_audio(call["audio_path"], agent_channel=agent_channel,
                       layout="mono" if call.get("layout") == "mono" else None)
    chans = audio.channels if redact is None else redact_audio(audio, redact, redact_mode, pad)
    if channel == "both":
        data = np.stack(chans, axis=1) if len(chans) == 2 else chans[0]
    elif channel == "agent" or len(chans) == 1:
        data = chans[0]
    else:
        data = chans[1]
    buf = io.BytesIO()
    sf.write(buf, np.clip(data, -1.0, 1.0), TARGET_RATE, format="WAV", subtype="PCM_16")
    wav = buf.getvalue()
    _cache.put(key, wav)
    return wav


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a single ``bytes=`` range; None for the whole body; ValueError if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # unsupported form (e.g. several ranges): send the whole body
    if m.group(1):
        first = int(m.group(1))
        last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        first, last = max(0, size - int(m.group(2))), size - 1
    if first >= size or first > last:
        raise ValueError("unsatisfiable range")
    return first, last
