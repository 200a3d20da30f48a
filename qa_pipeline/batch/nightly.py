"""Many calls: discover recordings, skip what is done, run the per-call pipeline locally (in-process or worker
processes) or on Ray, and ingest each result as soon as it arrives through a single writer.

Safety properties (tested in tests/test_batch.py):
- a lock file (flock) stops two runs on one database; the kernel drops it when a run dies, even under kill -9;
- each result is ingested in its own transaction, keyed by sha256 + versions, so a killed run loses only the
  calls in flight and a re-run stores nothing twice;
- a recording that fails is quarantined with its reason and the batch goes on."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import file_sha256
from qa_pipeline.batch.discover import DEFAULT_PATTERN, discover
from qa_pipeline.batch.executors import run_local, run_ray
from qa_pipeline.batch.lock import RunLock
from qa_pipeline.batch.runlog import RunLog, default_log_dir
from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Call, CallResult, call_result_from_dict
from qa_pipeline.errors import EXIT_INTERNAL, EXIT_OK, EXIT_SOME_QUARANTINED, BatchError
from qa_pipeline.pipeline import check_config, versions
from qa_pipeline.store.db import Store

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
    status: str = "running"  # done | partial | failed
    discovered: int = 0
    skipped: int = 0
    processed: int = 0
    failed: int = 0
    audio_hours: float = 0.0
    wall_seconds: float = 0.0
    rtf: float = 0.0
    flagged_calls: int = 0
    auto_fail_calls: int = 0
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
    """Process every recording in ``source`` into the database at ``db_path``."""

    options = options or BatchOptions()
    # What the night holds and whether the configuration can serve it, before the database is touched.
    calls = discover(source, options.pattern)
    check_config(config, tuple(sorted({c.language for c in calls if c.language in ("zh", "en")})) or None)
    with RunLock(db_path):
        store = Store(db_path)
        store.close_stale_runs()
        runlog = RunLog(options.log_dir or default_log_dir(db_path))

        def notify(event: str, data: dict[str, Any]) -> None:
            runlog.event(event, data)
            if progress is not None:
                progress(event, data)

        # Rules/criteria a QA lead put in assist mode are shown but not scored.
        config = dataclasses.replace(config, assist=tuple(sorted(store.assist_targets())))
        if options.limit:
            calls = calls[: options.limit]
        run_id = store.start_run({"source": str(source), "workers": options.workers, "executor": options.executor,
                                  "config": config.source, "pid": os.getpid()})
        summary = RunSummary(run_id=run_id, discovered=len(calls), log_path=str(runlog.path))
        started = time.perf_counter()
        audio_seconds = 0.0
        try:
            todo: list[Call] = []
            version_cache: dict[str, dict[str, str]] = {}
            for call in calls:
                path = Path(call.audio_path)
                try:
                    sha = file_sha256(path)
                except OSError as exc:
                    reason = "not_found" if isinstance(exc, FileNotFoundError) else "unreadable"
                    _fail(store, summary, run_id, call, reason, exc.strerror or str(exc), notify)
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
            if options.executor == "ray":
                results = run_ray(todo, config, workers, threads, options.ray_address)
            elif options.executor == "local":
                results = run_local(todo, config, workers, threads)
            else:
                raise BatchError(f"unknown executor {options.executor!r}: use local or ray")
            for call, outcome in results:
                if "error" in outcome:
                    _fail(store, summary, run_id, call, outcome["error"]["reason"], outcome["error"]["detail"], notify)
                    continue
                result: CallResult = call_result_from_dict(outcome["ok"])
                store.ingest_result(result, run_id)
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
        except Exception as exc:
            summary.status = "failed"
            summary.exit_code = EXIT_INTERNAL
            summary.failures.append(Failure("", "", "run_failed", f"{type(exc).__name__}: {exc}"))
            runlog.event("run_failed", {"error": f"{type(exc).__name__}: {exc}"})
            log.exception("run %s failed", run_id)
            raise
        finally:
            summary.wall_seconds = round(time.perf_counter() - started, 3)
            summary.audio_hours = round(audio_seconds / 3600, 4)
            summary.rtf = round(summary.wall_seconds / audio_seconds, 4) if audio_seconds else 0.0
            store.finish_run(run_id, summary.to_dict(), summary.status)
            runlog.event("summary", summary.to_dict())
            runlog.close()
        return summary


def _fail(store: Any, summary: RunSummary, run_id: str, call: Call, reason: str, detail: str, notify: ProgressFn) -> None:
    summary.failed += 1
    summary.failures.append(Failure(call.audio_path, call.call_id, reason, detail.splitlines()[0] if detail else ""))
    store.quarantine(call.audio_path, reason, detail, run_id, call_id=call.call_id)
    notify("call_failed", {"call_id": call.call_id, "path": call.audio_path, "reason": reason, "detail": detail})
