"""One call, end to end: audio in, CallResult out. Pure: no database, no global state
beyond per-process model caches, so the same function runs in-process, in a worker
process or as a Ray task."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.base.audio import Audio, load_audio
from qa_pipeline.base.e5 import e5_model
from qa_pipeline.base.models import load_whisper, resolve_model
from qa_pipeline.config import QAConfig, TranscribeOptions
from qa_pipeline.contracts import Call, CallResult, Finding, Roles, Transcript
from qa_pipeline.errors import ConfigError, ModelError
from qa_pipeline.stages.diarize import (
    diarize,
    embed_windows,
    settle_roles,
    settle_roles_by_turn,
    voice_leans,
    voices_apart,
)
from qa_pipeline.stages.pii.detect import detect_pii
from qa_pipeline.stages.rules.examples import example_transcript
from qa_pipeline.stages.rules.intents import call_intents
from qa_pipeline.stages.rules.matcher import build_streams
from qa_pipeline.stages.rules.pack import load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.roles import said_by_agent
from qa_pipeline.stages.rules.script import check_script
from qa_pipeline.stages.scoring import load_form, score_call
from qa_pipeline.stages.tone.acoustic import frame_features
from qa_pipeline.stages.tone.emotion import analyze_tone
from qa_pipeline.stages.tone.sentiment import load_sentiment
from qa_pipeline.stages.transcribe import transcribe_cached, transcribe_cached_many
from qa_pipeline.version import __version__


def asr_options(config: QAConfig, call: Call) -> TranscribeOptions:
    opts = config.asr
    if call.language and call.language != "auto" and opts.language in ("", "auto"):
        opts = dataclasses.replace(opts, language=call.language)
    return opts


def check_config(config: QAConfig, languages: tuple[str, ...] | None = None) -> None:
    """Stop a run before its first call when the configuration cannot serve it: the form, the rule packs of
    each language, every ASR model (known, placed and able to transcribe the languages asked of it), the
    sentiment model and the agent's voice sample. Raises ConfigError, RulePackError, FormError or ModelError.

    ``languages``: the languages the calls declare (a manifest's column); default: the configured ones."""
    load_form(config.form_path())
    asr = config.asr
    wanted = tuple(dict.fromkeys(languages or ((asr.language,) if asr.language not in ("", "auto") else asr.languages)))
    for lang in wanted:
        load_rule_pack(config.rule_paths(), lang)
        model = asr.language_models.get(lang, asr.model)
        spec = resolve_model(model)
        if not spec.multilingual and lang != "en":
            where = f"asr.language_models.{lang}" if lang in asr.language_models else "asr.model"
            raise ModelError(f"{config.source}: {where}: model {model!r} is English-only and cannot transcribe "
                             f"{lang!r}; set a multilingual model for it (asr.language_models: {{{lang}: base}})")
    if not wanted:
        resolve_model(asr.model)
    if config.tone.sentiment_model:
        load_sentiment(config.tone.sentiment_model, config.tone.text_threads)
    if config.diarization.agent_voice and not Path(config.diarization.agent_voice).is_file():
        raise ConfigError(config.source, "diarization.agent_voice", f"no such file: {config.diarization.agent_voice}")


def versions(config: QAConfig, language: str | None = None) -> dict[str, str]:
    """The versions that make a result reproducible; also the key for 'already processed'."""

    form = load_form(config.form_path())
    out = {
        "code": __version__,
        "asr": _asr_key(config),
        "form": f"{form.id}@{form.version}",
    }
    if config.assist:
        out["assist"] = ",".join(sorted(config.assist))
    for lang in ("zh", "en") if language is None else (language,):
        pack = load_rule_pack(config.rule_paths(), lang)
        out[f"rules_{lang}"] = pack.version
    return out


def _asr_key(config: QAConfig) -> str:

    blob = json.dumps(config.asr.key(), sort_keys=True)
    return f"{config.asr.model}:{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def warm_up(config: QAConfig, mono: bool = False) -> float:
    """Load, once per process, what every call needs (Whisper, the e5 embedder of the semantic rules and of
    text sentiment, rule packs and form) and let librosa's pitch tracker compile (numba), so that a worker's
    start-up is paid before its first call rather than inside that call's stage times. Returns seconds.

    ``mono``: the batch has mono calls, so load the diarizer's voice encoder too (torch and Resemblyzer, ~3 s
    and ~0.3 GB); a stereo-only batch never pays for them, and an undeclared mono call loads them when it
    comes. Failures are left for the first call to report with its path."""



    start = time.perf_counter()
    try:
        opts = config.asr
        load_whisper(opts.model, opts.device, opts.compute_type, opts.threads)
        e5_model(opts.threads or os.cpu_count() or 1)  # the worker's share of the cores, like CTranslate2
        load_sentiment(config.tone.sentiment_model, config.tone.text_threads).predict_proba(["warm up"])
        noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
        frame_features(noise, 16000, [(0.0, 1.0)])
        versions(config)
        for language, text in (("zh", "您好"), ("en", "hello")):  # compiles every phrase of the packs
            pack = load_rule_pack(config.rule_paths(), language)
            sample = example_transcript(text, "agent", language)
            probe = Call(call_id="warm_up", audio_path="")
            detect_phrases(sample, probe, pack)
            check_script(sample, probe, pack)
        if mono:
            import sklearn.cluster  # noqa: F401 - the clustering's import, 0.4 s


            embed_windows(noise, [0.0], config.diarization.window)
    except Exception:  # noqa: BLE001 - the call that needs the broken piece reports it
        pass
    return round(time.perf_counter() - start, 3)


def diarize_call(audio: Audio, transcript: Transcript, config: QAConfig) -> tuple[Transcript, Roles]:
    """A mono call's roles: the diarizer's two voices, then what each voice means by the rule pack's examples.

    The decision sits here, where both stages are at hand: ``diarize`` finds the voices and their phrase
    cues; the rules stage's classifier (trained on the pack's agent and caller sentences) says how much each
    segment sounds said by an agent; ``settle_roles`` weighs the two. Where the voices cannot be told apart, each
    turn is decided by what it says and by the turn structure (``settle_roles_by_turn``). A stereo call's roles
    are its channels."""
    if audio.layout != "mono":
        return transcript, Roles()
    diarized = diarize(audio, transcript, config.diarization)
    pack = load_rule_pack(config.rule_paths(), transcript.language)
    if voices_apart(diarized):
        return settle_roles(diarized, said_by_agent(diarized, pack), config.diarization)
    # One voice heard: each of Whisper's segments by what it says, how the turns follow each other, and the
    # weak lean of its windows to one of two groups.
    turns = dataclasses.replace(transcript, settings=diarized.settings)
    return settle_roles_by_turn(turns, said_by_agent(turns, pack), config.diarization,
                                voice_leans(audio.channels[0], turns.segments, config.diarization))


def analyze_call(call: Call, config: QAConfig, audio: Audio | None = None,
                 transcript: Transcript | None = None, roles: Roles | None = None) -> CallResult:
    """Run every stage on one call. Raises AudioError for unusable recordings.

    ``transcript``: a transcript to use instead of transcribing (a reference transcript, or a stored one with
    its roles swapped by a coach: its speaker roles as given, a mono call is not diarized). Rules, tone, PII
    and scoring run on it as on Whisper's. ``roles``: what to record about those given roles."""

    clock = _Clock()
    call, audio = _ingest(call, config, audio)
    clock.lap("ingest")
    given = transcript is not None
    if transcript is None:
        transcript = transcribe_cached(audio, asr_options(config, call))
    clock.lap("transcribe")
    if given:
        roles = roles or Roles(source="given")
    return _after_asr(call, config, audio, transcript, clock, diarize_mono=not given, roles=roles)


def analyze_calls(calls: list[Call], config: QAConfig) -> Iterator[tuple[Call, CallResult | Exception]]:
    """Every stage on several calls, their speech windows decoded together in batched beam searches (a batch
    of windows, not a call, is the unit of the decoder's work; ``transcribe_cached_many``). Yields each call
    with its result, or with the error that stopped it alone, as each is finished, in the order given."""
    loaded: list[tuple[Call, Audio | Exception, float]] = []
    for call in calls:
        started = time.perf_counter()
        try:
            call, audio = _ingest(call, config, None)
        except Exception as exc:  # noqa: BLE001 - this call's error, classified by the caller
            loaded.append((call, exc, 0.0))
            continue
        loaded.append((call, audio, time.perf_counter() - started))
    transcripts = iter(transcribe_cached_many([(audio, asr_options(config, call)) for call, audio, _ in loaded
                                               if not isinstance(audio, Exception)]))
    while loaded:
        call, audio, ingest_seconds = loaded.pop(0)
        if isinstance(audio, Exception):
            yield call, audio
            continue
        transcript, asr_seconds = next(transcripts)
        if isinstance(transcript, Exception):
            yield call, transcript
            continue
        clock = _Clock({"ingest": round(ingest_seconds, 4), "transcribe": round(asr_seconds, 4)})
        try:
            result = _after_asr(call, config, audio, transcript, clock, diarize_mono=True)
        except Exception as exc:  # noqa: BLE001
            yield call, exc
            continue
        del audio  # a finished call's samples go before the next call's stages run
        yield call, result


class _Clock:
    """Seconds per stage of one call."""

    def __init__(self, timings: dict[str, float] | None = None) -> None:
        self.timings = dict(timings or {})
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - self._last, 4)
        self._last = now


