"""Many calls: discover recordings, skip what is done, run the per-call pipeline
locally (in-process or worker processes) or on Ray, and ingest each result as soon
as it arrives through a single writer.

Safety properties (tested in tests/test_batch.py):
- a lock file (flock) stops two runs on one database; the kernel drops it when a
  run dies, even under kill -9;
- each result is ingested in its own transaction, keyed by sha256 + versions, so a
  killed run loses only the calls in flight and a re-run stores nothing twice;
- a recording that fails is quarantined with its reason and the batch goes on.
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.base.audio import AudioError, file_sha256
from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Call, CallResult, call_result_from_dict, to_dict

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".au", ".aiff", ".aif"}
# <agent>_<YYYYmmdd[T]HHMMSS>_<call id>.<ext>, e.g. a1023_20261120T093015_c88231.wav
DEFAULT_PATTERN = r"(?P<agent_id>[^_/]+)_(?P<started_at>\d{8}T?\d{6})_(?P<call_id>[^/]+?)$"
MANIFEST_COLUMNS = ("call_id", "path", "agent_id", "team", "started_at", "language", "layout", "agent_channel", "call_type", "direction")

EXIT_OK, EXIT_RUN_FAILED, EXIT_SOME_FAILED, EXIT_BAD_CONFIG, EXIT_LOCKED = 0, 1, 3, 4, 75

log = logging.getLogger("qa_pipeline.batch.nightly")


class BatchError(RuntimeError):
    """The run as a whole cannot go on (bad manifest, database locked…)."""


class LockedError(BatchError):
    pass


@dataclass
class BatchOptions:
    workers: int = 1
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    pattern: str = DEFAULT_PATTERN
    limit: int | None = None
    reprocess: bool = False  # ignore 'already processed' (still never duplicates)
    threads_per_worker: int | None = None


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- discovery

def _norm_time(value: str) -> str:
    value = value.strip()
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})T?(\d{2})(\d{2})(\d{2})", value)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    return value


def read_manifest(path: Path) -> list[Call]:
    """A manifest CSV: one row per call; paths relative to the manifest's folder."""
    calls: list[Call] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"call_id", "path"} - set(reader.fieldnames or [])
        if missing:
            raise BatchError(f"{path}: manifest lacks column(s) {sorted(missing)}; has {reader.fieldnames}")
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            call_id = (row.get("call_id") or "").strip()
            if not call_id:
                raise BatchError(f"{path}, line {line}: empty call_id")
            if call_id in seen:
                raise BatchError(f"{path}, line {line}: duplicate call_id {call_id!r}")
            seen.add(call_id)
            audio = Path(row["path"].strip())
            if not audio.is_absolute():
                audio = path.parent / audio
            channel = (row.get("agent_channel") or "0").strip() or "0"
            if channel not in ("0", "1"):
                raise BatchError(f"{path}, line {line}: agent_channel must be 0 or 1, not {channel!r}")
            calls.append(
                Call(
                    call_id=call_id,
                    audio_path=str(audio),
                    agent_id=(row.get("agent_id") or "").strip(),
                    team=(row.get("team") or "").strip(),
                    started_at=_norm_time(row.get("started_at") or ""),
                    direction=(row.get("direction") or "inbound").strip(),
                    language=(row.get("language") or "auto").strip() or "auto",
                    layout=((row.get("layout") or "").strip() or "stereo"),  # type: ignore[arg-type]
                    agent_channel=int(channel),
                    caller_channel=1 - int(channel),
                    call_type=(row.get("call_type") or "default").strip() or "default",
                )
            )
    return calls


def scan_directory(folder: Path, pattern: str = DEFAULT_PATTERN) -> list[Call]:
    """Recordings in a folder tree, metadata from their file names."""
    regex = re.compile(pattern)
    calls = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        m = regex.search(path.with_suffix("").name)
        meta = m.groupdict() if m else {}
        calls.append(
            Call(
                call_id=meta.get("call_id") or path.relative_to(folder).with_suffix("").as_posix(),
                audio_path=str(path),
                agent_id=meta.get("agent_id", ""),
                team=meta.get("team", ""),
                started_at=_norm_time(meta.get("started_at", "")),
                layout="stereo",
            )
        )
    return calls


