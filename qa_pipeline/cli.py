"""The `qa` command: a thin face over the Python API. Parse, call, render.

Exit codes a cron job can trust:
  0 success · 1 internal error · 2 usage error · 3 bad input file · 4 bad configuration
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qa_pipeline import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_BAD_CONFIG = 0, 1, 2, 3, 4

app = typer.Typer(help="Offline speech quality assurance for call centres.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
models_app = typer.Typer(help="Offline models: place, verify, list.", no_args_is_help=True)
eval_app = typer.Typer(help="Accuracy evaluations that print numbers.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed benchmarks that print numbers.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")

out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="qa.yaml with asr/audio/... settings.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
LanguageOpt = Annotated[str | None, typer.Option("--language", help="auto | zh | en")]
AgentChannelOpt = Annotated[int | None, typer.Option("--agent-channel", help="Stereo channel of the agent: 0 or 1.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="base | tiny.en | a faster-whisper model path.")]
LayoutOpt = Annotated[str | None, typer.Option("--layout", help="stereo | mono (default: detect).")]


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def version_callback(value: bool) -> None:
    if value:
        out.print(f"qa_pipeline {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True)] = False,
) -> None:
    """qa: transcribe, check, score and review call recordings, offline."""


def load_settings(config: Path | None, model: str | None = None, language: str | None = None):
    from qa_pipeline.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None
    if model:
        cfg.asr.model = model
    if language:
        if language not in ("auto",) and len(language) > 3:
            raise fail(f"--language must be auto, zh, en or a Whisper code, not {language!r}", EXIT_USAGE)
        cfg.asr.language = language
    return cfg


def load_input(path: Path, cfg, agent_channel: int | None, layout: str | None):
    from qa_pipeline.audio import AudioError, load_audio

    if agent_channel not in (None, 0, 1):
        raise fail("--agent-channel must be 0 or 1", EXIT_USAGE)
    try:
        return load_audio(path, cfg.audio.max_seconds,
                          cfg.audio.agent_channel if agent_channel is None else agent_channel, layout)
    except AudioError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None


def clock(t: float) -> str:
    minutes, seconds = divmod(t, 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


@app.command()
def transcribe(
    audio: Annotated[Path, typer.Argument(help="Recording: wav, flac, mp3, ogg…")],
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    model: ModelOpt = None,
    layout: LayoutOpt = None,
    config: ConfigOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore and do not write the transcript cache.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe one recording; stereo channels become agent and caller."""
    from qa_pipeline.contracts import to_dict
    from qa_pipeline.models import ModelError
    from qa_pipeline.transcribe import transcribe_cached

    cfg = load_settings(config, model, language)
    clip = load_input(audio, cfg, agent_channel, layout)
    try:
        transcript = transcribe_cached(clip, cfg.asr, use_cache=not no_cache)
    except ModelError as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None
    if as_json:
        sys.stdout.write(json.dumps(to_dict(transcript), ensure_ascii=False, indent=2) + "\n")
        return
    for note in clip.notes:
        err.print(f"[yellow]note:[/yellow] {note}")
    out.print(f"# {audio} · {clip.layout} · {transcript.duration:.1f} s · language {transcript.language} · "
              f"{transcript.model_id}", highlight=False)
    for seg in transcript.segments:
        out.print(f"[{clock(seg.start)}-{clock(seg.end)}] {seg.speaker}: {seg.text}", highlight=False, markup=False)


def _shared_dir() -> Path:
    import os

    return Path(os.environ.get("QA_SHARED_DATA") or Path.cwd().parent / "shared" / "data")


SamplesOpt = Annotated[Path | None, typer.Option("--samples", help="Sample calls dir (manifest.csv, labels.json).")]


