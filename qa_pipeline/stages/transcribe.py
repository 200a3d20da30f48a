"""Telephony transcription: per-speaker channels, VAD, batched beam search, gates.

Stereo calls keep agent and caller on separate channels, so the best diarization
is no diarization: each channel's speech regions are found with Silero VAD, cut
into <=30 s chunks, and the chunks of *both* channels are decoded together in
batches by faster-whisper's batched pipeline (beam search kept). Silence between
turns is never decoded, which is where the speed comes from, and every word keeps
its channel's speaker role with times in the original file's seconds.

Whisper invents text on silence and hold music; segments that the gates below
judge not to be speech are dropped and counted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline import __version__
from qa_pipeline.base.audio import Audio
from qa_pipeline.base.models import ModelSpec, load_whisper
from qa_pipeline.base.textnorm import normalize_display
from qa_pipeline.contracts import Segment, Transcript, Word, transcript_from_dict

SAMPLE_RATE = 16000
ZH_PROMPT = "以下是普通话的电话录音。"  # steers Whisper to Simplified characters and punctuation


@dataclass
class TranscribeOptions:
    """Decoding settings; every field is part of the cache key and stored with the transcript."""

    model: str = "base"
    device: str = "cpu"
    compute_type: str = "int8"
    threads: int = 0  # 0: CTranslate2 picks (all cores)
    language: str = "auto"  # auto | zh | en | any Whisper code
    languages: tuple[str, ...] = ("zh", "en")  # auto-detection chooses among these
    language_confidence: float = 0.9  # below this after one channel, the other channel is probed too
    # Per-language model override, e.g. {"en": "tiny.en"}: choose the best model per language.
    language_models: dict[str, str] = field(default_factory=dict)
    beam_size: int = 5
    # Timestamp tokens while decoding: Whisper keeps its place in a long window
    # better with them (fewer skipped sentences); word times come from alignment either way.
    timestamps: bool = True
    batch_size: int = 8
    chunk_seconds: float = 30.0
    region_gap: float = 0.5  # silence put between packed speech regions
    # Silero VAD on each channel
    # Silero scores 8 kHz telephone speech low (fast speech on the real call peaks
    # at 0.3-0.45): 0.5 drops whole sentences; the gates deal with what else gets in.
    vad_threshold: float = 0.35
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 200
    vad_min_speech_ms: int = 250
    # Hallucination gates
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    hard_logprob_threshold: float = -1.6
    compression_ratio_threshold: float = 2.4
    min_word_prob: float = 0.25  # mean word probability below this: not speech
    max_ngram_repeats: int = 4
    initial_prompt_zh: str = ZH_PROMPT
    # Whisper can end a window early (end-of-text before the window's last speech): the speech left after the
    # window's last word is decoded again, as a window of its own, when it holds at least this many seconds of
    # speech regions; up to tail_passes times. 0 turns it off.
    tail_retry_seconds: float = 1.0
    tail_passes: int = 2
    # Turn splitting of decoded chunks
    turn_gap: float = 1.0
    max_turn_seconds: float = 12.0

    def key(self) -> dict[str, Any]:
        """The settings that decide the words. Thread count only decides the speed, so it is
        left out: a batch that gives each worker its share of the cores reuses the cache
        and counts as 'already processed'."""
        d = dataclasses.asdict(self)
        d["languages"] = list(self.languages)
        d.pop("threads")
        return d


# Phrases Whisper is known to produce on silence/music (subtitle credits etc.).
_HALLUCINATIONS = re.compile(
    r"(thank(s| you) for watching|subscribe|字幕|请不吝点赞|订阅|打赏|明镜|amara\.org|"
    r"ご視聴|www\.|\.com/|優優獨播|中文字幕)",
    re.IGNORECASE,
)


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


# Digits repeat in real speech (a phone number 138 8888 8888, 「八八八八」): a run of digits is not a loop.
_DIGIT_TOKEN = re.compile(r"[\d零〇一二三四五六七八九十幺两]+")


def _is_digits(gram: tuple[str, ...]) -> bool:
    return all(_DIGIT_TOKEN.fullmatch(t) for t in gram)


def _repeat_runs(tokens: list[str], max_n: int = 4) -> Iterator[tuple[int, int, int]]:
    """(first token, end token, repeats so far) at every step of every run of one n-gram repeated back to back
    (n = 1..max_n), digits aside."""
    for n in range(1, max_n + 1):
        for offset in range(n):
            run_start, prev = offset, None
            for i in range(offset, len(tokens) - n + 1, n):
                gram = tuple(tokens[i : i + n])
                if gram != prev or _is_digits(gram):
                    run_start, prev = i, gram
                yield run_start, i + n, (i - run_start) // n + 1


def _max_ngram_repeats(tokens: list[str], max_n: int = 4) -> int:
    """Longest run of one n-gram repeated back to back (n = 1..max_n), digits aside."""
    return max((repeats for _, _, repeats in _repeat_runs(tokens, max_n)), default=1)


def _tokens_for_repeats(text: str) -> list[str]:
    return re.findall(r"[\u3400-\u9fff]|[\w']+", text.lower())


def looping_words(words: list[Word], min_repeats: int, max_n: int = 4) -> set[int]:
    """Indices of the words inside a loop: one n-gram of tokens (n = 1..max_n) repeated back to back at least
    ``min_repeats`` times. Found over the whole decoded window, because the turn splitter cuts a loop
    ("泥河。泥河。泥河。…") into short turns that each look innocent."""
    tokens: list[str] = []
    owner: list[int] = []
    for i, w in enumerate(words):
        for tok in _tokens_for_repeats(w.text):
            tokens.append(tok)
            owner.append(i)
    looped: set[int] = set()
    for first, end, repeats in _repeat_runs(tokens, max_n):
        if repeats >= min_repeats:
            looped.update(owner[k] for k in range(first, end))
    return looped


def gate(seg: Segment, compression_ratio: float, opts: TranscribeOptions) -> str | None:
    """Why this segment is not speech, or None to keep it."""
    text = seg.raw_text.strip()
    if not text or not re.search(r"\w", text):
        return "empty"
    if seg.no_speech_prob > opts.no_speech_threshold and seg.avg_logprob < opts.logprob_threshold:
        return "no_speech"
    if seg.avg_logprob < opts.hard_logprob_threshold:
        return "low_logprob"
    if compression_ratio > opts.compression_ratio_threshold:
        return "compression_ratio"
    if _max_ngram_repeats(_tokens_for_repeats(text)) >= opts.max_ngram_repeats:
        return "repeated_ngram"
    if seg.words:
        mean_prob = float(np.mean([w.prob for w in seg.words]))
        if mean_prob < opts.min_word_prob:
            return "low_word_prob"
    if _HALLUCINATIONS.search(text) and (seg.avg_logprob < -0.5 or seg.no_speech_prob > 0.3):
        return "known_hallucination"
    return None


_SENTENCE_END = ("." , "?", "!", "。", "？", "！")


def split_segment(seg: Segment, opts: TranscribeOptions) -> list[Segment]:
    """Cut a decoded chunk (up to 30 s, several turns) into readable turns.

    ``seg.words`` carry Whisper's raw word strings (with their leading spaces);
    the returned segments carry normalised word text. A new turn starts at a
    pause of ``turn_gap`` seconds, or after a sentence end followed by a short
    pause; long turns are cut at sentence ends.
    """
    groups: list[list[Word]] = [[]]
    for i, word in enumerate(seg.words):
        if i:
            prev = seg.words[i - 1]
            gap = word.start - prev.end
            sentence_end = prev.text.strip().endswith(_SENTENCE_END)
            length = prev.end - groups[-1][0].start
            if gap >= opts.turn_gap or (sentence_end and (gap >= 0.3 or length >= opts.max_turn_seconds)):
                groups.append([])
        groups[-1].append(word)
    if not seg.words:
        return [seg]
    out = []
    for g in groups:
        raw = "".join(w.text for w in g).strip()
        words = [dataclasses.replace(w, text=normalize_display(w.text)) for w in g]
        out.append(dataclasses.replace(
            seg, start=g[0].start, end=g[-1].end, text=normalize_display(raw), raw_text=raw, words=words
        ))
    return out


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
class _Chunk:
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
) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    gap_samples = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    pieces: list[tuple[float, float, float]] = []
    length = 0
    limit = int(max_seconds * SAMPLE_RATE)
    for r in regions:
        piece = samples[r["start"] : r["end"]]
        extra = len(piece) + (len(gap_samples) if parts else 0)
        if parts and length + extra > limit:
            chunks.append(_Chunk(channel, np.concatenate(parts), pieces))
            parts, pieces, length = [], [], 0
        if parts:
            parts.append(gap_samples)
            length += len(gap_samples)
        pieces.append((length / SAMPLE_RATE, r["start"] / SAMPLE_RATE, len(piece) / SAMPLE_RATE))
        parts.append(piece[:limit])
        length += len(piece[:limit])
    if parts:
        chunks.append(_Chunk(channel, np.concatenate(parts), pieces))
    return chunks


def tail_chunk(chunk: _Chunk, last_word_end: float, min_speech: float) -> _Chunk | None:
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
    return _Chunk(chunk.channel, chunk.samples[int(last_word_end * SAMPLE_RATE):], pieces)


def _window_features(model, chunk: _Chunk) -> np.ndarray:
    """The log-mel features of one window, padded to Whisper's 30 s."""
    from faster_whisper.audio import pad_or_trim

    return pad_or_trim(model.feature_extractor(chunk.samples)[..., :-1])