def discover(source: str | Path, pattern: str = DEFAULT_PATTERN) -> list[Call]:
    source = Path(source)
    if source.is_file():
        return read_manifest(source)
    if source.is_dir():
        manifest = source / "manifest.csv"
        return read_manifest(manifest) if manifest.exists() else scan_directory(source, pattern)
    raise BatchError(f"{source}: no such directory or manifest")


# ---------------------------------------------------------------- locking

class RunLock:
    """An exclusive flock on <db>.lock. Held for the whole run; freed by the kernel if we die."""

    def __init__(self, db_path: str | Path):
        self.path = Path(str(db_path) + ".lock")
        self._fh: Any = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise LockedError(
                f"another qa nightly is already running on {str(self.path)[:-5]} ({holder}); "
                "wait for it to finish or stop it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


# ---------------------------------------------------------------- per-call work

def process_call(call_dict: dict[str, Any], config: QAConfig, threads: int | None = None) -> dict[str, Any]:
    """The unit of work shipped to a worker or Ray task: never raises.

    Returns {"ok": CallResult dict} or {"error": {reason, detail}}.
    """
    from qa_pipeline.pipeline import analyze_call

    call = Call(**call_dict)
    config = _with_threads(config, threads)
    try:
        return {"ok": to_dict(analyze_call(call, config))}
    except AudioError as exc:
        return {"error": {"reason": exc.reason, "detail": exc.detail or str(exc)}}
    except MemoryError:
        return {"error": {"reason": "out_of_memory", "detail": "the recording needed more memory than available"}}
    except Exception as exc:  # one bad call must not stop the night
        tb = traceback.format_exc(limit=4)
        return {"error": {"reason": "processing_error", "detail": f"{type(exc).__name__}: {exc}\n{tb}"}}


def _with_threads(config: QAConfig, threads: int | None) -> QAConfig:
    if not threads:
        return config
    return dataclasses.replace(config, asr=dataclasses.replace(config.asr, threads=threads))


def _pool_init(threads: int, config: QAConfig, mono: bool = False) -> None:
    # Each worker gets its share of the cores: CTranslate2, ONNX Runtime and
    # numpy would otherwise each start one thread per core in every worker.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from qa_pipeline.pipeline import warm_up

    warm_up(_with_threads(config, threads), mono)


def _has_mono(calls: list[Call]) -> bool:
    """Whether the manifest declares mono calls (a directory scan declares none: the encoder then loads lazily)."""
    return any(call.layout == "mono" for call in calls)


def _run_local(calls: list[Call], config: QAConfig, workers: int, threads: int) -> Iterator[tuple[Call, dict[str, Any]]]:
    if workers <= 1:
        from qa_pipeline.pipeline import warm_up

        if calls:
            warm_up(_with_threads(config, threads), _has_mono(calls))
        for call in calls:
            yield call, process_call(dataclasses.asdict(call), config, threads)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # no fork after ONNX/CTranslate2 threads exist
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pool_init, initargs=(threads, config, _has_mono(calls))) as pool:
        pending = {}
        queue = list(calls)
        while queue or pending:
            while queue and len(pending) < workers * 2:
                call = queue.pop(0)
                pending[pool.submit(process_call, dataclasses.asdict(call), config, threads)] = call
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                call = pending.pop(fut)
                try:
                    yield call, fut.result()
                except Exception as exc:  # a worker died (e.g. killed by the OOM killer)
                    yield call, {"error": {"reason": "worker_crashed", "detail": f"{type(exc).__name__}: {exc}"}}


