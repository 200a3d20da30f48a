"""Ingest: read one recording into 16 kHz float32 channels, or say exactly why not.

The file is decoded and resampled in blocks: memory holds the 16 kHz channels and one block, never the whole
file at its own rate beside them. The channels of a recording longer than ``IN_MEMORY_SECONDS`` go to an
unlinked scratch file and are read back as a read-only ``np.memmap``; the stages that read a whole channel do
it in ``blocks``, which hand the pages back after each block, so a 3-hour call stays within a worker's memory.
Calls up to that length are held in memory and read exactly as before (the blocks give the same samples).

Every failure is an ``AudioError`` naming the path and a short machine-readable reason, so that a batch can
quarantine the file and go on.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from qa_pipeline.errors import AudioError

TARGET_RATE = 16000
DEFAULT_MAX_SECONDS = 4 * 3600.0
SILENCE_DBFS = -60.0  # peak below this on every channel: nothing to transcribe
IDENTICAL_CORR = 0.98  # channel correlation above this: a mono call stored as stereo
# Channels of longer recordings live in a scratch file, not in memory: 20 minutes of 16 kHz float32 stereo is
# 150 MB, a 3-hour call would be 1.4 GB of a worker's 2 GB.
IN_MEMORY_SECONDS = 1200.0
BLOCK_SECONDS = 60.0  # what a block of decoding, resampling or reading a long channel holds


@dataclass
class Audio:
    path: str
    sha256: str
    source_rate: int
    source_channels: int
    source_format: str
    duration: float
    channels: list[np.ndarray]  # 16 kHz float32, one array per kept channel (a read-only memmap when long)
    layout: str  # "stereo" or "mono"
    notes: list[str] = field(default_factory=list)
    agent_channel: int = 0  # the file channel that became channels[0] (stereo): part of a transcript's cache key

    @property
    def rate(self) -> int:
        return TARGET_RATE

    def mono(self) -> np.ndarray:
        """The mix of the channels (their mean), made block by block; in scratch for a long call."""
        if len(self.channels) == 1:
            return self.channels[0]
        a, b = self.channels[:2]
        sink = _Sink(limit=0 if isinstance(a, np.memmap) else None)
        step = int(BLOCK_SECONDS * TARGET_RATE)
        for lo in range(0, len(a), step):
            sink.add((a[lo : lo + step] + b[lo : lo + step]) / 2)  # == np.mean(np.stack(...), axis=0), bit for bit
            release(a, b)
        return sink.array()


# ------------------------------------------------------------------ long channels in bounded pieces


def release(*arrays: np.ndarray) -> None:
    """Hand a scratch-backed array's pages back (they stay in the file), so reading a long channel once
    through leaves this process's memory where it was. A no-op for arrays in memory."""
    for x in arrays:
        mapping = getattr(x, "_mmap", None)  # np.memmap's mapping; its slices carry it too
        if mapping is not None and hasattr(mapping, "madvise"):
            mapping.madvise(mmap.MADV_DONTNEED)


