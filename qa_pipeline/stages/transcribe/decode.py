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

from concurrent.futures import ThreadPoolExecutor
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
    for b in range(0, len(order), opts.batch_size):
        idx = order[b : b + opts.batch_size]
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


def transcribe_audio(audio: Audio, opts: TranscribeOptions | None = None) -> Transcript:
    """Transcribe every channel of ``audio``; stereo channels are [agent, caller]."""
    opts = opts or TranscribeOptions()
    roles = ["agent", "caller"] if audio.layout == "stereo" else ["unknown"]

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

    decoded = decode_windows(encoder, spec, chunks, language, opts) if chunks else {}
    todo = list(decoded)
    for _ in range(opts.tail_passes if opts.tail_retry_seconds > 0 else 0):
        tails = {}
        for i in todo:
            last = max((w.end for fw in decoded[i] for w in (fw.words or [])), default=0.0)
            tail = tail_chunk(chunks[i], last, opts.tail_retry_seconds)
            if tail is not None:
                tails[len(chunks) + len(tails)] = tail
        if not tails:
            break
        chunks += tails.values()
        again = decode_windows(encoder, spec, list(tails.values()), language, opts)
        decoded.update({index: again[k] for k, index in enumerate(tails)})
        todo = list(tails)

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
    settings["model"] = model_name
    return Transcript(
        language=language,
        model_id=f"{spec.name}@{spec.sha256[:12] or 'external'}",
        settings=settings,
        duration=round(audio.duration, 3),
        segments=segments,
        language_probability=round(lang_prob, 4),
        dropped_segments=dropped,
    )
