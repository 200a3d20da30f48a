"""Ingest: read one recording into 16 kHz float32 channels, or say exactly why not.


Every failure is an ``AudioError`` naming the path and a short machine-readable
reason, so that a batch can quarantine the file and go on.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from qa_pipeline.errors import AudioError

TARGET_RATE = 16000
DEFAULT_MAX_SECONDS = 4 * 3600.0
SILENCE_DBFS = -60.0  # peak below this on every channel: nothing to transcribe
IDENTICAL_CORR = 0.98  # channel correlation above this: a mono call stored as stereo


@dataclass
class Audio:
    path: str
    sha256: str
    source_rate: int
    source_channels: int
    source_format: str
    duration: float
    channels: list[np.ndarray]  # 16 kHz float32, one array per kept channel
    layout: str  # "stereo" or "mono"
    notes: list[str] = field(default_factory=list)
    agent_channel: int = 0  # the file channel that became channels[0] (stereo): part of a transcript's cache key

    @property
    def rate(self) -> int:
        return TARGET_RATE

    def mono(self) -> np.ndarray:
        return np.mean(np.stack(self.channels), axis=0) if len(self.channels) > 1 else self.channels[0]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_wav_truncation(path: Path, size: int) -> None:
    """libsndfile quietly reads a WAV cut short; compare the data chunk's declared size to the file."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                available = size - (pos + 8)
                # 0 and 0xFFFFFFFF are written by streaming recorders that never
                # patch the header; those are not truncation.
                if chunk_size not in (0, 0xFFFFFFFF) and available < chunk_size:
                    raise AudioError(
                        path, "truncated",
                        f"header promises {chunk_size} bytes of audio, file holds {available}",
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)
        raise AudioError(path, "truncated", "RIFF/WAVE file has no data chunk")


def _decode(path: Path) -> tuple[np.ndarray, int, str]:
    """Return (frames x channels float32, rate, format)."""
    try:
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, rate, f"{info.format}/{info.subtype}"
    except sf.LibsndfileError as sf_exc:
        sf_message = str(sf_exc)
    except RuntimeError as sf_exc:  # older soundfile raises RuntimeError
        sf_message = str(sf_exc)
    # libsndfile does not read every container (m4a, some mp3); PyAV (FFmpeg),
    # which faster-whisper already depends on, reads the rest.
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(path, "unsupported", "no audio stream")
            stream = container.streams.audio[0]
            rate = stream.rate or stream.codec_context.sample_rate
            n_channels = stream.codec_context.channels
            frames = [f.to_ndarray() for f in container.decode(stream)]
            fmt = f"{container.format.name}/{stream.codec_context.name}"
    except AudioError:
        raise
    except Exception as av_exc:
        lowered = sf_message.lower()
        reason = "unsupported" if "format" in lowered or "recogni" in lowered else "corrupt"
        raise AudioError(path, reason, f"libsndfile: {sf_message}; ffmpeg: {av_exc}") from None
    if not frames:
        raise AudioError(path, "empty", "no audio frames")
    planar = [f if f.shape[0] == n_channels else f.reshape(-1, n_channels).T for f in frames]
    data = np.concatenate(planar, axis=1).T.astype(np.float32)
    if np.issubdtype(frames[0].dtype, np.integer):
        data /= float(np.iinfo(frames[0].dtype).max)
    return data, int(rate), fmt


def _resample(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == TARGET_RATE:
        return np.ascontiguousarray(x, dtype=np.float32)
    import soxr  # shipped with librosa; fast and high quality

    return soxr.resample(x, rate, TARGET_RATE).astype(np.float32)


def _near_identical(a: np.ndarray, b: np.ndarray) -> bool:
    # Pearson correlation from three dot products: np.corrcoef on an hour of audio copies both channels to
    # float64 and costs ~30 ms a call for a yes/no answer.
    n = min(len(a), len(b))
    x, y = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    sxx, syy = float(np.dot(x, x)), float(np.dot(y, y))
    if sxx < n * 1e-12 or syy < n * 1e-12:  # a silent channel (sd < 1e-6) correlates with nothing
        return False
    corr = float(np.dot(x, y)) / float(np.sqrt(sxx * syy))
    return corr >= IDENTICAL_CORR


def load_audio(
    path: str | Path,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    agent_channel: int | None = 0,
    layout: str | None = None,
) -> Audio:
    """Read a recording. ``layout`` None means: stereo if two distinct channels, else mono.

    For stereo the returned channels are ordered [agent, caller].
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "not_found")
    if path.is_dir():
        raise AudioError(path, "unsupported", "is a directory")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(path, "empty", "zero bytes")
    _check_wav_truncation(path, size)
    try:
        info = sf.info(str(path))
        if info.samplerate and info.frames / info.samplerate > max_seconds:
            raise AudioError(
                path, "too_long", f"{info.frames / info.samplerate:.0f} s > limit {max_seconds:.0f} s"
            )
    except (sf.LibsndfileError, RuntimeError):
        pass  # decoded below by the fallback, which reports the error
    data, rate, fmt = _decode(path)
    if data.size == 0 or data.shape[0] == 0:
        raise AudioError(path, "empty", "no audio frames")
    duration = data.shape[0] / rate
    if duration > max_seconds:
        raise AudioError(path, "too_long", f"{duration:.0f} s > limit {max_seconds:.0f} s")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "corrupt", "non-finite samples")
    if duration < 0.1:
        raise AudioError(path, "empty", f"only {duration * 1000:.0f} ms of audio")
    peak = float(np.max(np.abs(data)))
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise AudioError(path, "silent", f"peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS")

    notes: list[str] = []
    n_channels = data.shape[1]
    if n_channels > 2:
        notes.append(f"{n_channels} channels: using the first two")
        data = data[:, :2]
        n_channels = 2
    channels = [_resample(data[:, c], rate) for c in range(n_channels)]

    if n_channels == 2 and layout != "mono":
        if _near_identical(channels[0], channels[1]):
            notes.append("the two channels are (near-)identical: treated as mono")
            channels, out_layout = [channels[0]], "mono"
        else:
            agent = 0 if agent_channel is None else agent_channel
            if agent not in (0, 1):
                raise ValueError(f"agent_channel must be 0 or 1, not {agent}")
            channels, out_layout = [channels[agent], channels[1 - agent]], "stereo"
    elif n_channels == 2:
        channels, out_layout = [(channels[0] + channels[1]) / 2], "mono"
    else:
        out_layout = "mono"
        if layout == "stereo":
            notes.append("stereo layout requested but the file has one channel: treated as mono")
    return Audio(
        path=str(path),
        sha256=file_sha256(path),
        source_rate=rate,
        source_channels=data.shape[1],
        source_format=fmt,
        duration=duration,
        channels=channels,
        layout=out_layout,
        notes=notes,
        agent_channel=(agent_channel or 0) if out_layout == "stereo" else 0,
    )
