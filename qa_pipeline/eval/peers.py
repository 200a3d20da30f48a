"""faster-whisper's own ways to transcribe a call, timed beside ours with the same model object.

A user who knows faster-whisper would not pick plain ``WhisperModel.transcribe``; they would pick its
``BatchedInferencePipeline`` (Silero VAD, <=30 s chunks, batched beam search) and, on a stereo call, run it
on each channel. The benchmarks time all three next to the pipeline and score each one's text against the
same references, so that "faster" counts only at equal or better accuracy:

- ``plain_mono``: ``WhisperModel.transcribe`` on the channels' mean, faster-whisper's defaults (beam 5,
  no VAD, temperature fallback, text conditioned on the previous window);
- ``batched_mono``: ``BatchedInferencePipeline.transcribe`` on the mono mix, batch 8, word timestamps,
  its own defaults otherwise (VAD threshold 0.5 with 160 ms silences, beam 5, no timestamp tokens);
- ``batched_per_channel``: the same on each channel in turn, one text per speaker.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import psutil

from qa_pipeline.base.audio import Audio
from qa_pipeline.eval.asr import Reference, count_errors

PEERS = ("plain_mono", "batched_mono", "batched_per_channel")
PEER_BATCH = 8


@dataclass
class Run:
    """One configuration on one clip: its wall and CPU seconds, its text (one per channel, or one for a mono
    mix), its word count and the process's peak RSS while it ran (the loaded model included)."""

    name: str
    seconds: float
    cpu_seconds: float
    texts: list[str]
    words: int
    peak_rss_mb: float
    details: dict = field(default_factory=dict)


class PeakRss:
    """This process's peak resident memory while the block runs, sampled every 50 ms (ru_maxrss only ever
    grows, so it cannot tell one configuration's peak from the one before)."""

    def __init__(self) -> None:
        self.peak = psutil.Process().memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, me.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, psutil.Process().memory_info().rss)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _texts(segments) -> str:
    return " ".join(s.text.strip() for s in segments).strip()  # the generator decodes here


def transcribe_peer(name: str, model, audio: Audio, language: str | None) -> tuple[list[str], dict]:
    """The texts one peer configuration gives for ``audio`` (``model``: the loaded WhisperModel)."""
    from faster_whisper import BatchedInferencePipeline

    if name == "plain_mono":
        segments, info = model.transcribe(audio.mono(), language=language)
        return [_texts(segments)], {"language": info.language}
    pipeline = BatchedInferencePipeline(model)
    channels = [audio.mono()] if name == "batched_mono" else list(audio.channels)
    texts, languages = [], []
    for samples in channels:
        segments, info = pipeline.transcribe(np.asarray(samples, dtype=np.float32), language=language,
                                             batch_size=PEER_BATCH, word_timestamps=True)
        texts.append(_texts(segments))
        languages.append(info.language)
    return texts, {"language": languages[0] if len(set(languages)) == 1 else languages}


def timed(name: str, fn) -> Run:
    """Run ``fn() -> (texts, details)`` under the clocks and the memory sampler."""
    with PeakRss() as rss:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        texts, details = fn()
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return Run(name, round(seconds, 3), round(cpu, 3), texts, sum(len(t.split()) for t in texts),
               round(rss.peak / 2**20, 1), details)


def score(ref: Reference, texts: list[str]) -> tuple[int, int]:
    """(errors, reference words or characters) of ``texts``: per channel when there is one text per channel
    of the reference, else the texts joined against the reference in time order (a mono mix interleaves the
    speakers as they spoke)."""
    if len(texts) == len(ref.channel_texts):
        pairs = list(zip(ref.channel_texts, texts))
    else:
        pairs = [(ref.timed_text or ref.text, " ".join(texts))]
    errors = length = 0
    for reference, hypothesis in pairs:
        e, n = count_errors(reference, hypothesis, ref.language)
        errors, length = errors + e, length + n
    return errors, length
