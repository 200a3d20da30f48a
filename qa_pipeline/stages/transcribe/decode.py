"""Telephony transcription: per-speaker channels, VAD, batched beam search, gates.

Stereo calls keep agent and caller on separate channels, so the best diarization
is no diarization: each channel's speech regions are found with Silero VAD, cut
into <=30 s windows, and the windows of *both* channels are decoded together in
batches by faster-whisper's batched pipeline (beam search kept). Silence between
turns is never decoded, which is where the speed comes from, and every word keeps
its channel's speaker role with times in the original file's seconds.

Whisper invents text on silence and hold music; segments that the gates judge not
to be speech are dropped and counted.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa_pipeline.base.audio import Audio
from qa_pipeline.base.models import ModelSpec, load_whisper
from qa_pipeline.base.textnorm import normalize_display
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.contracts import Segment, Transcript, Word
from qa_pipeline.errors import ModelError
from qa_pipeline.stages.transcribe.encoder import WindowEncoder, detect_language
from qa_pipeline.stages.transcribe.gates import compression_ratio, gate, looping_words, split_segment
from qa_pipeline.stages.transcribe.windows import Window, pack_chunks, speech_regions, tail_chunk, window_features


def batch_size(opts: TranscribeOptions) -> int:
    """Windows a batched beam search takes: ``cuda_batch_size`` on a GPU, whose encoder also runs batched
    (WindowEncoder), ``batch_size`` on a CPU."""
    return opts.cuda_batch_size if opts.device == "cuda" else opts.batch_size


def decode_windows(
    model: WindowEncoder, spec: ModelSpec, chunks: list[Window], language: str, opts: TranscribeOptions
):
    """Batched beam search over all chunks of all channels; returns per-chunk faster-whisper segments."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import (
        BatchedInferencePipeline,
        TranscriptionOptions,
        get_suppressed_tokens,
    )
    from faster_whisper.transcribe import (
        Segment as FwSegment,
    )
    from faster_whisper.transcribe import (
        Word as FwWord,
    )

    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    options = TranscriptionOptions(
        beam_size=opts.beam_size,
        best_of=1,
        patience=1,
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        log_prob_threshold=opts.logprob_threshold,
        no_speech_threshold=opts.no_speech_threshold,
        compression_ratio_threshold=opts.compression_ratio_threshold,
        temperatures=[0.0],
        initial_prompt=opts.initial_prompt_zh if language == "zh" else None,
        prefix=None,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        prepend_punctuations="\"'“¿([{-",
        append_punctuations="\"'.。,，!！?？:：”)]}、",
        max_new_tokens=None,
        # The vocabulary goes before the prompt (faster-whisper: <|startofprev|> hotwords prompt <|startoftranscript|>),
        # so the Mandarin prompt's steer to Simplified characters stays next to the text it steers.
        hotwords=opts.hotwords(language),
        word_timestamps=True,
        hallucination_silence_threshold=None,
        condition_on_previous_text=False,
        clip_timestamps=[],
        prompt_reset_on_temperature=0.5,
        multilingual=False,
        without_timestamps=not opts.timestamps,
        max_initial_timestamp=0.0,
    )
    pipeline = BatchedInferencePipeline(model)
    # Similar lengths in one batch waste less beam-search padding.
    order = sorted(range(len(chunks)), key=lambda i: chunks[i].metadata["duration"])
    out: dict[int, list[Any]] = {}
    size = batch_size(opts)
    for b in range(0, len(order), size):
        idx = order[b : b + size]
        feats = np.stack([window_features(model, chunks[i]) for i in idx])
        pipeline.last_speech_timestamp = 0.0
        results = pipeline.forward(feats, tokenizer, [chunks[i].metadata for i in idx], options)
        for i, result in zip(idx, results):
            out[i] = [
                FwSegment(
                    id=0, seek=s["seek"], start=round(s["start"], 3), end=round(s["end"], 3),
                    text=s["text"], tokens=s["tokens"], avg_logprob=s["avg_logprob"],
                    compression_ratio=s["compression_ratio"], no_speech_prob=s["no_speech_prob"],
                    words=[FwWord(**w) for w in s.get("words", [])], temperature=0.0,
                )
                for s in result
            ]
    return out


