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


@app.command()
def tone(
    audio: Annotated[Path, typer.Argument(help="Recording: wav, flac, mp3, ogg…")],
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    model: ModelOpt = None,
    layout: LayoutOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Agitation per speaker and segment, emotional flags, silences and overtalk of one recording."""
    from qa_pipeline.contracts import Call, to_dict
    from qa_pipeline.models import ModelError
    from qa_pipeline.sentiment import SentimentError
    from qa_pipeline.tone import analyze_tone
    from qa_pipeline.transcribe import transcribe_cached

    cfg = load_settings(config, model, language)
    clip = load_input(audio, cfg, agent_channel, layout)
    call = Call(call_id=audio.stem, audio_path=str(audio), sha256=clip.sha256, language=cfg.asr.language,
                layout=clip.layout)  # type: ignore[arg-type]
    try:
        transcript = transcribe_cached(clip, cfg.asr)
        result = analyze_tone(clip, transcript, call, cfg.tone)
    except (ModelError, SentimentError) as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None
    if as_json:
        payload = {"summary": result.summary, "findings": [to_dict(f) for f in result.findings]}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    s = result.summary
    out.print(f"# {audio} · {s['layout']} · {s['duration']:.1f} s · text model {s['sentiment_model']}", highlight=False)
    for speaker, info in s["speakers"].items():
        trend = info["trend"] or {}
        out.print(f"{speaker}: agitation {info['agitation']} · talk {info['talk_seconds']} s · trend "
                  f"{trend.get('start')} → {trend.get('end')} ({trend.get('direction', 'n/a')})", highlight=False)
    if s["talk_listen_ratio"] is not None:
        out.print(f"talk/listen (agent/caller): {s['talk_listen_ratio']}", highlight=False)
    for row in s["timeline"]:
        out.print(f"[{clock(row['start'])}-{clock(row['end'])}] {row['speaker']:7s} agitation {row['agitation']:.2f} "
                  f"(acoustic {row['acoustic'] if row['acoustic'] is not None else '-'}, text {row['text_negativity']:.2f}) "
                  f"{row['text']}", highlight=False, markup=False)
    for f in result.findings:
        out.print(f"FLAG {f.kind}/{f.rule_id} {f.speaker} [{clock(f.start)}-{clock(f.end)}] {f.evidence}",
                  highlight=False, markup=False)


@eval_app.command("tone")
def eval_tone(
    emotion_dir: Annotated[Path | None, typer.Option("--emotion-dir", help="EmoDB folder (labels.csv, wav/).")] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Sample calls (manifest.csv, labels.json).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acoustic AUC on emotion_de, text macro-F1 on the held-out split, flags on the sample calls."""
    import os

    from qa_pipeline import tone_eval

    cfg = load_settings(config)
    shared_data = Path(os.environ.get("QA_SHARED_DATA", Path.cwd().parent / "shared" / "data"))
    emotion_dir = emotion_dir or shared_data / "emotion_de"
    samples = samples or Path("recordings_sample")
    report: dict = {"text": tone_eval.eval_text(load_sentiment_or_fail(cfg.tone.sentiment_model, cfg.tone.text_threads))}
    if (emotion_dir / "labels.csv").exists():
        report["emotion_de"] = tone_eval.eval_emotion(emotion_dir, cfg.tone.prior_seconds)
    else:
        err.print(f"[yellow]note:[/yellow] {emotion_dir} absent: acoustic AUC skipped")
    if (samples / "labels.json").exists():
        report["samples"] = tone_eval.eval_samples(samples, cfg.tone, cfg.asr)
    else:
        err.print(f"[yellow]note:[/yellow] {samples}/labels.json absent: sample-call flags skipped")
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        return
    text = report["text"]
    out.print(f"text sentiment ({text['model']}), held-out macro-F1: "
              + ", ".join(f"{k} {v['macro_f1']:.3f} (n={v['n']})" for k, v in text.items() if k != "model"),
              highlight=False)
    if "emotion_de" in report:
        emo = report["emotion_de"]
        out.print(f"emotion_de: {emo['clips']} clips, {emo['speakers']} speakers, per-speaker baselines", highlight=False)
        out.print("| cues | AUC anger vs neutral | AUC high vs low arousal |\n|---|---|---|", highlight=False)
        for cues, row in emo["auc"].items():
            out.print(f"| {cues} | {row['anger_vs_neutral']:.3f} | {row['high_vs_low_arousal']:.3f} |", highlight=False)
    if "samples" in report:
        smp = report["samples"]
        rate = smp["compliant_flag_rate"]
        out.print(f"sample calls: tone events found {smp['events_found']}; unlabelled flags {smp['false_flags']}; "
                  f"compliant calls with an unlabelled flag: {'n/a' if rate is None else f'{100 * rate:.0f} %'}",
                  highlight=False)
        for row in smp["calls"]:
            out.print(f"  {row['call_id']:26s} compliant={row['compliant']!s:5s} expected="
                      f"{[(e['rule'], e['start'], e['end'], e['found']) for e in row['expected']]} "
                      f"flags={[(f['rule'], f['start'], f['end']) for f in row['flags']]} agitation={row['agitation']}",
                      highlight=False, markup=False)


def load_sentiment_or_fail(model_dir: str, threads: int = 1):
    from qa_pipeline.sentiment import SentimentError, load_sentiment

    try:
        return load_sentiment(model_dir, threads)
    except SentimentError as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None


@bench_app.command("tone")
def bench_tone(
    audio: Annotated[Path, typer.Argument(help="A call recording (default: the real stereo sample call).")] = Path(
        "recordings_sample/real_auto_repairs_40.flac"),
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tone-stage time vs transcription time of the same call (target: tone ≤ 10 %)."""
    from qa_pipeline import tone_eval
    from qa_pipeline.audio import AudioError

    cfg = load_settings(config)
    try:
        row = tone_eval.bench(audio, cfg.asr, cfg.tone)
    except AudioError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    if as_json:
        sys.stdout.write(json.dumps(row, indent=2) + "\n")
        return
    out.print(f"{row['audio']}: {row['duration']} s, {row['segments']} segments", highlight=False)
    out.print(f"transcribe: {row['transcribe_wall_s']} s wall, {row['transcribe_cpu_s']} s CPU", highlight=False)
    out.print(f"tone:       {row['tone_wall_s']} s wall, {row['tone_cpu_s']} s CPU "
              f"= {100 * row['tone_share_wall']:.1f} % of transcription (wall), {100 * row['tone_share_cpu']:.1f} % (CPU)",
              highlight=False)


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
