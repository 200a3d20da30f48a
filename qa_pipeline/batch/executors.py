"""Where the per-call work runs: in this process, in worker processes that share the cores, or as Ray tasks.
Each yields (call, outcome) as results arrive; one bad call never stops the others, but a fault of the whole
run (a model that cannot serve, a full disk) does: the outcome is "fatal" and the run stops.

Worker processes die with the run that started them: a ``kill -9`` of ``qa nightly --workers 2`` leaves no
worker behind (PR_SET_PDEATHSIG, and a watchdog of the parent's pid), and a run that stops on an error or a
Ctrl-C stops its workers at once instead of waiting for the calls they hold."""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from qa_pipeline.base.audio import AudioError
from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Call, to_dict
from qa_pipeline.errors import ConfigError, ModelError, StorageError
from qa_pipeline.pipeline import analyze_calls, warm_up


def process_calls(call_dicts: list[dict[str, Any]], config: QAConfig, threads: int | None = None) -> list[dict[str, Any]]:
    """The unit of work shipped to a worker or a Ray task: several calls whose speech windows are decoded
    together (pipeline.analyze_calls); one outcome per call, in the order given: {"ok": CallResult dict},
    {"error": {reason, detail}} (this call is quarantined) or {"fatal": {kind, message}} (no call can succeed:
    kind "config" or "storage"). Never raises: a call that fails is that call's outcome alone."""
    return list(iter_outcomes(call_dicts, config, threads))


def iter_outcomes(call_dicts: list[dict[str, Any]], config: QAConfig, threads: int | None = None) -> Iterator[dict[str, Any]]:
    """process_calls, yielding each call's outcome as soon as that call is finished."""
    calls = [Call(**c) for c in call_dicts]
    config = with_threads(config, threads)
    done = 0
    try:
        for _call, result in analyze_calls(calls, config):
            done += 1
            yield outcome(result)
    except Exception as exc:  # noqa: BLE001 - a fault of the batch itself: every call left gets it
        for _ in calls[done:]:
            yield outcome(exc)


def outcome(result: Any) -> dict[str, Any]:
    """A CallResult, or the exception that stopped one call, as the outcome the single writer reads."""
    if not isinstance(result, BaseException):
        return {"ok": to_dict(result)}
    exc = result
    if isinstance(exc, AudioError):
        return {"error": {"reason": exc.reason, "detail": exc.detail or str(exc)}}
    if isinstance(exc, (ConfigError, ModelError)):  # what check_config could not see (a damaged model file…)
        return {"fatal": {"kind": "config", "message": str(exc)}}
    if isinstance(exc, StorageError):
        return {"fatal": {"kind": "storage", "message": str(exc)}}
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        where = f"{exc.filename}: " if exc.filename else ""  # the transcript cache or the audio scratch
        return {"fatal": {"kind": "storage", "message": f"the disk is full ({where}{exc.strerror})"}}
    if isinstance(exc, MemoryError):
        return {"error": {"reason": "out_of_memory", "detail": "the recording needed more memory than available"}}
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=4))
    return {"error": {"reason": "processing_error", "detail": f"{type(exc).__name__}: {exc}\n{tb}"}}


def batches(calls: list[Call], size: int) -> list[list[Call]]:
    """The night's calls in groups of ``size`` (consecutive, so that results arrive in the night's order)."""
    size = max(1, size)
    return [calls[i : i + size] for i in range(0, len(calls), size)]


def with_threads(config: QAConfig, threads: int | None) -> QAConfig:
    if not threads:
        return config
    return dataclasses.replace(config, asr=dataclasses.replace(config.asr, threads=threads))


def fatal_error(outcome: dict[str, Any]) -> Exception | None:
    """The error that stops the run, for a "fatal" outcome."""
    fatal = outcome.get("fatal")
    if not fatal:
        return None
    return StorageError(fatal["message"]) if fatal["kind"] == "storage" else ModelError(fatal["message"])


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Make this worker die when ``parent`` does: the kernel sends SIGKILL when the parent exits however it
    exits (Linux), and a watchdog thread covers other systems and a parent that died before the prctl."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="qa-parent-watchdog", daemon=True).start()


