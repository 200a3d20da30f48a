"""Speech windows: each channel's speech regions (Silero VAD) packed into <=30 s windows, and what is left
of a window after the last word Whisper decoded in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_pipeline.config import TranscribeOptions

SAMPLE_RATE = 16000


def speech_regions(samples: np.ndarray, opts: TranscribeOptions) -> list[dict[str, int]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(
        samples,
        VadOptions(
            threshold=opts.vad_threshold,
            min_silence_duration_ms=opts.vad_min_silence_ms,
            speech_pad_ms=opts.vad_speech_pad_ms,
            min_speech_duration_ms=opts.vad_min_speech_ms,
            max_speech_duration_s=opts.chunk_seconds,
        ),
    )


@dataclass
class Window:
    """Speech regions of one channel packed into one <=30 s window.

    Regions are separated by ``gap`` seconds of silence so that Whisper hears a
    pause between them (joining them back to back makes it drop words at the
    seams). ``pieces`` maps chunk time back to file time.
    """

    channel: int
    samples: np.ndarray
    pieces: list[tuple[float, float, float]]  # (chunk_start, file_start, duration), seconds

    @property
    def metadata(self) -> dict[str, Any]:
        return {"offset": 0.0, "duration": len(self.samples) / SAMPLE_RATE, "segments": []}

    def to_file_span(self, start: float, end: float) -> tuple[float, float]:
        """Map a span of chunk time to file time, inside the region nearest its middle.

        Word alignment can put a region's first word partly in the silence before
        it; "nearest" (not "last region started") keeps such a word with its region.
        """
        middle = (start + end) / 2

        def distance(piece: tuple[float, float, float]) -> float:
            return max(piece[0] - middle, middle - (piece[0] + piece[2]), 0.0)

        chunk_start, file_start, duration = min(self.pieces, key=distance)
        a = file_start + min(max(start - chunk_start, 0.0), duration)
        b = file_start + min(max(end - chunk_start, 0.0), duration)
        return round(a, 3), round(max(a, b), 3)


def pack_chunks(
    channel: int, samples: np.ndarray, regions: list[dict[str, int]], max_seconds: float, gap: float
) -> list[Window]:
    chunks: list[Window] = []
    gap_samples = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    pieces: list[tuple[float, float, float]] = []
    length = 0
    limit = int(max_seconds * SAMPLE_RATE)
    for r in regions:
        piece = samples[r["start"] : r["end"]]
        extra = len(piece) + (len(gap_samples) if parts else 0)
        if parts and length + extra > limit:
            chunks.append(Window(channel, np.concatenate(parts), pieces))
            parts, pieces, length = [], [], 0
        if parts:
            parts.append(gap_samples)
            length += len(gap_samples)
        pieces.append((length / SAMPLE_RATE, r["start"] / SAMPLE_RATE, len(piece) / SAMPLE_RATE))
        parts.append(piece[:limit])
        length += len(piece[:limit])
    if parts:
        chunks.append(Window(channel, np.concatenate(parts), pieces))
    return chunks


def tail_chunk(chunk: Window, last_word_end: float, min_speech: float) -> Window | None:
    """The part of ``chunk`` after its last decoded word, as a chunk of its own, or None when it holds less
    than ``min_speech`` seconds of speech regions. A window that decoded no word at all is not retried: the
    model heard no speech in it, and the same window would decode the same way."""
    if last_word_end <= 0:
        return None
    pieces = []
    for chunk_start, file_start, duration in chunk.pieces:
        end = chunk_start + duration
        if end <= last_word_end:
            continue
        skip = max(0.0, last_word_end - chunk_start)
        pieces.append((chunk_start + skip - last_word_end, file_start + skip, duration - skip))
    if sum(p[2] for p in pieces) < min_speech:
        return None
    return Window(chunk.channel, chunk.samples[int(last_word_end * SAMPLE_RATE):], pieces)


def window_features(model, chunk: Window) -> np.ndarray:
    """The log-mel features of one window, padded to Whisper's 30 s."""
    from faster_whisper.audio import pad_or_trim

    return pad_or_trim(model.feature_extractor(chunk.samples)[..., :-1])
