"""One recording at a time: `qa transcribe`, `qa analyze`, `qa tone`, `qa redact`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import soundfile as sf
import typer

import qa_pipeline as qa
from qa_pipeline.cli.common import (
    AgentChannelOpt,
    ConfigOpt,
    JsonOpt,
    LanguageOpt,
    LayoutOpt,
    ModelOpt,
    RulesOpt,
    clock,
    err,
    fail,
    load_input,
    load_settings,
    out,
    write_json,
)
from qa_pipeline.errors import EXIT_USAGE

AudioArg = Annotated[Path, typer.Argument(help="Recording: wav, flac, mp3, ogg…")]


def transcribe(
    audio: AudioArg,
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    model: ModelOpt = None,
    layout: LayoutOpt = None,
    config: ConfigOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore and do not write the transcript cache.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe one recording; stereo channels become agent and caller."""
    cfg = load_settings(config, model, language)
    clip = load_input(audio, cfg, agent_channel, layout)
    transcript = qa.transcribe(clip, cfg.asr, use_cache=not no_cache)
    if as_json:
        write_json(qa.to_dict(transcript))
        return
    for note in clip.notes:
        err.print(f"[yellow]note:[/yellow] {note}")
    out.print(f"# {audio} · {clip.layout} · {transcript.duration:.1f} s · language {transcript.language} · "
              f"{transcript.model_id}", highlight=False, soft_wrap=True)
    for seg in transcript.segments:
        out.print(f"[{clock(seg.start)}-{clock(seg.end)}] {seg.speaker}: {seg.text}", highlight=False, markup=False)


def analyze(
    audio: AudioArg,
    rules: RulesOpt = None,
    call_type: Annotated[str, typer.Option("--call-type", help="Selects the script steps (default: default).")] = "default",
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    model: ModelOpt = None,
    layout: LayoutOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One call end to end: transcript, banned phrases, script steps, tone, personal data, score."""
    cfg = load_settings(config, model, language)
    if rules:
        cfg.rules = [str(p.resolve()) for p in rules]
    if agent_channel not in (None, 0, 1):
        raise fail("--agent-channel must be 0 or 1", EXIT_USAGE)
    qa.check_config(cfg)
    channel = cfg.audio.agent_channel if agent_channel is None else agent_channel
    call = qa.Call(call_id=audio.stem, audio_path=str(audio.resolve()), language=cfg.asr.language, layout=layout or "",  # type: ignore[arg-type]
                   agent_channel=channel, caller_channel=1 - channel, call_type=call_type)
    result = qa.analyze_call(call, cfg)
    rule_version = next((v for k, v in result.versions.items() if k.startswith("rules_")), "")
    if as_json:
        write_json({**qa.to_dict(result), "rule_version": rule_version})
        return
    score = result.score
    out.print(f"# {audio} · {result.call.layout} · {result.transcript.duration:.1f} s · language "
              f"{result.transcript.language} · rules {rule_version} · score {score.total} "
              f"({'pass' if score.passed else 'FAIL'}{', AUTO-FAIL' if score.auto_fail else ''})",
              highlight=False, soft_wrap=True)
    for f in sorted(result.findings, key=lambda f: f.start):
        what = f.status if f.kind == "script_step" else f.category or f.severity
        out.print(f"[{clock(f.start)}-{clock(f.end)}] {f.kind:13s} {f.rule_id:22s} {what or '':10s} {f.speaker:7s} "
                  f"{f.confidence:.2f}  {f.evidence}", highlight=False, markup=False, soft_wrap=True)
    for speaker, info in result.tone.speakers.items():
        out.print(f"tone {speaker}: agitation {info.agitation} · trend {info.trend.direction if info.trend else 'n/a'}",
                  highlight=False)


def tone(
    audio: AudioArg,
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    model: ModelOpt = None,
    layout: LayoutOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Agitation per speaker and segment, emotional flags, silences and overtalk of one recording."""
    cfg = load_settings(config, model, language)
    clip = load_input(audio, cfg, agent_channel, layout)
    call = qa.Call(call_id=audio.stem, audio_path=str(audio), sha256=clip.sha256, language=cfg.asr.language,
                   layout=clip.layout)  # type: ignore[arg-type]
    result = qa.analyze_tone(clip, qa.transcribe(clip, cfg.asr), call, cfg.tone)
    if as_json:
        write_json({"summary": qa.to_dict(result.summary), "findings": [qa.to_dict(f) for f in result.findings]})
        return
    s = result.summary
    out.print(f"# {audio} · {s.layout} · {s.duration:.1f} s · text model {s.sentiment_model}", highlight=False)
    for speaker, info in s.speakers.items():
        trend = info.trend
        out.print(f"{speaker}: agitation {info.agitation} · talk {info.talk_seconds} s · trend "
                  f"{trend.start if trend else None} → {trend.end if trend else None} "
                  f"({trend.direction if trend else 'n/a'})", highlight=False)
    if s.talk_listen_ratio is not None:
        out.print(f"talk/listen (agent/caller): {s.talk_listen_ratio}", highlight=False)
    for row in s.timeline:
        out.print(f"[{clock(row.start)}-{clock(row.end)}] {row.speaker:7s} agitation {row.agitation:.2f} "
                  f"(acoustic {row.acoustic if row.acoustic is not None else '-'}, text {row.text_negativity:.2f}) "
                  f"{row.text}", highlight=False, markup=False)
    for f in result.findings:
        out.print(f"FLAG {f.kind}/{f.rule_id} {f.speaker} [{clock(f.start)}-{clock(f.end)}] {f.evidence}",
                  highlight=False, markup=False)


def redact(
    audio: Annotated[Path, typer.Argument(help="Recording to redact.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for <name>.redacted.json and .wav.")],
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    layout: LayoutOpt = None,
    mode: Annotated[str | None, typer.Option("--mode", help="tone | silence (default: config privacy.audio_mode).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe (diarizing a mono call), find personal data, write a redacted transcript and audio."""
    cfg = load_settings(config, None, language)
    mode = mode or cfg.privacy.audio_mode
    if mode not in ("tone", "silence"):
        raise fail(f"--mode must be tone or silence, not {mode!r}", EXIT_USAGE)
    clip = load_input(audio, cfg, agent_channel, layout)
    transcript, _ = qa.diarize_call(clip, qa.transcribe(clip, cfg.asr), cfg)
    call = qa.Call(call_id=audio.stem, audio_path=str(audio), sha256=clip.sha256, layout=clip.layout)  # type: ignore[arg-type]
    findings = qa.detect_pii(transcript, call, cfg.privacy)
    redacted = qa.redact_transcript(transcript, findings, cfg.privacy)
    channels = qa.redact_audio(clip, qa.masked_numbers(transcript, call, cfg.privacy), mode, cfg.privacy.pad_seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{audio.stem}.redacted.json"
    wav_path = out_dir / f"{audio.stem}.redacted.wav"
    findings_out = [qa.to_dict(f) for f in findings]
    json_path.write_text(json.dumps({"transcript": qa.to_dict(redacted), "findings": findings_out},
                                    ensure_ascii=False, indent=2), encoding="utf-8")
    sf.write(str(wav_path), np.stack(channels, axis=1), clip.rate, subtype="PCM_16")
    if as_json:
        write_json({"transcript": str(json_path), "audio": str(wav_path), "findings": findings_out})
        return
    for f in findings:
        out.print(f"[{clock(f.start)}-{clock(f.end)}] {f.speaker}: {f.rule_id} {f.evidence}", highlight=False, markup=False)
    out.print(f"{len(findings)} redacted · {json_path} · {wav_path} ({mode})", highlight=False)