class _WindowEncoder:
    """The WhisperModel as faster-whisper's batched pipeline sees it, with the encoder and the word alignment
    run our way.

    On a CPU, CTranslate2's encoder and its word alignment cost more per window in a batch than alone (base,
    int8, 2 threads: encoder 0.72-0.76 s a window in a batch of 8, 0.63-0.67 s alone, scripts/bench_encoder.py;
    aligning the real call's first batch of 8 windows 1.8 s, one by one 1.0 s), so on a CPU only the beam
    search is batched. A window that language detection encoded is not encoded again when it is decoded.
    """

    def __init__(self, model) -> None:
        self._model = model
        self._kept: dict[bytes, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @property
    def _one_by_one(self) -> bool:
        return self._model.model.device == "cpu"  # a GPU encodes a batch faster than its windows in turn

    def encode_and_keep(self, features: np.ndarray):
        """Encode one window's features and keep the output for when that window is decoded."""
        output = self._model.encode(features)
        if self._one_by_one:
            self._kept[hashlib.sha1(features.tobytes()).digest()] = np.asarray(output)[0]
        return output

    def encode(self, features: np.ndarray):
        import ctranslate2

        if not self._one_by_one:
            return self._model.encode(features)
        rows = []
        for row in features.reshape(-1, *features.shape[-2:]):
            # Only the language probe's window is ever kept: no need to hash every window of every call.
            kept = self._kept.pop(hashlib.sha1(row.tobytes()).digest(), None) if self._kept else None
            rows.append(kept if kept is not None else np.asarray(self._model.encode(row))[0])
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(rows)))

    def find_alignment(self, tokenizer, text_tokens: list[list[int]], encoder_output, num_frames, median_filter_width: int = 7):
        import ctranslate2

        if not self._one_by_one:
            return self._model.find_alignment(tokenizer, text_tokens, encoder_output, num_frames, median_filter_width)
        rows = np.asarray(encoder_output)
        alignments = []
        for i, tokens in enumerate(text_tokens):
            if not tokens:
                alignments.append([])  # what faster-whisper gives a row with no text
                continue
            row = ctranslate2.StorageView.from_array(np.ascontiguousarray(rows[i : i + 1]))
            frames = num_frames[i] if isinstance(num_frames, list) else num_frames
            alignments += self._model.find_alignment(tokenizer, [tokens], row, [frames], median_filter_width)
        return alignments

    def add_word_timestamps(self, *args: Any, **kwargs: Any) -> float:
        from faster_whisper import WhisperModel

        # faster-whisper's own code, run with this object as ``self`` so that it aligns through find_alignment above
        return WhisperModel.add_word_timestamps(self, *args, **kwargs)  # type: ignore[arg-type]