@dataclass
class Plan:
    """One recording on its way through transcription: its speech windows, language and model, what has been
    decoded of each window so far, its share of the clock, and the error that stopped it (if any)."""

    audio: Audio
    opts: TranscribeOptions
    chunks: list[Window]
    language: str
    lang_prob: float
    model_name: str
    spec: ModelSpec
    encoder: WindowEncoder
    decoded: dict[int, list[Any]] = field(default_factory=dict)
    seconds: float = 0.0
    error: Exception | None = None

    def __post_init__(self) -> None:
        self.n_windows = len(self.chunks)  # the speech windows, before any re-decoded tail is added

    def group_key(self) -> str:
        """Plans with the same key decode in one batched beam search: same model, language and settings."""
        settings = self.opts.key() | {"language": self.language, "model": self.model_name}
        return json.dumps(settings, sort_keys=True, ensure_ascii=False)


def plan_audio(audio: Audio, opts: TranscribeOptions) -> Plan:
    """VAD on every channel, the speech packed into windows, the language decided (its probe's encoding kept
    for decoding) and the model chosen: everything before the beam search."""
    started = time.perf_counter()
    # Silero runs on one core: the channels are searched side by side.
    with ThreadPoolExecutor(max_workers=len(audio.channels)) as pool:
        regions = list(pool.map(lambda samples: speech_regions(samples, opts), audio.channels))
    chunks: list[Window] = []
    for ch, (samples, ts) in enumerate(zip(audio.channels, regions)):
        chunks += pack_chunks(ch, samples, ts, opts.chunk_seconds, opts.region_gap)

    language = opts.language if opts.language not in ("", "auto", None) else None
    lang_prob = 1.0
    model_name = opts.model
    if language and language in opts.language_models:
        model_name = opts.language_models[language]
    model, spec = load_whisper(model_name, opts.device, opts.compute_type, opts.threads)
    encoder = WindowEncoder(model)
    if chunks and language is None:
        if spec.multilingual:
            probe_chunks = [chunks[0]] + [c for c in chunks[1:] if c.channel != chunks[0].channel][:1]
            language, lang_prob = detect_language(encoder, probe_chunks, opts)
            if language in opts.language_models and opts.language_models[language] != model_name:
                model_name = opts.language_models[language]
                model, spec = load_whisper(model_name, opts.device, opts.compute_type, opts.threads)
                encoder = WindowEncoder(model)
        else:
            language = "en"
    language = language or (opts.languages[0] if opts.languages else "en")
    if not spec.multilingual and language != "en":
        raise ModelError(f"model {spec.name!r} is English-only; cannot transcribe language {language!r}")
    return Plan(audio, opts, chunks, language, lang_prob, model_name, spec, encoder,
                seconds=time.perf_counter() - started)


def decode_plans(plans: list[Plan]) -> None:
    """Decode the windows of every plan, those of plans that share model, language and settings together in
    one batched beam search (windows of several calls fill a batch that one call would leave part empty).

    A group that fails is decoded again one plan at a time, so that only the plan that fails alone carries
    the error (``Plan.error``); the others get the words they would have got alone."""
    groups: dict[str, list[Plan]] = {}
    for plan in plans:
        if plan.error is None:
            groups.setdefault(plan.group_key(), []).append(plan)
    for group in groups.values():
        try:
            _decode_group(group)
        except Exception as exc:  # noqa: BLE001 - isolated below; the caller classifies what is left
            if len(group) == 1:
                group[0].error = exc
                continue
            for plan in group:
                del plan.chunks[plan.n_windows:]
                plan.decoded.clear()
                try:
                    _decode_group([plan])
                except Exception as alone:  # noqa: BLE001
                    plan.error = alone