@eval_app.command("diarization")
def eval_diarization(
    samples: SamplesOpt = Path("recordings_sample"),
    config: ConfigOpt = None,
    mono_samples_only: Annotated[bool, typer.Option("--mono-samples-only", help="Skip mixing every stereo sample.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """DER on the real phone call; word role accuracy on stereo calls mixed to mono and mono samples."""
    import dataclasses

    from qa_pipeline.eval_mono import evaluate_diarization

    cfg = load_settings(config)
    report = evaluate_diarization(_shared_dir(), samples, cfg.asr, include_stereo_samples=not mono_samples_only)
    if as_json:
        sys.stdout.write(json.dumps(dataclasses.asdict(report), indent=2) + "\n")
        return
    for name, der in (("DER (frames)", report.der), ("DER (word turns)", report.der_words)):
        if der:
            out.print(f"{name} {der['file']}: {der['der']:.1%} (missed {der['missed']:.2f} s, false alarm "
                      f"{der['false_alarm']:.2f} s, confusion {der['confusion']:.2f} s of {der['total']:.2f} s; "
                      "collar 0.25 s)", highlight=False)
    for r in report.roles:
        acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        out.print(f"roles {r['call']}: {acc} of {r['words']} words ({r['unscored']} in overlap, not scored)",
                  highlight=False)


@eval_app.command("pii")
def eval_pii(
    samples: SamplesOpt = Path("recordings_sample"),
    config: ConfigOpt = None,
    work_dir: Annotated[Path | None, typer.Option("--work-dir", help="Where synthesized calls are written.")] = None,
    no_audio_check: Annotated[bool, typer.Option("--no-audio-check", help="Skip re-transcribing redacted audio.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """PII recall/precision on synthesized and sample calls and real recordings; digits left in redacted audio."""
    import tempfile

    from qa_pipeline.eval_mono import evaluate_pii, evaluate_pii_on_reference_text

    cfg = load_settings(config)
    text_only = evaluate_pii_on_reference_text(samples)
    out.print(f"detector on scripted text (no ASR): recall {text_only.recall:.3f} precision {text_only.precision:.3f} "
              f"(tp {text_only.true_positives}, fn {text_only.false_negatives}, fp {text_only.false_positives}; "
              f"type right {text_only.type_right})", highlight=False)
    for m in text_only.misses:
        out.print(f"  text: missed {m['type']} in {m['file']}", highlight=False, markup=False)
    for m in text_only.false_alarms:
        out.print(f"  text: false alarm {m['evidence']} in {m['file']}", highlight=False, markup=False)
    with tempfile.TemporaryDirectory() as tmp:
        report = evaluate_pii(_shared_dir(), samples, cfg.asr, work_dir or Path(tmp),
                              check_redacted_audio=not no_audio_check, pad=cfg.privacy.pad_seconds)
    if as_json:
        sys.stdout.write(json.dumps({"end_to_end": report.as_dict(), "reference_text": text_only.as_dict()},
                                    indent=2, ensure_ascii=False) + "\n")
        return
    for f in report.files:
        extra = f" · digits heard after redaction {f['digits_heard_after_redaction']}" if "digits_heard_after_redaction" in f else ""
        out.print(f"{f['file']}: {f['events']} labelled, {f['findings']} found, tp {f['tp']} fn {f['fn']} fp {f['fp']}{extra}",
                  highlight=False, markup=False)
    for m in report.misses:
        out.print(f"  missed {m['type']} in {m['file']} at {m['start']:.1f}-{m['end']:.1f} s", highlight=False, markup=False)
    for m in report.false_alarms:
        out.print(f"  false alarm {m['evidence']} in {m['file']} at {m['start']:.1f} s", highlight=False, markup=False)
    out.print(f"end to end (audio -> ASR -> detector): recall {report.recall:.3f} precision {report.precision:.3f} "
              f"(tp {report.true_positives}, fn {report.false_negatives}, fp {report.false_positives}); "
              f"digits heard in {report.redacted_spans_checked} redacted spans: {report.digits_heard_in_redacted_spans}",
              highlight=False)


@app.command()
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
    import numpy as np
    import soundfile as sf

    from qa_pipeline.contracts import Call, to_dict
    from qa_pipeline.diarize import diarize
    from qa_pipeline.pii import PIIOptions, detect_pii, redact_audio, redact_transcript
    from qa_pipeline.transcribe import transcribe_cached

    cfg = load_settings(config, None, language)
    mode = mode or cfg.privacy.audio_mode
    if mode not in ("tone", "silence"):
        raise fail(f"--mode must be tone or silence, not {mode!r}", EXIT_USAGE)
    clip = load_input(audio, cfg, agent_channel, layout)
    transcript = diarize(clip, transcribe_cached(clip, cfg.asr))
    call = Call(call_id=audio.stem, audio_path=str(audio), sha256=clip.sha256, layout=clip.layout)  # type: ignore[arg-type]
    findings = detect_pii(transcript, call, PIIOptions(min_digits=cfg.privacy.min_digits, pad=cfg.privacy.pad_seconds))
    redacted = redact_transcript(transcript, findings)
    channels = redact_audio(clip, findings, mode, cfg.privacy.pad_seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{audio.stem}.redacted.json"
    wav_path = out_dir / f"{audio.stem}.redacted.wav"
    findings_out = [to_dict(f) for f in findings]
    json_path.write_text(json.dumps({"transcript": to_dict(redacted), "findings": findings_out},
                                    ensure_ascii=False, indent=2), encoding="utf-8")
    sf.write(str(wav_path), np.stack(channels, axis=1), clip.rate, subtype="PCM_16")
    if as_json:
        sys.stdout.write(json.dumps({"transcript": str(json_path), "audio": str(wav_path),
                                     "findings": findings_out}, ensure_ascii=False, indent=2) + "\n")
        return
    for f in findings:
        out.print(f"[{clock(f.start)}-{clock(f.end)}] {f.speaker}: {f.rule_id} {f.evidence}", highlight=False, markup=False)
    out.print(f"{len(findings)} redacted · {json_path} · {wav_path} ({mode})", highlight=False)


@models_app.command("install")
def models_install(
    names: Annotated[list[str] | None, typer.Argument(help="Models to place (default: all in the manifest).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-assemble and re-verify.")] = False,
) -> None:
    """Place the offline models under models/ and verify their sha256."""
    from qa_pipeline.models import ModelError, install_model, known_models

    for name in names or known_models():
        try:
            path = install_model(name, force=force)
        except ModelError as exc:
            raise fail(str(exc), EXIT_BAD_CONFIG) from None
        out.print(f"{name}: {path} (sha256 verified)", highlight=False)


@models_app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """List the manifest's models and whether they are placed."""
    from qa_pipeline.models import load_manifest, models_dir

    rows = []
    for name, entry in load_manifest()["whisper"].items():
        path = models_dir() / entry["dir"]
        rows.append({"name": name, "path": str(path), "placed": (path / "model.bin").exists(),
                     "multilingual": entry["multilingual"], "licence": entry["licence"]})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for r in rows:
        out.print(f"{r['name']:10s} {'placed' if r['placed'] else 'missing':8s} {r['path']}", highlight=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
