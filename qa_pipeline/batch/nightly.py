"""Many calls: discover recordings, skip what is done, run the per-call pipeline locally (in-process or worker
processes) or on Ray, and ingest each result as soon as it arrives through a single writer.

Safety properties (tests/asr/test_batch.py, tests/asr/test_faults.py, tests/unit/test_batch_faults.py):
- before the database is touched: the manifest's rows and the configuration are checked (exit 4), and a night
  with nothing in it says so (exit 5); then the database is checked (PRAGMA quick_check, exit 6);
- a lock file (flock) stops two runs on one database; the kernel drops it when a run dies, even under kill -9;
- each result is ingested in its own transaction, keyed by sha256 + versions, so a killed run loses only the
  calls in flight and a re-run stores nothing twice; worker processes die with the run;
- a recording that fails, or that discovery refused, is quarantined with its reason and the batch goes on
  (exit 3); a fault of the whole run (a full disk, a model that cannot serve) stops it with one message.

Exit statuses are errors.py's table; the CLI returns ``RunSummary.exit_code`` or the raised error's."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import AudioError, file_sha256
from qa_pipeline.batch.alert_delivery import AlertSender, Destination, destinations
from qa_pipeline.batch.discover import DEFAULT_PATTERN, Night, Rejected, absolute, discover
from qa_pipeline.batch.executors import fatal_error, run_local, run_ray
from qa_pipeline.batch.lock import RunLock
from qa_pipeline.batch.roles import apply_role_decision
from qa_pipeline.batch.runlog import RunLog, default_log_dir
from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Call, CallResult, call_result_from_dict
from qa_pipeline.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_QUARANTINED,
    BatchError,
    ConfigError,
    NothingToDo,
    QAError,
    StorageError,
    UsageError,
)
from qa_pipeline.pipeline import check_config, versions
from qa_pipeline.stages.scoring import load_form
from qa_pipeline.store.db import Store, check_database, storage_error

log = logging.getLogger("qa_pipeline.batch.nightly")


@dataclass
class BatchOptions:
    workers: int = 1
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    pattern: str = DEFAULT_PATTERN
    limit: int | None = None
    reprocess: bool = False  # ignore 'already processed' (still never duplicates)
    threads_per_worker: int | None = None
    # Calls whose speech windows one worker decodes together (a batch of windows fills across calls); 1: a
    # call at a time. Results are still stored per call, each as soon as its task returns.
    batch_calls: int = 4
    log_dir: Path | None = None  # the JSON-lines run log; default qa_logs/ beside the database


@dataclass
class Failure:
    path: str
    call_id: str
    reason: str
    detail: str


@dataclass
class RunSummary:
    run_id: str
    status: str = "running"  # done | partial | failed | interrupted
    discovered: int = 0  # calls and refused recordings
    skipped: int = 0  # already processed with the same versions
    ignored: int = 0  # files of a folder without an audio extension (listed in the run log)
    processed: int = 0
    failed: int = 0
    audio_hours: float = 0.0
    wall_seconds: float = 0.0
    rtf: float = 0.0
    flagged_calls: int = 0
    auto_fail_calls: int = 0
    alerts_sent: int = 0  # deliveries; those given up are in the run log (alert_given_up) and never fail the run
    alerts_given_up: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    exit_code: int = EXIT_OK
    log_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ProgressFn = Callable[[str, dict[str, Any]], None]


def run_nightly(
    source: str | Path,
    db_path: str | Path,
    config: QAConfig,
    options: BatchOptions | None = None,
    progress: ProgressFn | None = None,
) -> RunSummary:
    """Process every recording in ``source`` into the database at ``db_path``.

    Raises ManifestError / ConfigError / ModelError (nothing ran), NothingToDo (an empty night), StorageError
    (a damaged database, a full disk), LockedError, BatchError (an unexpected failure, logged with its traceback)."""

    options = options or BatchOptions()
    _check_options(options)
    # What the night holds and whether the configuration can serve it, before the database is touched.
    night = discover(source, options.pattern)
    check_config(config, serving_languages(config, night))
    alert_targets = destinations(config.alerts, config.source, {c.id for c in load_form(config.form_path()).criteria})
    if not night.calls and not night.rejected:
        raise NothingToDo(f"{night.source}: nothing to process, an empty night ({night.empty_because})")
    db_path = absolute(db_path)
    summary = RunSummary(run_id="")
    try:
        with RunLock(db_path):
            check_database(db_path)
            return _run(night, db_path, config, options, progress, summary, alert_targets)
    except Exception as exc:
        problem = storage_error(exc, db_path)
        if problem is not None and summary.run_id:
            raise StorageError(f"{problem}; run {summary.run_id} stopped after storing {summary.processed} call(s). "
                               "Free space or repair the storage and run again: a re-run processes what is left "
                               "and stores nothing twice") from None
        if problem is not None or isinstance(exc, QAError):
            raise (problem or exc) from None
        if not summary.log_path:  # _run logs the traceback of what fails inside it
            log.exception("qa nightly failed before its run started")
        raise BatchError(f"run {summary.run_id or '(not started)'} failed: {type(exc).__name__}: {exc} "
                         f"(traceback above and in {summary.log_path or 'no run log'})") from exc


def _check_options(options: BatchOptions) -> None:
    if options.executor not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, not {options.executor!r}")
    if options.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("qa nightly", "--executor ray",
                              "needs the 'distributed' extra: pip install 'qa_pipeline[distributed]'") from None
    try:
        groups = re.compile(options.pattern).groupindex
    except re.error as exc:
        raise UsageError(f"--pattern {options.pattern!r} is not a regular expression: {exc}") from None
    missing = [g for g in ("agent_id", "started_at") if g not in groups]
    if missing:
        raise UsageError(f"--pattern needs the named group(s) {', '.join(missing)}, e.g. {DEFAULT_PATTERN}")
    if options.workers < 1 or options.batch_calls < 1 or (options.limit is not None and options.limit < 1):
        raise UsageError("--workers, --batch-calls and --limit must be at least 1")


def serving_languages(config: QAConfig, night: Night) -> tuple[str, ...]:
    """The languages the configuration must serve tonight: a fixed asr.language overrides every call;
    otherwise each call's own, and the auto-detected ones for calls that declare none."""
    asr = config.asr
    if asr.language not in ("", "auto"):
        return (asr.language,)
    declared = {lang for lang in night.languages if lang not in ("", "auto")}
    if not night.calls or any(lang in ("", "auto") for lang in night.languages):
        declared |= set(asr.languages)
    return tuple(sorted(declared))


