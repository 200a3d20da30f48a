"""`qa nightly`: a night's recordings into the database, the review queue rebuilt, a summary line."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import qa_pipeline as qa
from qa_pipeline.cli.common import ConfigOpt, JsonOpt, err, load_settings, out, write_json


def nightly(
    source: Annotated[Path, typer.Argument(help="Folder of recordings (uses its manifest.csv if present) or a manifest CSV.")],
    db: Annotated[Path, typer.Option("--db", help="SQLite database (created if missing).")] = Path("qa.db"),
    config: ConfigOpt = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes; cores are shared among them.")] = 1,
    batch_calls: Annotated[int, typer.Option("--batch-calls", min=1, help="Calls whose speech windows a worker decodes together (1: a call at a time).")] = 4,
    executor: Annotated[str, typer.Option("--executor", help="local | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster address (default: start a local one).")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", help="Regex with named groups agent_id, started_at, call_id, team for folders without manifest.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Process at most N calls.")] = None,
    reprocess: Annotated[bool, typer.Option("--reprocess", help="Re-run calls already processed with the same versions (adds no duplicates).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; only errors and the summary line (for cron).")] = False,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Where the JSON-lines run log goes (default: qa_logs/ beside the database).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Process a night's recordings into the database and rebuild the review queue.

    Exit status (docs/reference/exit-codes.md): 0 all done (or already done) · 3 some recordings were
    quarantined or refused · 1 the run failed (a bug) · 2 a wrong command line · 4 bad configuration or
    manifest (nothing processed) · 5 an empty night (no recording found) · 6 storage (damaged database, full
    disk) · 75 another run holds the database · 130 interrupted (Ctrl-C, SIGTERM).
    """
    cfg = load_settings(config)
    progress = None if quiet or as_json else Progress(
        TextColumn("[bold]nightly"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(), console=err, transient=False,
    )
    task = None

    def on_event(event: str, data: dict[str, Any]) -> None:
        nonlocal task
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

    options = qa.BatchOptions(workers=workers, batch_calls=batch_calls, executor=executor, ray_address=ray_address, limit=limit,
                              reprocess=reprocess, log_dir=log_dir, **({"pattern": pattern} if pattern else {}))
    logging.basicConfig(level=logging.WARNING)
    if progress:
        progress.start()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # systemd's stop: the run records itself as interrupted
    try:
        summary = qa.run_nightly(source, db, cfg, options, on_event)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if progress:
            progress.stop()
    if as_json:
        write_json(summary.to_dict())
    else:
        ignored = f", {summary.ignored} other files ignored" if summary.ignored else ""
        alerts = (f" · {summary.alerts_sent} alerts sent, {summary.alerts_given_up} given up"
                  if summary.alerts_sent or summary.alerts_given_up else "")
        out.print(
            f"run {summary.run_id}: {summary.status} · {summary.processed} processed, {summary.skipped} skipped, "
            f"{summary.failed} failed{ignored} · {summary.audio_hours:.2f} h audio in {summary.wall_seconds:.0f} s "
            f"(RTF {summary.rtf:.3f}) · {summary.flagged_calls} flagged, {summary.auto_fail_calls} auto-fail{alerts} · "
            f"log {summary.log_path}", highlight=False,
        )
        for f in summary.failures:
            out.print(f"  failed: {f.path}: {f.reason} {f.detail}", highlight=False, markup=False)
    raise typer.Exit(summary.exit_code)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
