"""Speech windows: each channel's speech regions (Silero VAD) packed into <=30 s windows, and what is left
of a window after the last word Whisper decoded in it. Long channels are searched and cut in bounded pieces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_pipeline.base.audio import IN_MEMORY_SECONDS, release
from qa_pipeline.config import TranscribeOptions

SAMPLE_RATE = 16000


# A channel longer than the recordings held in memory is searched in pieces of this many seconds; each piece
# after the first starts where the last complete region of the one before ended (in silence), so no speech is
# cut at a seam and the VAD's working memory stays that of a 10-minute call.
VAD_PIECE_SECONDS = 600.0
VAD_SEAM_MARGIN = 60.0  # regions ending this close to a piece's end are found again by the next piece


def speech_regions(samples: np.ndarray, opts: TranscribeOptions) -> list[dict[str, int]]:
    """Speech regions of one channel (sample offsets); channels of normal length in one pass."""
    if len(samples) <= IN_MEMORY_SECONDS * SAMPLE_RATE:
        return _vad(samples, opts)
    piece, margin = int(VAD_PIECE_SECONDS * SAMPLE_RATE), int(VAD_SEAM_MARGIN * SAMPLE_RATE)
    regions: list[dict[str, int]] = []
    start, n = 0, len(samples)
    while start < n:
        end = min(n, start + piece)
        chunk = np.array(samples[start:end], dtype=np.float32)
        release(samples)
        found = [{"start": r["start"] + start, "end": r["end"] + start} for r in _vad(chunk, opts)]
        if end == n:
            regions += found
            break
        done = [r for r in found if r["end"] <= end - margin]
        regions += done
        start = done[-1]["end"] if done else end - margin
    return regions


def _vad(samples: np.ndarray, opts: TranscribeOptions) -> list[dict[str, int]]:
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

    The samples are cut from the channel only when asked for (``samples``): the windows of a 3-hour call
    never hold a copy of its speech. Without ``spans``, ``source`` is the window's samples itself.
    """

    channel: int
    source: np.ndarray  # the window's samples, or, with ``spans``, the channel they are cut from
    pieces: list[tuple[float, float, float]]  # (chunk_start, file_start, duration), seconds
    spans: tuple[tuple[int, int], ...] = ()  # sample ranges of ``source``, joined by ``gap`` samples of silence
    gap: int = 0
    skip: int = 0  # samples dropped from the start (the tail of a window)

    @property
    def n_samples(self) -> int:
        whole = sum(b - a for a, b in self.spans) + self.gap * max(0, len(self.spans) - 1) if self.spans else len(self.source)
        return max(0, whole - self.skip)

    @property
    def samples(self) -> np.ndarray:
        if not self.spans:
            return self.source[self.skip:]
        gap = np.zeros(self.gap, dtype=np.float32)
        parts: list[np.ndarray] = []
        for a, b in self.spans:
            if parts:
                parts.append(gap)
            parts.append(self.source[a:b])
        out = np.concatenate(parts)[self.skip:]
        release(self.source)
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        return {"offset": 0.0, "duration": self.n_samples / SAMPLE_RATE, "segments": []}

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
    gap_samples = int(gap * SAMPLE_RATE)
    spans: list[tuple[int, int]] = []
    pieces: list[tuple[float, float, float]] = []
    length = 0
    limit = int(max_seconds * SAMPLE_RATE)
    for r in regions:
        a = min(r["start"], len(samples))
        size = max(0, min(r["end"], len(samples)) - a)  # what samples[start:end] holds
        extra = size + (gap_samples if spans else 0)
        if spans and length + extra > limit:
            chunks.append(Window(channel, samples, pieces, tuple(spans), gap_samples))
            spans, pieces, length = [], [], 0
        if spans:
            length += gap_samples
        pieces.append((length / SAMPLE_RATE, r["start"] / SAMPLE_RATE, size / SAMPLE_RATE))
        spans.append((a, a + min(size, limit)))
        length += min(size, limit)
    if spans:
        chunks.append(Window(channel, samples, pieces, tuple(spans), gap_samples))
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
    return Window(chunk.channel, chunk.source, pieces, chunk.spans, chunk.gap,
                  chunk.skip + int(last_word_end * SAMPLE_RATE))


def window_features(model, chunk: Window) -> np.ndarray:
    """The log-mel features of one window, padded to Whisper's 30 s."""
    from faster_whisper.audio import pad_or_trim

    return pad_or_trim(model.feature_extractor(chunk.samples)[..., :-1])
