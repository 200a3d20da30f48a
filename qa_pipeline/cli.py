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
rules_app = typer.Typer(help="Rule packs: validate and run their examples.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

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
              f"{transcript.model_id}", highlight=False)
    for seg in transcript.segments:
        out.print(f"[{clock(seg.start)}-{clock(seg.end)}] {seg.speaker}: {seg.text}", highlight=False, markup=False)


RulesOpt = Annotated[list[Path] | None, typer.Option("--rules", help="A team's rule pack file or folder (repeatable); "
                                                 "overrides/extends the defaults.")]


def load_pack(rules: list[Path] | None, language: str):
    from qa_pipeline.rules import RulePackError, load_rule_pack

    try:
        return load_rule_pack(rules, language)
    except RulePackError as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None


@app.command()
def analyze(
    audio: Annotated[Path, typer.Argument(help="Recording: wav, flac, mp3, ogg…")],
    rules: RulesOpt = None,
    call_type: Annotated[str, typer.Option("--call-type", help="Selects the script steps (default: default).")] = "default",
    language: LanguageOpt = None,
    agent_channel: AgentChannelOpt = None,
    model: ModelOpt = None,
    layout: LayoutOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe one call and check its banned phrases, escalations and script steps."""
    from qa_pipeline.contracts import Call, to_dict
    from qa_pipeline.models import ModelError
    from qa_pipeline.script import analyze_rules
    from qa_pipeline.transcribe import transcribe_cached

    cfg = load_settings(config, model, language)
    clip = load_input(audio, cfg, agent_channel, layout)
    try:
        transcript = transcribe_cached(clip, cfg.asr)
    except ModelError as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None
    pack = load_pack(rules, transcript.language)
    call = Call(call_id=audio.stem, audio_path=str(audio), sha256=clip.sha256, language=transcript.language,
                layout=clip.layout, call_type=call_type)  # type: ignore[arg-type]
    findings = analyze_rules(transcript, call, pack)
    if as_json:
        payload = {"call": to_dict(call), "rule_version": pack.version, "transcript": to_dict(transcript),
                   "findings": [to_dict(f) for f in findings]}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"# {audio} · {transcript.duration:.1f} s · language {transcript.language} · rules {pack.version}",
              highlight=False, soft_wrap=True)
    for f in findings:
        what = f.details.get("status", "") if f.kind == "script_step" else f.details.get("category", "")
        out.print(f"[{clock(f.start)}-{clock(f.end)}] {f.kind:13s} {f.rule_id:22s} {what:10s} {f.speaker:7s} "
                  f"{f.confidence:.2f}  {f.evidence}", highlight=False, markup=False, soft_wrap=True)


@rules_app.command("check")
def rules_check(
    paths: Annotated[list[Path], typer.Argument(help="Rule pack files or folders.")],
    language: Annotated[str, typer.Option("--language", help="zh | en: the defaults they extend.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Validate a rule pack (with the defaults under it) and run every example; non-zero exit on any error."""
    from qa_pipeline.phrases import check_rule_examples
    from qa_pipeline.rules import RulePackError, pack_files, read_pack_file
    from qa_pipeline.script import check_step_examples

    languages = [language] if language else []
    if not languages:
        try:
            for path in pack_files(paths, "zh")[len(pack_files(None, "zh")):]:
                lang = read_pack_file(path)["language"]
                languages += [lang] if lang and lang not in languages else []
        except RulePackError as exc:
            raise fail(str(exc), EXIT_BAD_CONFIG) from None
    report = []
    for lang in languages or ["zh", "en"]:
        pack = load_pack(paths, lang)
        failures = check_rule_examples(pack) + check_step_examples(pack)
        n_examples = sum(len(x.examples.positive) + len(x.examples.negative)
                         for x in [*pack.rules.values(), *pack.steps.values()])
        report.append({"language": lang, "version": pack.version, "files": pack.files, "rules": len(pack.rules),
                       "steps": len(pack.steps), "examples": n_examples, "failures": [str(f) for f in failures]})
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        for r in report:
            out.print(f"{r['language']}: {r['rules']} rules, {r['steps']} steps, {r['examples']} examples, "
                      f"{len(r['failures'])} failing · {r['version']}", highlight=False, soft_wrap=True)
            for f in r["failures"]:
                err.print(f"  {f}", highlight=False, markup=False, soft_wrap=True)
    if any(r["failures"] for r in report):
        raise typer.Exit(EXIT_BAD_CONFIG)


@eval_app.command("rules")
def eval_rules(
    samples: Annotated[Path, typer.Option("--samples", help="Folder with manifest.csv and labels.json.")] = Path("recordings_sample"),
    rules: RulesOpt = None,
    model: Annotated[str, typer.Option("--model", help="Whisper model whose transcripts are evaluated.")] = "base",
    as_json: JsonOpt = False,
) -> None:
    """Precision/recall of banned and escalation phrases (per tier, vs exact-match baseline) and script steps."""
    from qa_pipeline.contracts import to_dict
    from qa_pipeline.rules_eval import render, run

    if not (samples / "labels.json").exists():
        raise fail(f"{samples}: no labels.json (run scripts/make_samples.py)", EXIT_BAD_INPUT)
    report = run(samples, model, rules)
    if as_json:
        sys.stdout.write(json.dumps(to_dict(report), ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(render(report), highlight=False, markup=False, soft_wrap=True)


@bench_app.command("rules")
def bench_rules(
    n_rules: Annotated[int, typer.Option("--rules", help="Number of phrase rules.")] = 500,
    hours: Annotated[float, typer.Option("--hours", help="Length of the synthetic transcript.")] = 1.0,
    language: Annotated[str, typer.Option("--language", help="zh | en")] = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Time phrase matching: N rules over an H-hour two-speaker transcript (built from the defaults' examples)."""
    from qa_pipeline.rules_bench import bench

    result = bench(n_rules, hours, language)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    for key, value in result.items():
        out.print(f"{key:28s} {value}", highlight=False)


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
