"""The `qa` command: a thin face over the Python API. Parse, call, render.

Exit codes a cron job can trust:
  0 success · 1 internal error · 2 usage error · 3 bad input file · 4 bad configuration
"""

from __future__ import annotations

import json
import os
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
queue_app = typer.Typer(help="The review queue: list, claim, show, release.", no_args_is_help=True)
review_app = typer.Typer(help="Coach reviews.", no_args_is_help=True)
dispute_app = typer.Typer(help="Agents dispute reviews; QA leads resolve.", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
app.add_typer(review_app, name="review")
app.add_typer(dispute_app, name="dispute")
app.add_typer(users_app, name="users")
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
    from qa_pipeline.base.audio import AudioError, load_audio

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
    from qa_pipeline.base.models import ModelError
    from qa_pipeline.contracts import to_dict
    from qa_pipeline.stages.transcribe import transcribe_cached

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

    from qa_pipeline.eval.mono import evaluate_diarization

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


def _print_pii_text_only(text_only) -> None:
    out.print(f"detector on scripted text (no ASR): recall {text_only.recall:.3f} precision {text_only.precision:.3f} "
              f"(tp {text_only.true_positives}, fn {text_only.false_negatives}, fp {text_only.false_positives}; "
              f"type right {text_only.type_right})", highlight=False)
    for m in text_only.misses:
        out.print(f"  text: missed {m['type']} in {m['file']}", highlight=False, markup=False)
    for m in text_only.false_alarms:
        out.print(f"  text: false alarm {m['evidence']} in {m['file']}", highlight=False, markup=False)


@eval_app.command("pii")
def eval_pii(
    samples: SamplesOpt = Path("recordings_sample"),
    config: ConfigOpt = None,
    no_audio_check: Annotated[bool, typer.Option("--no-audio-check", help="Skip re-transcribing redacted audio.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """PII recall/precision on synthesized and sample calls and real recordings; digits left in redacted audio."""
    from qa_pipeline.eval.mono import evaluate_pii, evaluate_pii_on_reference_text

    cfg = load_settings(config)
    text_only = evaluate_pii_on_reference_text(samples)
    if not as_json:
        _print_pii_text_only(text_only)
    report = evaluate_pii(_shared_dir(), samples, cfg.asr, check_redacted_audio=not no_audio_check,
                          pad=cfg.privacy.pad_seconds)
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
    from qa_pipeline.stages.diarize import diarize
    from qa_pipeline.stages.pii.detect import PIIOptions, detect_pii, redact_audio, redact_transcript
    from qa_pipeline.stages.transcribe import transcribe_cached

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
@app.command()
def nightly(
    source: Annotated[Path, typer.Argument(help="Folder of recordings (uses its manifest.csv if present) or a manifest CSV.")],
    db: Annotated[Path, typer.Option("--db", help="SQLite database (created if missing).")] = Path("qa.db"),
    config: ConfigOpt = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes; cores are shared among them.")] = 1,
    executor: Annotated[str, typer.Option("--executor", help="local | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster address (default: start a local one).")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", help="Regex with named groups agent_id, started_at, call_id, team for folders without manifest.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Process at most N calls.")] = None,
    reprocess: Annotated[bool, typer.Option("--reprocess", help="Re-run calls already processed with the same versions (adds no duplicates).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; only errors and the summary line (for cron).")] = False,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Where the JSON-lines run log goes (default: qa_logs/ beside the database).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Process a night's recordings into the database and rebuild the review queue.

    Exit status: 0 all done · 3 some recordings failed (quarantined) · 1 the run failed ·
    4 bad configuration or manifest · 75 another run holds the database.
    """
    import logging
    import time as _time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from qa_pipeline.batch.nightly import (
        EXIT_BAD_CONFIG as B_CONFIG,
    )
    from qa_pipeline.batch.nightly import (
        EXIT_LOCKED,
        EXIT_RUN_FAILED,
        BatchError,
        BatchOptions,
        LockedError,
        run_nightly,
    )

    cfg = load_settings(config)
    logs = log_dir or db.resolve().parent / "qa_logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"nightly-{_time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.jsonl"
    log_fh = open(log_path, "a", encoding="utf-8")

    def log_event(event: str, data: dict) -> None:
        log_fh.write(json.dumps({"time": _time.strftime("%Y-%m-%dT%H:%M:%S"), "event": event, **data}, ensure_ascii=False) + "\n")
        log_fh.flush()

    progress = None if quiet or as_json else Progress(
        TextColumn("[bold]nightly"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(), console=err, transient=False,
    )
    task = None

    def on_event(event: str, data: dict) -> None:
        nonlocal task
        log_event(event, data)
        if event == "call_failed" and not as_json:
            err.print(f"[yellow]quarantined[/yellow] {data['path']}: {data['reason']}", highlight=False, markup=True)
        if progress is None:
            return
        if event == "start":
            task = progress.add_task("calls", total=data["total"], stats="")
        elif event in ("call_done", "call_failed") and task is not None:
            stats = ""
            if event == "call_done":
                hours = data["audio_total"] / 3600
                rtf = data["elapsed"] / data["audio_total"] if data["audio_total"] else 0
                stats = f"{hours:.2f} h audio · RTF {rtf:.3f}"
            progress.update(task, advance=1, **({"stats": stats} if stats else {}))

    options = BatchOptions(workers=workers, executor=executor, ray_address=ray_address,
                           limit=limit, reprocess=reprocess, **({"pattern": pattern} if pattern else {}))
    logging.basicConfig(level=logging.WARNING)
    try:
        if progress:
            progress.start()
        summary = run_nightly(source, db, cfg, options, on_event)
    except LockedError as exc:
        raise fail(str(exc), EXIT_LOCKED) from None
    except BatchError as exc:
        raise fail(str(exc), B_CONFIG) from None
    except Exception as exc:
        log_event("run_failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise fail(f"run failed: {type(exc).__name__}: {exc} (log: {log_path})", EXIT_RUN_FAILED) from None
    finally:
        if progress:
            progress.stop()
    log_event("summary", summary.to_dict())
    log_fh.close()
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(
            f"run {summary.run_id}: {summary.status} · {summary.processed} processed, {summary.skipped} skipped, "
            f"{summary.failed} failed · {summary.audio_hours:.2f} h audio in {summary.wall_seconds:.0f} s "
            f"(RTF {summary.rtf:.3f}) · {summary.flagged_calls} flagged, {summary.auto_fail_calls} auto-fail · log {log_path}",
            highlight=False,
        )
        for f in summary.failures:
            out.print(f"  failed: {f.path}: {f.reason} {f.detail}", highlight=False, markup=False)
    raise typer.Exit(summary.exit_code)


@bench_app.command("nightly")
def bench_nightly_cmd(
    source: Annotated[Path, typer.Argument(help="Folder or manifest, as for qa nightly.")] = Path("recordings_sample"),
    workers: Annotated[list[int] | None, typer.Option("--workers", help="Worker counts to compare (repeatable).")] = None,
    plain: Annotated[bool, typer.Option("--plain/--no-plain", help="Also time plain faster-whisper on the same audio.")] = True,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wall time per stage, end-to-end RTF and peak RSS of the pipeline vs plain faster-whisper."""
    from rich.table import Table

    from qa_pipeline.eval.bench_nightly import bench_nightly

    cfg = load_settings(config)
    result = bench_nightly(source, cfg, workers or [1, 2], plain)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"qa bench nightly · {source} · model {result['model']} {result['compute_type']} · {result['cores']} cores")
    for col in ("run", "calls", "audio s", "wall s", "RTF", "non-ASR / stages", "non-ASR / wall", "vs plain", "peak PSS MB (tree)",
                "peak RSS MB (1 process)"):
        table.add_column(col, justify="right")
    for r in result["pipeline"]:
        table.add_row(f"pipeline, {r['workers']} worker(s) × {r['threads_per_worker']} threads", str(r["calls"]),
                      f"{r['audio_seconds']:.0f}", f"{r['wall_seconds']:.1f}", f"{r['rtf']:.3f}",
                      f"{r['non_asr_share']:.1%}", f"{r['non_asr_share_of_wall']:.1%}", f"{r.get('speedup_vs_plain', 0):.2f}×", f"{r['peak_rss_mb']:.0f}",
                      f"{r['peak_rss_one_process_mb']:.0f}")
    if "plain_faster_whisper" in result:
        p = result["plain_faster_whisper"]
        table.add_row(f"plain faster-whisper, mono mix, {p['threads']} threads", str(p["calls"]), f"{p['audio_seconds']:.0f}",
                      f"{p['wall_seconds']:.1f}", f"{p['rtf']:.3f}", "", "", "1.00×", f"{p['peak_rss_mb']:.0f}",
                      f"{p['peak_rss_one_process_mb']:.0f}")
    out.print(table)
    for r in result["pipeline"]:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stage_seconds"].items())
        out.print(f"stages ({r['workers']} worker(s), summed over calls): {stages}", highlight=False)


DbOpt = Annotated[Path, typer.Option("--db", help="SQLite database.")]
UserOpt = Annotated[str, typer.Option("--user", help="Who is acting (a user added with `qa users add`).")]


def open_store(db: Path, must_exist: bool = True):
    from qa_pipeline.store.db import Store

    if must_exist and not db.exists():
        raise fail(f"{db}: no such database (run `qa nightly ... --db {db}` first)", EXIT_USAGE)
    return Store(db)


def emit(data, as_json: bool, render) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render(data)


def _human_errors(fn):
    """Turn our typed errors into a message and exit code 2 instead of a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from qa_pipeline.store.review import ReviewError

        try:
            return fn(*args, **kwargs)
        except ReviewError as exc:
            raise fail(str(exc), EXIT_USAGE) from None

    return wrapper


@queue_app.command("list")
def queue_list(db: DbOpt = Path("qa.db"), team: Annotated[str | None, typer.Option()] = None,
               agent: Annotated[str | None, typer.Option()] = None,
               kind: Annotated[str | None, typer.Option(help="Only calls with a finding of this kind.")] = None,
               week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W47.")] = None,
               status: Annotated[str, typer.Option(help="open | done")] = "open",
               limit: Annotated[int, typer.Option()] = 50, as_json: JsonOpt = False) -> None:
    """Queue items by priority (risk first, then the random sample and exemplary calls)."""
    from qa_pipeline.store.queue import list_queue

    rows = list_queue(open_store(db), status, team, agent, kind, week, limit)

    def render(items):
        for r in items:
            claimed = f" [claimed by {r['claimed_by']}]" if r["claimed_by"] else ""
            out.print(f"{r['priority']:6.1f}  {r['call_id']:28s} {r['agent_id'] or '-':10s} {r['team'] or '-':8s} "
                      f"{r['week'] or '-':9s} {r['reason']}{claimed}", highlight=False, markup=False)
    emit(rows, as_json, render)


@queue_app.command("claim")
def queue_claim(db: DbOpt = Path("qa.db"), user: UserOpt = "", call_id: Annotated[str | None, typer.Argument()] = None,
                ttl_minutes: Annotated[float | None, typer.Option(help="Claim expires after this long.")] = None,
                as_json: JsonOpt = False) -> None:
    """Claim the highest-priority open item (or CALL_ID). Two coaches never get the same item."""
    from qa_pipeline.store.queue import claim
    from qa_pipeline.store.review import ReviewError, require_role

    store = open_store(db)
    try:
        require_role(store, user, "coach", "qa_lead")
    except ReviewError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    item = claim(store, user, call_id, ttl_minutes)
    if item is None:
        raise fail("nothing to claim", 1) if not as_json else typer.Exit(1)
    emit(item, as_json, lambda r: out.print(f"claimed {r['call_id']} (priority {r['priority']}): {r['reason']}", highlight=False))


@queue_app.command("release")
def queue_release(call_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "") -> None:
    """Give a claimed item back to the queue."""
    from qa_pipeline.store.queue import release

    if not release(open_store(db), user, call_id):
        raise fail(f"{call_id} is not claimed by {user}", 1)
    out.print(f"released {call_id}")


@queue_app.command("show")
def queue_show(call_id: str, db: DbOpt = Path("qa.db"), as_json: JsonOpt = False) -> None:
    """A call's transcript, findings (with keys for verdicts), score and latest review."""
    from qa_pipeline.store.review import latest_review

    store = open_store(db)
    call = store.call(call_id)
    if call is None:
        raise fail(f"no call {call_id!r}", EXIT_USAGE)
    result = store.current_result(call_id)
    data = {"call": call, "findings": store.findings(call_id), "score": result.score if result else None,
            "segments": [{"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text}
                         for s in (result.transcript.segments if result else [])],
            "review": latest_review(store, call_id)}

    def render(d):
        c = d["call"]
        out.print(f"# {c['call_id']} · agent {c['agent_id']} · team {c['team']} · {c['started_at']} · "
                  f"score {d['score'] and d['score'].get('total')}", highlight=False, markup=False)
        for f in d["findings"]:
            if f["kind"] == "script_step" and f["status"] == "pass":
                continue
            out.print(f"  [{clock(f['start'])}] {f['finding_key']} {f['kind']}/{f['rule_id']} {f['speaker']}: "
                      f"{f['evidence']} ({f['status'] or f['severity']})", highlight=False, markup=False)
        for s in d["segments"]:
            out.print(f"[{clock(s['start'])}-{clock(s['end'])}] {s['speaker']}: {s['text']}", highlight=False, markup=False)
        if d["review"]:
            out.print(f"review by {d['review']['reviewer']}: {d['review']['verdicts']} {d['review']['notes']}",
                      highlight=False, markup=False)
    emit(data, as_json, render)


@review_app.command("submit")
@_human_errors
def review_submit(
    call_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
    confirm: Annotated[list[str] | None, typer.Option("--confirm", help="Finding key or rule id to confirm (repeatable).")] = None,
    reject: Annotated[list[str] | None, typer.Option("--reject", help="Finding key or rule id to reject (repeatable).")] = None,
    score: Annotated[list[str] | None, typer.Option("--score", help="Human score per criterion, CRITERION=POINTS.")] = None,
    notes: Annotated[str, typer.Option()] = "", coaching: Annotated[str, typer.Option("--coaching", help="Coaching action.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record a review: per-finding confirm/reject, human scores, notes, coaching action."""
    from qa_pipeline.store.review import submit_review

    verdicts = {k: "confirm" for k in confirm or []} | {k: "reject" for k in reject or []}
    scores = {}
    for item in score or []:
        key, _, value = item.partition("=")
        try:
            scores[key] = float(value)
        except ValueError:
            raise fail(f"--score must be CRITERION=POINTS, not {item!r}", EXIT_USAGE) from None
    review_id = submit_review(open_store(db), user, call_id, verdicts, scores, notes, coaching)
    emit({"review_id": review_id}, as_json, lambda d: out.print(f"review {d['review_id']} saved"))


@dispute_app.command("open")
@_human_errors
def dispute_open(review_id: str, reason: Annotated[str, typer.Option()], db: DbOpt = Path("qa.db"),
                 user: UserOpt = "", as_json: JsonOpt = False) -> None:
    """An agent disputes a review of one of their calls."""
    from qa_pipeline.store.review import open_dispute

    dispute_id = open_dispute(open_store(db), user, review_id, reason)
    emit({"dispute_id": dispute_id}, as_json, lambda d: out.print(f"dispute {d['dispute_id']} opened"))


@dispute_app.command("resolve")
@_human_errors
def dispute_resolve(dispute_id: str, decision: Annotated[str, typer.Option(help="upheld | changed")],
                    db: DbOpt = Path("qa.db"), user: UserOpt = "", note: Annotated[str, typer.Option()] = "",
                    confirm: Annotated[list[str] | None, typer.Option("--confirm")] = None,
                    reject: Annotated[list[str] | None, typer.Option("--reject")] = None) -> None:
    """A QA lead upholds a review or changes it."""
    from qa_pipeline.store.review import resolve_dispute

    verdicts = {k: "confirm" for k in confirm or []} | {k: "reject" for k in reject or []}
    resolve_dispute(open_store(db), user, dispute_id, decision, note, verdicts)
    out.print(f"dispute {dispute_id}: {decision}")


@app.command()
def calibration(db: DbOpt = Path("qa.db"), min_precision: Annotated[float, typer.Option()] = 0.8,
                min_kappa: Annotated[float, typer.Option()] = 0.6, min_n: Annotated[int, typer.Option()] = 5,
                as_json: JsonOpt = False) -> None:
    """Per-rule precision from coach verdicts and per-criterion Cohen's kappa (machine vs human)."""
    from qa_pipeline.store.calibration import calibration_report

    report = calibration_report(open_store(db), min_precision, min_kappa, min_n)

    def render(r):
        out.print("rule precision (coach verdicts):")
        for row in r["rules"]:
            flag = "  BELOW BAR" if row["below_bar"] else ""
            out.print(f"  {row['rule_id']:32s} {row['confirmed']:3d} confirmed {row['rejected']:3d} rejected "
                      f"precision {row['precision']}{flag}", highlight=False, markup=False)
        out.print("criterion agreement (machine vs human):")
        for row in r["criteria"]:
            flag = "  BELOW BAR" if row["below_bar"] else ""
            out.print(f"  {row['criterion']:20s} n={row['n']:3d} agreement {row['agreement']} kappa {row['kappa']}{flag}",
                      highlight=False, markup=False)
        out.print(f"assist mode: {', '.join(r['assist_mode']) or '-'}", highlight=False)
    emit(report, as_json, render)


@app.command()
def assist(target: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
           off: Annotated[bool, typer.Option("--off", help="Take the rule/criterion out of assist mode.")] = False,
           reason: Annotated[str, typer.Option()] = "") -> None:
    """Put a rule or criterion in assist mode (shown to coaches, not scored) or take it out."""
    from qa_pipeline.store.review import ReviewError, set_assist

    try:
        set_assist(open_store(db), user, target, not off, reason)
    except ReviewError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    out.print(f"{target}: assist mode {'off' if off else 'on'} (applies from the next nightly run)")


@app.command()
def search(text: str, db: DbOpt = Path("qa.db"), limit: Annotated[int, typer.Option()] = 50, as_json: JsonOpt = False) -> None:
    """Full-text search over transcripts (Mandarin and English)."""
    rows = open_store(db).search(text, limit)
    emit(rows, as_json, lambda rs: [out.print(f"{r['call_id']} [{clock(float(r['start']))}] {r['speaker']}: {r['text']}",
                                              highlight=False, markup=False) for r in rs])


@users_app.command("add")
@_human_errors
def users_add(name: str, role: Annotated[str, typer.Option(help="coach | qa_lead | hr | agent")],
              db: DbOpt = Path("qa.db"), agent_id: Annotated[str | None, typer.Option(help="For agents: their agent id.")] = None,
              password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read a password from stdin.")] = False) -> None:
    """Add or update a user."""
    from qa_pipeline.store.review import add_user

    password_hash = None
    if password_stdin:
        from qa_pipeline.store.auth import hash_password

        password_hash = hash_password(sys.stdin.readline().rstrip("\n"))
    add_user(open_store(db, must_exist=False), name, role, agent_id, password_hash)
    out.print(f"user {name}: {role}")
RulesOpt = Annotated[list[Path] | None, typer.Option("--rules", help="A team's rule pack file or folder (repeatable); "
                                                 "overrides/extends the defaults.")]


def load_pack(rules: list[Path] | None, language: str):
    from qa_pipeline.stages.rules.pack import RulePackError, load_rule_pack

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
    """One call end to end: transcript, banned phrases, script steps, tone, personal data, score."""
    from qa_pipeline.base.audio import AudioError
    from qa_pipeline.base.models import ModelError
    from qa_pipeline.contracts import Call, to_dict
    from qa_pipeline.pipeline import analyze_call
    from qa_pipeline.stages.rules.pack import RulePackError
    from qa_pipeline.stages.scoring import FormError

    cfg = load_settings(config, model, language)
    if rules:
        cfg.rules = [str(p.resolve()) for p in rules]
    if agent_channel not in (None, 0, 1):
        raise fail("--agent-channel must be 0 or 1", EXIT_USAGE)
    channel = cfg.audio.agent_channel if agent_channel is None else agent_channel
    call = Call(call_id=audio.stem, audio_path=str(audio), language=cfg.asr.language, layout=layout or "",  # type: ignore[arg-type]
                agent_channel=channel, caller_channel=1 - channel, call_type=call_type)
    try:
        result = analyze_call(call, cfg)
    except AudioError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except (ModelError, RulePackError, FormError) as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None
    rule_version = next((v for k, v in result.versions.items() if k.startswith("rules_")), "")
    if as_json:
        payload = {**to_dict(result), "rule_version": rule_version}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    score = result.score
    out.print(f"# {audio} · {result.call.layout} · {result.transcript.duration:.1f} s · language "
              f"{result.transcript.language} · rules {rule_version} · score {score.get('total')} "
              f"({'pass' if score.get('passed') else 'FAIL'}{', AUTO-FAIL' if score.get('auto_fail') else ''})",
              highlight=False, soft_wrap=True)
    for f in sorted(result.findings, key=lambda f: f.start):
        what = f.details.get("status", "") if f.kind == "script_step" else f.details.get("category", f.severity)
        out.print(f"[{clock(f.start)}-{clock(f.end)}] {f.kind:13s} {f.rule_id:22s} {what or '':10s} {f.speaker:7s} "
                  f"{f.confidence:.2f}  {f.evidence}", highlight=False, markup=False, soft_wrap=True)
    for speaker, info in (result.tone.get("speakers") or {}).items():
        trend = info.get("trend") or {}
        out.print(f"tone {speaker}: agitation {info.get('agitation')} · trend {trend.get('direction', 'n/a')}",
                  highlight=False)


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
    from qa_pipeline.base.models import ModelError
    from qa_pipeline.contracts import Call, to_dict
    from qa_pipeline.stages.tone.emotion import analyze_tone
    from qa_pipeline.stages.tone.sentiment import SentimentError
    from qa_pipeline.stages.transcribe import transcribe_cached

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


@rules_app.command("check")
def rules_check(
    paths: Annotated[list[Path], typer.Argument(help="Rule pack files or folders.")],
    language: Annotated[str, typer.Option("--language", help="zh | en: the defaults they extend.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Validate a rule pack (with the defaults under it) and run every example; non-zero exit on any error."""
    from qa_pipeline.stages.rules.matcher import check_rule_examples
    from qa_pipeline.stages.rules.pack import RulePackError, pack_files, read_pack_file
    from qa_pipeline.stages.rules.script import check_step_examples

    languages = [language] if language else []
    if not languages:
        errors = []
        for hint in ("zh", "en"):  # a folder may hold zh/ and en/ subfolders, or only one of them
            try:
                for path in pack_files(paths, hint)[len(pack_files(None, hint)):]:
                    lang = read_pack_file(path)["language"]
                    languages += [lang] if lang and lang not in languages else []
            except RulePackError as exc:
                errors.append(exc)
        if len(errors) == 2 or (errors and not languages):
            raise fail(str(errors[0]), EXIT_BAD_CONFIG) from None
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
    from qa_pipeline.eval.rules import render, run

    if not (samples / "labels.json").exists():
        raise fail(f"{samples}: no labels.json (run scripts/make_samples.py)", EXIT_BAD_INPUT)
    report = run(samples, model, rules, shared=_shared_dir())
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
    from qa_pipeline.eval.bench_rules import bench

    result = bench(n_rules, hours, language)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    for key, value in result.items():
        out.print(f"{key:28s} {value}", highlight=False)


@eval_app.command("tone")
def eval_tone(
    emotion_dir: Annotated[Path | None, typer.Option("--emotion-dir", help="EmoDB folder (labels.csv, wav/).")] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Sample calls (manifest.csv, labels.json).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acoustic AUC on emotion_de, text macro-F1 on the held-out split, flags on the sample calls."""

    from qa_pipeline.eval import tone as tone_eval

    cfg = load_settings(config)
    emotion_dir = emotion_dir or _shared_dir() / "emotion_de"
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
    from qa_pipeline.stages.tone.sentiment import SentimentError, load_sentiment

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
    from qa_pipeline.base.audio import AudioError
    from qa_pipeline.eval import tone as tone_eval

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
def shared_data_dir(data: Path | None) -> Path | None:
    path = data or _shared_dir()
    return path if path.is_dir() else None


DataOpt = Annotated[Path | None, typer.Option("--data", help="Reference data (default: $QA_SHARED_DATA or ../shared/data).")]


@eval_app.command("asr")
def eval_asr(
    data: DataOpt = None,
    models: Annotated[list[str] | None, typer.Option("--model", help="Plain models to score (default: base, tiny.en).")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Score only clips whose id contains this.")] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Also score the synthesized sample calls "
                                                 "(e.g. recordings_sample) against their scripts, apart.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """WER (English) and CER (Mandarin) of each model and of the default profile on ../shared/data."""
    from rich.table import Table

    from qa_pipeline.eval.asr import evaluate

    cfg = load_settings(config)
    data_dir = shared_data_dir(data)
    if data_dir is None:
        err.print("skipped: no reference data (../shared/data or $QA_SHARED_DATA is absent)")
        return
    report = evaluate(data_dir, cfg.asr, tuple(models or ("base", "tiny.en")), only, samples)
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
        synthetic = [report.aggregate(p, lang, synthetic=True) for p in profiles]
        if any(v is not None for v in synthetic):
            table.add_row(f"synthetic samples (TTS): {label}", lang,
                          *["–" if v is None else f"{v:.1%}" for v in synthetic], style="italic")
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

    from qa_pipeline.base.audio import AudioError
    from qa_pipeline.eval.bench_transcribe import bench_transcribe as run_bench
    from qa_pipeline.eval.bench_transcribe import default_call

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
    from qa_pipeline.base.models import ModelError, install_model, known_models

    for name in names or known_models():
        try:
            path = install_model(name, force=force)
        except ModelError as exc:
            raise fail(str(exc), EXIT_BAD_CONFIG) from None
        out.print(f"{name}: {path} (sha256 verified)", highlight=False, soft_wrap=True)


@models_app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """List the manifest's models and whether they are placed."""
    from qa_pipeline.base.models import load_manifest, models_dir

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


# ----------------------------------------------------------------------------- reports (HR, QA leads)
report_app = typer.Typer(help="Reports for QA leads: the daily team report.", no_args_is_help=True)
app.add_typer(report_app, name="report")


def _report_config(config: Path | None):
    from qa_pipeline.config import ConfigError
    from qa_pipeline.reports.scorecard import ReportConfig

    cfg = load_settings(config)
    try:
        return ReportConfig.from_qa(cfg)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_BAD_CONFIG) from None


def _write_report(data: bytes, out_path: Path | None, what: str) -> None:
    if out_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(data)
    err.print(f"{what} written to {out_path} ({len(data)} bytes)", highlight=False, soft_wrap=True)


@app.command()
def scorecard(
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W47.")],
    team: Annotated[str | None, typer.Option("--team", help="Only this team.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx | html | json")] = "csv",
    out_path: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    db: DbOpt = Path("qa.db"),
    config: ConfigOpt = None,
) -> None:
    """Weekly agent scorecard for HR: one row per agent, human decisions first, tiers, trend."""
    from qa_pipeline.reports.render import FORMATS
    from qa_pipeline.reports.scorecard import parse_week, render_scorecard, weekly_scorecard

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}", EXIT_USAGE)
    try:
        parse_week(week)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if fmt == "xlsx" and out_path is None and sys.stdout.isatty():
        raise fail("xlsx is binary: give --out FILE.xlsx", EXIT_USAGE)
    settings = _report_config(config)
    card = weekly_scorecard(open_store(db), week, team, agent, settings)
    if not card.rows:
        err.print(f"no calls in {week}" + (f" for team {team}" if team else "") + (f" for agent {agent}" if agent else ""),
                  highlight=False)
    _write_report(render_scorecard(card, fmt), out_path, f"scorecard {week} ({len(card.rows)} agents)")


@report_app.command("daily")
def report_daily(
    date: Annotated[str, typer.Option("--date", help="YYYY-MM-DD: the day the calls were taken.")],
    fmt: Annotated[str, typer.Option("--format", help="json | html | csv")] = "json",
    out_path: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    db: DbOpt = Path("qa.db"),
    config: ConfigOpt = None,
) -> None:
    """Daily team report: calls processed, flags by kind, queue backlog, recurring findings, training examples."""
    import datetime as dt

    from qa_pipeline.reports.render import DAILY_FORMATS
    from qa_pipeline.reports.scorecard import daily_report, render_daily

    if fmt not in DAILY_FORMATS:
        raise fail(f"--format must be one of {', '.join(DAILY_FORMATS)}, not {fmt!r}", EXIT_USAGE)
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise fail(f"--date must be YYYY-MM-DD, not {date!r}", EXIT_USAGE) from None
    settings = _report_config(config)
    report = daily_report(open_store(db), date, settings)
    _write_report(render_daily(report, fmt), out_path, f"daily report {date} ({report.calls} calls)")

# ------------------------------------------------------------------ qa serve (web review app)
@app.command()
def serve(
    db: DbOpt = Path("qa.db"),
    host: Annotated[str, typer.Option(help="Interface to bind; the default keeps the app on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", help="Mark cookies Secure (behind an HTTPS proxy).")] = False,
    config: ConfigOpt = None,
) -> None:
    """The review web app for coaches, QA leads, HR and agents (users from `qa users add --password-stdin`)."""
    try:
        import uvicorn

        from qa_pipeline.web.app import create_app
    except ImportError as exc:
        raise fail(f"the web app needs the 'web' extra ({exc.name} is missing): pip install 'qa_pipeline[web]'",
                   EXIT_USAGE) from None
    privacy = load_settings(config).privacy
    report = _report_config(config)  # the scorecards use the same settings as `qa scorecard --config`
    open_store(db).close()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach it may try to sign in; "
                  "put it behind HTTPS and use --secure-cookies", highlight=False)
    out.print(f"qa review app on http://{host}:{port}/ over {db}", highlight=False)
    uvicorn.run(create_app(db, {"secure_cookies": secure_cookies, "privacy": privacy, "report": report}), host=host, port=port, log_level="warning",
                proxy_headers=False, server_header=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
