"""Where the per-call work runs: in this process, in worker processes that share the cores, or as Ray tasks.
Each yields (call, outcome) as results arrive; one bad call never stops the others."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from qa_pipeline.base.audio import AudioError
from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Call, to_dict
from qa_pipeline.errors import BatchError
from qa_pipeline.pipeline import analyze_call, warm_up


def process_call(call_dict: dict[str, Any], config: QAConfig, threads: int | None = None) -> dict[str, Any]:
    """The unit of work shipped to a worker or Ray task: never raises.

    Returns {"ok": CallResult dict} or {"error": {reason, detail}}.
    """

    call = Call(**call_dict)
    config = with_threads(config, threads)
    try:
        return {"ok": to_dict(analyze_call(call, config))}
    except AudioError as exc:
        return {"error": {"reason": exc.reason, "detail": exc.detail or str(exc)}}
    except MemoryError:
        return {"error": {"reason": "out_of_memory", "detail": "the recording needed more memory than available"}}
    except Exception as exc:  # one bad call must not stop the night
        tb = traceback.format_exc(limit=4)
        return {"error": {"reason": "processing_error", "detail": f"{type(exc).__name__}: {exc}\n{tb}"}}


def with_threads(config: QAConfig, threads: int | None) -> QAConfig:
    if not threads:
        return config
    return dataclasses.replace(config, asr=dataclasses.replace(config.asr, threads=threads))


def _pool_init(threads: int, config: QAConfig, mono: bool = False) -> None:
    # Each worker gets its share of the cores: CTranslate2, ONNX Runtime and
    # numpy would otherwise each start one thread per core in every worker.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)

    warm_up(with_threads(config, threads), mono)


def _has_mono(calls: list[Call]) -> bool:
    """Whether the manifest declares mono calls (a directory scan declares none: the encoder then loads lazily)."""
    return any(call.layout == "mono" for call in calls)


def run_local(calls: list[Call], config: QAConfig, workers: int, threads: int) -> Iterator[tuple[Call, dict[str, Any]]]:
    if workers <= 1:

        if calls:
            warm_up(with_threads(config, threads), _has_mono(calls))
        for call in calls:
            yield call, process_call(dataclasses.asdict(call), config, threads)
        return

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


def run_ray(calls: list[Call], config: QAConfig, workers: int, threads: int, address: str | None) -> Iterator[tuple[Call, dict[str, Any]]]:
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