def _detect_language(encoder: _WindowEncoder, chunks: list[_Chunk], opts: TranscribeOptions) -> tuple[str, float]:
    """Language probabilities, restricted to opts.languages, over the first chunk of each channel.

    Each probe costs an encoder pass, which the decoding of that window reuses; the second channel is
    heard only when the first leaves doubt (below ``language_confidence``).
    """
    scores: dict[str, float] = {}
    seen: set[int] = set()

    def pool() -> dict[str, float]:
        allowed = {k: v for k, v in scores.items() if not opts.languages or k in opts.languages}
        return allowed or scores

    def best(candidates: dict[str, float]) -> tuple[str, float]:
        lang = max(candidates, key=candidates.get)
        return lang, candidates[lang] / (sum(candidates.values()) or 1.0)

    for chunk in chunks:
        if chunk.channel in seen:
            continue
        seen.add(chunk.channel)
        encoder_output = encoder.encode_and_keep(_window_features(encoder, chunk))
        probs = [(token[2:-2], p) for token, p in encoder.model.detect_language(encoder_output)[0]]
        weight = chunk.metadata["duration"]
        for lang, p in probs:
            scores[lang] = scores.get(lang, 0.0) + p * weight
        if pool() and best(pool())[1] >= opts.language_confidence:
            break
    if not pool():
        return (opts.languages[0] if opts.languages else "en"), 0.0
    return best(pool())