def _run_ray(calls: list[Call], config: QAConfig, workers: int, threads: int, address: str | None) -> Iterator[tuple[Call, dict[str, Any]]]:
    try:
        import ray
    except ImportError:
        raise BatchError("--executor ray needs the 'distributed' extra: pip install 'qa_pipeline[distributed]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers * threads), include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=threads, max_retries=1)(process_call)
        config_ref = ray.put(config)
        refs = {}
        queue = list(calls)
        # Bounded in-flight work: a cluster of any size streams results back while
        # the driver's memory stays flat for a night of thousands of calls.
        limit = max(2, int(ray.available_resources().get("CPU", workers)) // max(1, threads) * 2)
        while queue or refs:
            while queue and len(refs) < limit:
                call = queue.pop(0)
                refs[remote.remote(dataclasses.asdict(call), config_ref, threads)] = call
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                call = refs.pop(ref)
                try:
                    yield call, ray.get(ref)
                except Exception as exc:
                    yield call, {"error": {"reason": "worker_crashed", "detail": f"{type(exc).__name__}: {exc}"}}
    finally:
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------- the run

ProgressFn = Callable[[str, dict[str, Any]], None]


def run_nightly(
    source: str | Path,
    db_path: str | Path,
    config: QAConfig,
    options: BatchOptions | None = None,
    progress: ProgressFn | None = None,
) -> RunSummary:
    """Process every recording in ``source`` into the database at ``db_path``."""
    from qa_pipeline.pipeline import versions
    from qa_pipeline.store.db import Store

    options = options or BatchOptions()
    notify = progress or (lambda event, data: None)
    with RunLock(db_path):
        store = Store(db_path)
        store.close_stale_runs()
        calls = discover(source, options.pattern)
        # Rules/criteria a QA lead put in assist mode are shown but not scored.
        config = dataclasses.replace(config, extra={**config.extra, "assist": sorted(store.assist_targets())})
        if options.limit:
            calls = calls[: options.limit]
        run_id = store.start_run({"source": str(source), "workers": options.workers, "executor": options.executor,
                                  "config": config.source, "pid": os.getpid()})
        summary = RunSummary(run_id=run_id, discovered=len(calls))
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
                results = _run_ray(todo, config, workers, threads, options.ray_address)
            elif options.executor == "local":
                results = _run_local(todo, config, workers, threads)
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
                if result.findings and any(f.kind != "script_step" or f.details.get("status") == "fail" for f in result.findings):
                    summary.flagged_calls += 1
                if result.score.get("auto_fail"):
                    summary.auto_fail_calls += 1
                elapsed = time.perf_counter() - started
                notify("call_done", {"call_id": call.call_id, "audio_seconds": result.transcript.duration,
                                     "elapsed": elapsed, "audio_total": audio_seconds})
            store.rebuild_queue(config.extra.get("queue", {}))
            summary.status = "partial" if summary.failed else "done"
            summary.exit_code = EXIT_SOME_FAILED if summary.failed else EXIT_OK
        except Exception as exc:
            summary.status = "failed"
            summary.exit_code = EXIT_RUN_FAILED
            summary.failures.append(Failure("", "", "run_failed", f"{type(exc).__name__}: {exc}"))
            log.exception("run %s failed", run_id)
            raise
        finally:
            summary.wall_seconds = round(time.perf_counter() - started, 3)
            summary.audio_hours = round(audio_seconds / 3600, 4)
            summary.rtf = round(summary.wall_seconds / audio_seconds, 4) if audio_seconds else 0.0
            store.finish_run(run_id, summary.to_dict(), summary.status)
        return summary


def _fail(store: Any, summary: RunSummary, run_id: str, call: Call, reason: str, detail: str, notify: ProgressFn) -> None:
    summary.failed += 1
    summary.failures.append(Failure(call.audio_path, call.call_id, reason, detail.splitlines()[0] if detail else ""))
    store.quarantine(call.audio_path, reason, detail, run_id, call_id=call.call_id)
    notify("call_failed", {"call_id": call.call_id, "path": call.audio_path, "reason": reason, "detail": detail})


def write_summary_json(summary: RunSummary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