def _decode_group(plans: list[Plan]) -> None:
    opts, first = plans[0].opts, plans[0]
    encoder = first.encoder
    for plan in plans[1:]:
        encoder.adopt(plan.encoder)  # their language probes' encodings, reused by this group's decoding

    def decode(items: list[tuple[Plan, int]]) -> None:
        if not items:
            return
        started = time.perf_counter()
        out = decode_windows(encoder, first.spec, [plan.chunks[i] for plan, i in items], first.language, opts)
        share = (time.perf_counter() - started) / len(items)  # each window's share of the batch's clock
        for k, (plan, i) in enumerate(items):
            plan.decoded[i] = out[k]
            plan.seconds += share

    todo = [(plan, i) for plan in plans for i in range(len(plan.chunks))]
    decode(todo)
    for _ in range(opts.tail_passes if opts.tail_retry_seconds > 0 else 0):
        tails = []
        for plan, i in todo:
            last = max((w.end for fw in plan.decoded[i] for w in (fw.words or [])), default=0.0)
            tail = tail_chunk(plan.chunks[i], last, opts.tail_retry_seconds)
            if tail is not None:
                plan.chunks.append(tail)
                tails.append((plan, len(plan.chunks) - 1))
        if not tails:
            break
        decode(tails)
        todo = tails


def transcribe_audio(audio: Audio, opts: TranscribeOptions | None = None) -> Transcript:
    """Transcribe every channel of ``audio``; stereo channels are [agent, caller]."""
    plan = plan_audio(audio, opts or TranscribeOptions())
    decode_plans([plan])
    if plan.error is not None:
        raise plan.error
    return finish(plan)


def finish(plan: Plan) -> Transcript:
    """The decoded windows as a Transcript: words in file time with their speaker, turns gated."""
    started = time.perf_counter()
    audio, opts, chunks, decoded = plan.audio, plan.opts, plan.chunks, plan.decoded
    roles = ["agent", "caller"] if audio.layout == "stereo" else ["unknown"]
    segments: list[Segment] = []
    dropped = 0
    for i in sorted(decoded):
        chunk = chunks[i]
        for fw in decoded[i]:
            words = [
                Word(*chunk.to_file_span(w.start, w.end), w.word, round(w.probability, 4))
                for w in (fw.words or [])
            ]
            whole = Segment(
                speaker=roles[chunk.channel],  # type: ignore[arg-type]
                start=words[0].start if words else chunk.to_file_span(fw.start, fw.start)[0],
                end=words[-1].end if words else chunk.to_file_span(fw.end, fw.end)[1],
                text=normalize_display(fw.text),
                raw_text=fw.text.strip(),
                avg_logprob=round(float(fw.avg_logprob), 4),
                no_speech_prob=round(float(fw.no_speech_prob), 4),
                words=words,
            )
            # Gate each turn, not the decoded window: one looping phrase
            # ("银银银银…") must not take a window's real speech down with it.
            loop_spans = {(words[i].start, words[i].end) for i in looping_words(words, opts.max_ngram_repeats)}
            for turn in split_segment(whole, opts):
                in_loop = sum(1 for w in turn.words if (w.start, w.end) in loop_spans)
                if turn.words and in_loop * 2 >= len(turn.words):
                    dropped += 1
                    continue
                if gate(turn, compression_ratio(turn.raw_text), opts):
                    dropped += 1
                    continue
                segments.append(turn)
    segments.sort(key=lambda s: (s.start, s.end))
    settings = opts.key()
    settings["model"] = plan.model_name
    plan.seconds += time.perf_counter() - started
    return Transcript(
        language=plan.language,
        model_id=f"{plan.spec.name}@{plan.spec.sha256[:12] or 'external'}",
        settings=settings,
        duration=round(audio.duration, 3),
        segments=segments,
        language_probability=round(plan.lang_prob, 4),
        dropped_segments=dropped,
    )