def _decode_chunks(
    model: _WindowEncoder, spec: ModelSpec, chunks: list[_Chunk], language: str, opts: TranscribeOptions
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
        hotwords=None,
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
        feats = np.stack([_window_features(model, chunks[i]) for i in idx])
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
    chunks: list[_Chunk] = []
    for ch, (samples, ts) in enumerate(zip(audio.channels, regions)):
        chunks += pack_chunks(ch, samples, ts, opts.chunk_seconds, opts.region_gap)

    language = opts.language if opts.language not in ("", "auto", None) else None
    lang_prob = 1.0
    model_name = opts.model
    if language and language in opts.language_models:
        model_name = opts.language_models[language]
    model, spec = load_whisper(model_name, opts.device, opts.compute_type, opts.threads)
    encoder = _WindowEncoder(model)
    if chunks and language is None:
        if spec.multilingual:
            probe_chunks = [chunks[0]] + [c for c in chunks[1:] if c.channel != chunks[0].channel][:1]
            language, lang_prob = _detect_language(encoder, probe_chunks, opts)
            if language in opts.language_models and opts.language_models[language] != model_name:
                model_name = opts.language_models[language]
                model, spec = load_whisper(model_name, opts.device, opts.compute_type, opts.threads)
                encoder = _WindowEncoder(model)
        else:
            language = "en"
    language = language or (opts.languages[0] if opts.languages else "en")
    if not spec.multilingual and language != "en":
        raise ValueError(f"model {spec.name!r} is English-only; cannot transcribe language {language!r}")

    decoded = _decode_chunks(encoder, spec, chunks, language, opts) if chunks else {}
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
        again = _decode_chunks(encoder, spec, list(tails.values()), language, opts)
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
                if gate(turn, _compression_ratio(turn.raw_text), opts):
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