def _ingest(call: Call, config: QAConfig, audio: Audio | None) -> tuple[Call, Audio]:
    if audio is None:
        layout = call.layout if call.layout in ("stereo", "mono") else None
        audio = load_audio(call.audio_path, config.audio.max_seconds, call.agent_channel, layout)
    return dataclasses.replace(call, sha256=audio.sha256, layout=audio.layout), audio  # type: ignore[arg-type]


def _after_asr(call: Call, config: QAConfig, audio: Audio, transcript: Transcript, clock: _Clock,
               diarize_mono: bool, roles: Roles | None = None) -> CallResult:
    """The stages after transcription: diarization of a mono call, rules, tone, PII, the score."""
    if audio.layout == "mono" and diarize_mono:
        transcript, roles = diarize_call(audio, transcript, config)
        clock.lap("diarize")
    roles = roles or Roles()
    pack = load_rule_pack(config.rule_paths(), transcript.language)
    # Each speaker's tokens and classified sentences, built once and read by phrases and script steps alike.
    streams = build_streams(transcript, config.asr.vocabulary.get(transcript.language, ()))
    intents = call_intents(transcript, streams, pack)
    findings: list[Finding] = detect_phrases(transcript, call, pack, streams=streams, intents=intents)
    findings += check_script(transcript, call, pack, streams=streams, intents=intents)
    clock.lap("rules")
    tone = analyze_tone(audio, transcript, call, config.tone)
    findings += tone.findings
    clock.lap("tone")
    findings += detect_pii(transcript, call, config.privacy)
    clock.lap("pii")
    form = load_form(config.form_path())
    score = score_call(call, transcript, findings, form, frozenset(config.assist))
    clock.lap("score")
    result_versions = versions(config, transcript.language)
    result_versions["model_id"] = transcript.model_id
    return CallResult(
        call=call,
        transcript=transcript,
        findings=findings,
        tone=tone.summary,
        score=score,
        roles=roles,
        versions=result_versions,
        timings={**clock.timings, "audio_seconds": round(audio.duration, 3)},
    )


def summarize(result: CallResult) -> dict[str, Any]:
    """A short, human-facing view of a result (CLI, logs)."""
    return {
        "call_id": result.call.call_id,
        "language": result.transcript.language,
        "duration": result.transcript.duration,
        "score": result.score.total,
        "passed": result.score.passed,
        "auto_fail": result.score.auto_fail,
        "findings": len(result.findings),
    }