def _run(night: Night, db_path: Path, config: QAConfig, options: BatchOptions, progress: ProgressFn | None,
         summary: RunSummary, alert_targets: list[Destination]) -> RunSummary:
    store = Store(db_path)
    store.close_stale_runs()
    runlog = RunLog(options.log_dir or default_log_dir(db_path))
    summary.log_path = str(runlog.path)

    def notify(event: str, data: dict[str, Any]) -> None:
        runlog.event(event, data)
        if progress is not None:
            progress(event, data)

    # Rules/criteria a QA lead put in assist mode are shown but not scored.
    config = dataclasses.replace(config, assist=tuple(sorted(store.assist_targets())))
    calls = night.calls[: options.limit] if options.limit else night.calls
    summary.run_id = store.start_run({"source": night.source, "workers": options.workers,
                                      "executor": options.executor, "config": config.source, "pid": os.getpid()})
    summary.discovered = len(calls) + len(night.rejected)
    summary.ignored = len(night.ignored)
    alerts = AlertSender(config.alerts, alert_targets, runlog.event, summary.run_id)
    started = time.perf_counter()
    audio_seconds = 0.0
    try:
        for path in night.ignored:
            runlog.event("ignored", {"path": path, "reason": "no audio extension"})
        for refused in night.rejected:
            _fail(store, summary, refused, notify)
        todo: list[Call] = []
        version_cache: dict[str, dict[str, str]] = {}
        for call in calls:
            try:
                sha = file_sha256(call.audio_path)
            except AudioError as exc:  # replaced since discovery by a pipe, a directory…
                _fail(store, summary, Rejected(call.audio_path, call.call_id, exc.reason, exc.detail), notify)
                continue
            except OSError as exc:
                reason = "not_found" if isinstance(exc, FileNotFoundError) else "unreadable"
                _fail(store, summary, Rejected(call.audio_path, call.call_id, reason, exc.strerror or str(exc)), notify)
                continue
            lang = call.language if call.language in ("zh", "en") else None
            key = lang or "*"
            if key not in version_cache:
                version_cache[key] = versions(config, lang)
            if not options.reprocess and store.is_processed(sha, version_cache[key], call_id=call.call_id):
                summary.skipped += 1
                continue
            todo.append(dataclasses.replace(call, sha256=sha))
        notify("start", {"total": len(todo), "skipped": summary.skipped, "failed": summary.failed})
        workers = max(1, options.workers)
        cores = os.cpu_count() or 1
        threads = options.threads_per_worker or max(1, cores // workers)
        # Never so many calls in one batch that a worker waits idle: a small night is shared out first.
        batch = max(1, min(options.batch_calls, math.ceil(len(todo) / workers)))
        if options.executor == "ray":
            results = run_ray(todo, config, workers, threads, options.ray_address, batch)
        else:
            results = run_local(todo, config, workers, threads, batch)
        for call, outcome in results:
            fatal = fatal_error(outcome)
            if fatal is not None:
                raise fatal
            if "error" in outcome:
                error = outcome["error"]
                _fail(store, summary, Rejected(call.audio_path, call.call_id, error["reason"], error["detail"]), notify)
                continue
            result: CallResult = call_result_from_dict(outcome["ok"])
            store.ingest_result(result, summary.run_id)
            result = apply_role_decision(store, result, config, summary.run_id)  # a coach's role swap is kept
            alerts.stored(result)
            summary.processed += 1
            audio_seconds += result.transcript.duration
            for stage, secs in result.timings.items():
                if stage != "audio_seconds":
                    summary.stage_seconds[stage] = round(summary.stage_seconds.get(stage, 0.0) + secs, 3)
            if any(f.kind != "script_step" or f.status == "fail" for f in result.findings):
                summary.flagged_calls += 1
            if result.score.auto_fail:
                summary.auto_fail_calls += 1
            elapsed = time.perf_counter() - started
            notify("call_done", {"call_id": call.call_id, "audio_seconds": result.transcript.duration,
                                 "elapsed": elapsed, "audio_total": audio_seconds})
        store.rebuild_queue(config.queue)
        summary.status = "partial" if summary.failed else "done"
        summary.exit_code = EXIT_SOME_QUARANTINED if summary.failed else EXIT_OK
    except KeyboardInterrupt:
        summary.status, summary.exit_code = "interrupted", EXIT_INTERRUPTED
        raise
    except Exception as exc:
        problem = storage_error(exc, db_path) or (exc if isinstance(exc, QAError) else None)
        summary.status = "failed"
        summary.exit_code = problem.exit_code if problem is not None else EXIT_INTERNAL
        message = str(problem) if problem is not None else f"{type(exc).__name__}: {exc}"
        summary.failures.append(Failure("", "", "run_failed", message))
        _quietly(runlog.event, "run_failed", {"error": message, "exit_code": summary.exit_code})
        if problem is None:  # a bug: its traceback on stderr and in the run log
            log.exception("run %s failed", summary.run_id)
            _quietly(runlog.event, "traceback", {"traceback": traceback.format_exc()})
        raise
    finally:
        # Deliveries still queued get a bounded wait (none after Ctrl-C); each outcome is in the run log.
        try:
            summary.alerts_sent, summary.alerts_given_up = alerts.close(
                0.0 if summary.status == "interrupted" else config.alerts.drain_seconds)
        except Exception:  # noqa: BLE001 - alerts never fail the batch
            log.warning("could not finish the run's alerts", exc_info=True)
        summary.wall_seconds = round(time.perf_counter() - started, 3)
        summary.audio_hours = round(audio_seconds / 3600, 4)
        summary.rtf = round(summary.wall_seconds / audio_seconds, 4) if audio_seconds else 0.0
        # On a full disk these may fail too: the error that stopped the run is the one to report.
        _quietly(store.finish_run, summary.run_id, summary.to_dict(), summary.status)
        _quietly(runlog.event, "summary", summary.to_dict())
        _quietly(runlog.close)
        _quietly(store.close)
    return summary


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - only while a run is already ending on an error or after its summary
        log.debug("could not record the end of the run (%s)", getattr(fn, "__name__", fn), exc_info=True)


def _fail(store: Any, summary: RunSummary, item: Rejected, notify: ProgressFn) -> None:
    summary.failed += 1
    summary.failures.append(Failure(item.path, item.call_id, item.reason, item.detail.splitlines()[0] if item.detail else ""))
    store.quarantine(item.path, item.reason, item.detail, summary.run_id, call_id=item.call_id)
    notify("call_failed", {"call_id": item.call_id, "path": item.path, "reason": item.reason, "detail": item.detail})