def blocks(x: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """``x`` in consecutive blocks of ``size`` samples (views); the pages of a scratch-backed ``x`` are handed
    back after each block."""
    for lo in range(0, len(x), size):
        yield x[lo : lo + size]
        release(x)


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``x`` (float32) from ``rate`` to ``target`` Hz, streamed through soxr block by block: the same samples
    as one ``soxr.resample`` call, without a float copy of the whole input."""
    if rate == target:
        return np.asarray(x, dtype=np.float32)
    import soxr  # shipped with librosa; fast and high quality

    stream = soxr.ResampleStream(rate, target, 1, dtype="float32")
    parts = [stream.resample_chunk(np.ascontiguousarray(b, dtype=np.float32)) for b in blocks(x, int(BLOCK_SECONDS * rate))]
    parts.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(parts).astype(np.float32, copy=False)


def scratch_dir() -> Path:
    """Where long channels are kept while a call is processed: beside the transcript cache (a disk, where
    /tmp may be memory)."""
    root = Path(os.environ.get("QA_CACHE_DIR") or Path.home() / ".cache" / "qa_pipeline")
    path = root / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


class _Sink:
    """One channel's 16 kHz samples as they are made: in memory up to ``limit`` samples, then in an unlinked
    scratch file (freed by the kernel with the last mapping, even if the process is killed)."""

    def __init__(self, limit: int | None = int(IN_MEMORY_SECONDS * TARGET_RATE)):
        self.limit, self.parts, self.n = limit, [], 0
        self.file: Any = None

    def add(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.file is None and self.limit is not None and self.n + len(x) > self.limit:
            self.file = tempfile.TemporaryFile(dir=scratch_dir())  # noqa: SIM115 - mapped, then closed in array()
            for part in self.parts:
                self.file.write(part.data)
            self.parts = []
        if self.file is not None:
            self.file.write(x.data)
        else:
            self.parts.append(x)
        self.n += len(x)

    def array(self) -> np.ndarray:
        if self.file is None or self.n == 0:
            return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)
        self.file.flush()
        samples = np.memmap(self.file, dtype=np.float32, mode="r", shape=(self.n,))  # the mapping keeps the file
        self.file.close()
        return samples


# ------------------------------------------------------------------ what the file is


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_regular(path: str | Path) -> None:
    """Refuse, before anything opens it, what is not a regular file: a symlink to nothing, a directory, a named
    pipe (opening one waits forever for a writer), a socket or a device."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise AudioError(path, "not_found", f"a symbolic link to nothing ({os.readlink(path)})") from None
        raise AudioError(path, "not_found") from None
    except OSError as exc:
        raise AudioError(path, "not_found", exc.strerror or str(exc)) from None
    if not stat.S_ISREG(mode):
        raise AudioError(path, "not_a_file", _kind(mode))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return f"{name}, not a regular file"
    return "not a regular file"


def open_regular(path: str | Path) -> Any:
    """Open for reading without ever blocking (O_NONBLOCK: a FIFO swapped in after the check does not hang
    the night); anything but a regular file is an AudioError."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        mode = os.fstat(fd).st_mode
        os.close(fd)
        raise AudioError(path, "not_a_file", _kind(mode))
    return os.fdopen(fd, "rb")


_SIGNATURES = (
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"SQLite format 3\x00", "an SQLite database"), (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program (ELF)"),
)


def _not_audio(path: Path) -> str | None:
    """What a file is when it is plainly not audio (a text file renamed .flac, an image…), else None.
    No audio container starts with these bytes or with a page of printable text."""
    with open_regular(path) as fh:
        head = fh.read(4096)
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    try:
        text = head.decode("utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8")
    except UnicodeDecodeError as exc:  # a character cut by the 4 KB read is still text
        text = head[: exc.start].decode("utf-8", errors="ignore") if exc.start > len(head) - 4 else ""
    text = text.lstrip("\ufeff")
    if text and all(c.isprintable() or c in "\t\r\n\f" for c in text):
        return "a text file"
    return None


def _check_wav_truncation(path: Path, size: int) -> None:
    """libsndfile quietly reads a WAV cut short; compare the data chunk's declared size to the file."""
    with open_regular(path) as fh:
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


# ------------------------------------------------------------------ decoding in blocks


class _Ingest:
    """What load_audio keeps while the blocks of one file go by: the checks of the samples at the file's own
    rate, each kept channel resampled to 16 kHz as it comes, and the sums of the channel correlation."""

    def __init__(self, path: Path, rate: int, n_channels: int, layout: str | None, max_seconds: float):
        import soxr

        self.path, self.rate, self.n_channels, self.max_seconds = path, rate, n_channels, max_seconds
        self.kept = min(n_channels, 2)
        self.mix = layout == "mono" and self.kept == 2  # asked for mono: the two channels' mean
        self.streams = [None if rate == TARGET_RATE else soxr.ResampleStream(rate, TARGET_RATE, 1, dtype="float32")
                        for _ in range(self.kept)]
        self.sinks = [_Sink() for _ in range(1 if self.mix else self.kept)]
        self.frames, self.peak = 0, 0.0
        self.sums = np.zeros(5)  # Σa, Σb, Σa², Σb², Σab of the 16 kHz channels, for their correlation

    def add(self, block: np.ndarray, last: bool = False) -> None:
        """One block of frames x channels float32 at the file's rate."""
        if block.size:
            if not np.all(np.isfinite(block)):
                raise AudioError(self.path, "corrupt", "non-finite samples")
            self.peak = max(self.peak, float(np.max(np.abs(block))))
        self.frames += block.shape[0]
        if self.frames / self.rate > self.max_seconds:
            raise AudioError(self.path, "too_long", f"more than the limit of {self.max_seconds:.0f} s")
        out = []
        for c in range(self.kept):
            column = np.ascontiguousarray(block[:, c])
            stream = self.streams[c]
            out.append(column if stream is None else stream.resample_chunk(column, last=last))
        if self.mix:
            self.sinks[0].add((out[0] + out[1]) / 2)
            return
        if self.kept == 2:
            a, b = out[0].astype(np.float64), out[1].astype(np.float64)
            self.sums += (a.sum(), b.sum(), np.dot(a, a), np.dot(b, b), np.dot(a, b))
        for sink, samples in zip(self.sinks, out):
            sink.add(samples)

    def finish(self) -> None:
        self.add(np.zeros((0, self.n_channels), dtype=np.float32), last=True)

    def near_identical(self) -> bool:
        """Pearson correlation of the two channels from running sums (one pass, no copy of either)."""
        n = self.sinks[1].n
        if n == 0:
            return False
        sa, sb, saa, sbb, sab = self.sums
        sxx, syy, sxy = saa - sa * sa / n, sbb - sb * sb / n, sab - sa * sb / n
        if sxx < n * 1e-12 or syy < n * 1e-12:  # a silent channel (sd < 1e-6) correlates with nothing
            return False
        return sxy / float(np.sqrt(sxx * syy)) >= IDENTICAL_CORR


def _decode(path: Path, layout: str | None, max_seconds: float) -> tuple[_Ingest, str]:
    """Decode ``path`` block by block into an _Ingest; returns it and the format name."""
    try:
        with sf.SoundFile(str(path)) as fh:
            ingest = _Ingest(path, fh.samplerate, fh.channels, layout, max_seconds)
            if fh.frames <= IN_MEMORY_SECONDS * fh.samplerate:
                # One read, as sf.read does it (seek, then read all): libsndfile's MP3 and Vorbis decoders give
                # slightly different samples when read in pieces, and a call of normal length must not change.
                if fh.seekable():
                    fh.seek(0)
                ingest.add(fh.read(dtype="float32", always_2d=True))
            else:
                for block in fh.blocks(blocksize=int(BLOCK_SECONDS * fh.samplerate), dtype="float32", always_2d=True):
                    ingest.add(block)
            ingest.finish()
            return ingest, f"{fh.format}/{fh.subtype}"
    except (sf.LibsndfileError, RuntimeError) as sf_exc:  # older soundfile raises RuntimeError
        sf_message = str(sf_exc)
    # libsndfile does not read every container (m4a, some mp3); PyAV (FFmpeg),
    # which faster-whisper already depends on, reads the rest.
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(path, "unsupported", "no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate)
            n_channels = stream.codec_context.channels
            ingest = _Ingest(path, rate, n_channels, layout, max_seconds)
            step = int(BLOCK_SECONDS * rate)
            pending: list[np.ndarray] = []
            held = 0
            for frame in container.decode(stream):
                pending.append(_frame_samples(frame.to_ndarray(), n_channels))
                held += pending[-1].shape[0]
                if held >= step:
                    ingest.add(np.concatenate(pending))
                    pending, held = [], 0
            if not ingest.frames and not pending:
                raise AudioError(path, "empty", "no audio frames")
            if pending:
                ingest.add(np.concatenate(pending))
            ingest.finish()
            return ingest, f"{container.format.name}/{stream.codec_context.name}"
    except AudioError:
        raise
    except Exception as av_exc:
        lowered = sf_message.lower()
        reason = "unsupported" if "format" in lowered or "recogni" in lowered else "corrupt"
        raise AudioError(path, reason, f"libsndfile: {sf_message}; ffmpeg: {av_exc}") from None


def _frame_samples(frame: np.ndarray, n_channels: int) -> np.ndarray:
    """One decoded PyAV frame as frames x channels float32 in [-1, 1]."""
    planar = frame if frame.shape[0] == n_channels else frame.reshape(-1, n_channels).T
    data = planar.T.astype(np.float32)
    if np.issubdtype(frame.dtype, np.integer):
        data /= float(np.iinfo(frame.dtype).max)
    return data


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
    check_regular(path)
    size = path.stat().st_size
    if size == 0:
        raise AudioError(path, "empty", "zero bytes")
    what = _not_audio(path)
    if what:
        raise AudioError(path, "unsupported", f"{what}, not audio (named {path.suffix or 'without an extension'})")
    _check_wav_truncation(path, size)
    try:
        info = sf.info(str(path))
        if info.samplerate and info.frames / info.samplerate > max_seconds:
            raise AudioError(
                path, "too_long", f"{info.frames / info.samplerate:.0f} s > limit {max_seconds:.0f} s"
            )
    except (sf.LibsndfileError, RuntimeError):
        pass  # decoded below by the fallback, which reports the error
    ingest, fmt = _decode(path, layout, max_seconds)
    if ingest.frames == 0:
        raise AudioError(path, "empty", "no audio frames")
    duration = ingest.frames / ingest.rate
    if duration < 0.1:
        raise AudioError(path, "empty", f"only {duration * 1000:.0f} ms of audio")
    if ingest.peak <= 10 ** (SILENCE_DBFS / 20):
        raise AudioError(path, "silent", f"peak {20 * np.log10(max(ingest.peak, 1e-12)):.0f} dBFS")

    notes: list[str] = []
    if ingest.n_channels > 2:
        notes.append(f"{ingest.n_channels} channels: using the first two")
    if ingest.kept == 2 and not ingest.mix:
        if ingest.near_identical():
            notes.append("the two channels are (near-)identical: treated as mono")
            channels, out_layout = [ingest.sinks[0].array()], "mono"
        else:
            agent = 0 if agent_channel is None else agent_channel
            if agent not in (0, 1):
                raise ValueError(f"agent_channel must be 0 or 1, not {agent}")
            channels, out_layout = [ingest.sinks[agent].array(), ingest.sinks[1 - agent].array()], "stereo"
    else:
        channels, out_layout = [ingest.sinks[0].array()], "mono"
        if ingest.kept == 1 and layout == "stereo":
            notes.append("stereo layout requested but the file has one channel: treated as mono")
    return Audio(
        path=str(path),
        sha256=file_sha256(path),
        source_rate=ingest.rate,
        source_channels=min(ingest.n_channels, 2),
        source_format=fmt,
        duration=duration,
        channels=channels,
        layout=out_layout,
        notes=notes,
        agent_channel=(agent_channel or 0) if out_layout == "stereo" else 0,
    )