def _pool_init(threads: int, config: QAConfig, mono: bool = False, parent: int = 0) -> None:
    die_with_parent(parent)
    # Ctrl-C and systemd's SIGTERM reach the whole process group; they are the run's to handle (it records
    # itself as interrupted and kills its workers), not a reason for a worker to die mid-call and be counted
    # as a crash. A killed run takes its workers with it (die_with_parent).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # Each worker gets its share of the cores: CTranslate2, ONNX Runtime and
    # numpy would otherwise each start one thread per core in every worker.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)

    warm_up(with_threads(config, threads), mono)


def _has_mono(calls: list[Call]) -> bool:
    """Whether the manifest declares mono calls (a directory scan declares none: the encoder then loads lazily)."""
    return any(call.layout == "mono" for call in calls)


def run_local(calls: list[Call], config: QAConfig, workers: int, threads: int,
              batch_calls: int = 1) -> Iterator[tuple[Call, dict[str, Any]]]:
    """Each task is ``batch_calls`` calls decoded together; a task whose worker died is run again one call per
    task, so that the call that kills a worker is the only one quarantined."""
    if workers <= 1:

        if calls:
            warm_up(with_threads(config, threads), _has_mono(calls))
        for group in batches(calls, batch_calls):
            yield from zip(group, iter_outcomes([dataclasses.asdict(c) for c in group], config, threads))
        return

    ctx = mp.get_context("spawn")  # no fork after ONNX/CTranslate2 threads exist
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pool_init,
                               initargs=(threads, config, _has_mono(calls), os.getpid()))
    finished = False
    try:
        pending: dict[Any, list[Call]] = {}
        queue = batches(calls, batch_calls)
        while queue or pending:
            while queue and len(pending) < workers * 2:
                group = queue.pop(0)
                pending[pool.submit(process_calls, [dataclasses.asdict(c) for c in group], config, threads)] = group
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                group = pending.pop(fut)
                try:
                    outcomes = fut.result()
                except Exception as exc:  # a worker died (e.g. killed by the OOM killer)
                    if len(group) > 1:
                        queue[:0] = [[c] for c in group]
                        continue
                    outcomes = [{"error": {"reason": "worker_crashed", "detail": f"{type(exc).__name__}: {exc}"}}]
                yield from zip(group, outcomes)
        finished = True
    finally:
        _stop(pool, finished)


def _stop(pool: ProcessPoolExecutor, finished: bool) -> None:
    """Shut the pool down; when the run stops early (an error, Ctrl-C), end the workers now rather than after
    the calls they hold, whose results nobody would store."""
    if finished:
        pool.shutdown(wait=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # CPython's own table of workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(10)


def run_ray(calls: list[Call], config: QAConfig, workers: int, threads: int, address: str | None,
            batch_calls: int = 1) -> Iterator[tuple[Call, dict[str, Any]]]:
    """A Ray task is ``batch_calls`` calls decoded together (process_calls), as a local worker's."""
    import ray  # run_nightly checked that it is installed
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers * threads), include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=threads, max_retries=1)(process_calls)
        config_ref = ray.put(config)
        refs: dict[Any, list[Call]] = {}
        queue = batches(calls, batch_calls)
        # Bounded in-flight work: a cluster of any size streams results back while
        # the driver's memory stays flat for a night of thousands of calls.
        limit = max(2, int(ray.available_resources().get("CPU", workers)) // max(1, threads) * 2)
        while queue or refs:
            while queue and len(refs) < limit:
                group = queue.pop(0)
                refs[remote.remote([dataclasses.asdict(c) for c in group], config_ref, threads)] = group
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                group = refs.pop(ref)
                try:
                    outcomes = ray.get(ref)
                except Exception as exc:
                    if len(group) > 1:  # run again one call a task: only the call that kills a worker fails
                        queue[:0] = [[c] for c in group]
                        continue
                    outcomes = [{"error": {"reason": "worker_crashed", "detail": f"{type(exc).__name__}: {exc}"}}]
                yield from zip(group, outcomes)
    finally:
        if started_here:
            ray.shutdown()
