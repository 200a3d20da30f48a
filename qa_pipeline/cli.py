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
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
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
              f"{transcript.model_id}", highlight=False, soft_wrap=True)
    for seg in transcript.segments:
        out.print(f"[{clock(seg.start)}-{clock(seg.end)}] {seg.speaker}: {seg.text}", highlight=False, markup=False)


def shared_data_dir(data: Path | None) -> Path | None:
    import os

    path = data or Path(os.environ.get("QA_SHARED_DATA") or Path.cwd().parent / "shared" / "data")
    return path if path.is_dir() else None


DataOpt = Annotated[Path | None, typer.Option("--data", help="Reference data (default: $QA_SHARED_DATA or ../shared/data).")]


@eval_app.command("asr")
def eval_asr(
    data: DataOpt = None,
    models: Annotated[list[str] | None, typer.Option("--model", help="Plain models to score (default: base, tiny.en).")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Score only clips whose id contains this.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """WER (English) and CER (Mandarin) of each model and of the default profile on ../shared/data."""
    from rich.table import Table

    from qa_pipeline.eval_asr import evaluate

    cfg = load_settings(config)
    data_dir = shared_data_dir(data)
    if data_dir is None:
        err.print("skipped: no reference data (../shared/data or $QA_SHARED_DATA is absent)")
        return
    report = evaluate(data_dir, cfg.asr, tuple(models or ("base", "tiny.en")), only)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    profiles = report.profiles()
    models_used = {p: sorted({c.model for c in report.clips if c.profile == p}) for p in profiles}
    table = Table(title=f"ASR error rates (WER en, CER zh) on {data_dir}")
    table.add_column("clip")
    table.add_column("lang")
    for p in profiles:
        table.add_column(p if p != "default" else f"default ({'/'.join(models_used[p])})", justify="right")
    by_key = {(c.profile, c.id): c for c in report.clips}
    for clip_id, lang in dict.fromkeys((c.id, c.language) for c in report.clips):
        table.add_row(clip_id, lang, *[f"{by_key[(p, clip_id)].rate:.1%}" if (p, clip_id) in by_key else "–"
                                       for p in profiles])
    table.add_section()
    for lang, label in (("en", "English WER"), ("zh", "Mandarin CER")):
        values = [report.aggregate(p, lang) for p in profiles]
        table.add_row(f"all: {label}", lang, *["–" if v is None else f"{v:.1%}" for v in values], style="bold")
        means = [report.mean_rate(p, lang) for p in profiles]
        table.add_row(f"mean per clip: {label}", lang, *["–" if v is None else f"{v:.1%}" for v in means])
    out.print(table)


@bench_app.command("transcribe")
def bench_transcribe(
    audio: Annotated[Path | None, typer.Argument(help="Stereo call (default: the real sample call).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for both runs.")] = 2,
    data: DataOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Time (a) this pipeline (no cache) and (b) plain faster-whisper on the same call mixed to mono."""
    import tempfile

    from qa_pipeline.audio import AudioError
    from qa_pipeline.bench_transcribe import bench_transcribe as run_bench
    from qa_pipeline.bench_transcribe import default_call

    cfg = load_settings(config)
    with tempfile.TemporaryDirectory() as tmp:
        if audio is None:
            data_dir = shared_data_dir(data)
            audio = default_call(Path(__file__).resolve().parents[1], data_dir or Path("/nonexistent"), Path(tmp))
            if audio is None:
                err.print("skipped: no sample call (recordings_sample/ or ../shared/data/calls_en is absent)")
                return
        try:
            result = run_bench(audio, cfg.asr, threads)
        except AudioError as exc:
            raise fail(str(exc), EXIT_BAD_INPUT) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"audio {result.audio} · {result.audio_seconds:.1f} s · model {result.model} · {threads} threads",
              highlight=False, soft_wrap=True)
    out.print(f"(a) qa pipeline, per speaker:   {result.pipeline_seconds:6.1f} s wall  RTF {result.pipeline_rtf:.3f}  "
              f"cpu {result.pipeline_cpu_seconds:.1f} s  {result.pipeline_words} words", highlight=False, soft_wrap=True)
    out.print(f"(b) faster-whisper, mono mix:   {result.plain_seconds:6.1f} s wall  RTF {result.plain_rtf:.3f}  "
              f"cpu {result.plain_cpu_seconds:.1f} s  {result.plain_words} words", highlight=False, soft_wrap=True)
    out.print(f"ratio (b)/(a): {result.ratio:.2f}   peak RSS {result.peak_rss_mb:.0f} MB", highlight=False, soft_wrap=True)


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
        out.print(f"{name}: {path} (sha256 verified)", highlight=False, soft_wrap=True)


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
        out.print(f"{r['name']:10s} {'placed' if r['placed'] else 'missing':8s} {r['path']}", highlight=False, soft_wrap=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
