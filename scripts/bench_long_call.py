"""Benchmark: the peak memory of `qa nightly` on one very long call (default 3 hours, 8 kHz stereo).

The call is built from real speech: the role-played customer-service call of ../shared/data/calls_en (agent
and caller as the two channels, 245 s) repeated to the length asked for. The night (that one call and its
manifest) goes through `qa nightly` in a subprocess with a cold transcript cache, while the peak RSS of the
process and its workers is sampled; the result is printed and the target (2 GB per worker) judged.

    .venv/bin/python scripts/bench_long_call.py                 # 3 hours, one worker
    .venv/bin/python scripts/bench_long_call.py --hours 0.5     # quicker
    .venv/bin/python scripts/bench_long_call.py --keep /tmp/long   # keep the call, the database and the log

Takes about as long as transcribing the call (RTF ~0.1 on two cores: ~20 minutes for 3 hours).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 2048


def shared_data() -> Path:
    return Path(os.environ.get("QA_SHARED_DATA") or ROOT.parent / "shared" / "data")


def build_call(folder: Path, hours: float) -> tuple[Path, float]:
    """``folder``/long_call.wav (the real call repeated) and its manifest; returns the path and its seconds."""
    source = shared_data() / "calls_en"
    agent, rate = sf.read(source / "Auto_Repairs_40_UTC_agent.wav", dtype="int16")
    caller, _ = sf.read(source / "Auto_Repairs_40_UTC_caller.wav", dtype="int16")
    n = min(len(agent), len(caller))
    pair = np.stack([agent[:n], caller[:n]], axis=1)
    repeats = max(1, int(np.ceil(hours * 3600 * rate / n)))
    path = folder / "long_call.wav"
    with sf.SoundFile(path, "w", rate, 2, subtype="PCM_16") as fh:
        for _ in range(repeats):  # written piece by piece: the benchmark itself stays small
            fh.write(pair)
    (folder / "manifest.csv").write_text(
        "call_id,path,agent_id,team,started_at,language,layout,agent_channel,call_type\n"
        "long_call,long_call.wav,bench_agent,bench_team,2026-11-20T09:00:00,en,stereo,0,inbound_service\n",
        encoding="utf-8")
    return path, repeats * n / rate


class PeakRss:
    """The largest RSS of any one process of the tree (the run, its workers), sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.root, self.peak, self.when = psutil.Process(pid), 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for proc in [self.root, *self.root.children(recursive=True)]:
                    rss = proc.memory_info().rss
                    if rss > self.peak:
                        self.peak, self.when = rss, time.perf_counter() - self._start
            except psutil.Error:
                pass
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=3.0, help="length of the call (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="qa nightly --workers (default 1)")
    parser.add_argument("--config", type=Path, help="a qa.yaml for the run")
    parser.add_argument("--keep", type=Path, help="build and run in this folder and keep it")
    args = parser.parse_args()
    if not (shared_data() / "calls_en").is_dir():
        print(f"needs {shared_data() / 'calls_en'} (set QA_SHARED_DATA)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="qa_long_call_") as tmp:
        work = args.keep or Path(tmp)
        night = work / "night"
        night.mkdir(parents=True, exist_ok=True)
        audio, seconds = build_call(night, args.hours)
        print(f"call: {audio} ({seconds / 3600:.2f} h, 8 kHz stereo, {audio.stat().st_size / 2**20:.0f} MB)", flush=True)
        env = dict(os.environ, QA_CACHE_DIR=str(work / "cache"), PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "qa_pipeline", "nightly", str(night), "--db", str(work / "qa.db"), "--quiet",
                   "--json", "--workers", str(args.workers), *(["--config", str(args.config)] if args.config else [])]
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = PeakRss(proc.pid)
        stdout, stderr = proc.communicate()
        sampler.stop()
        wall = time.perf_counter() - start
        # The kernel's high-water mark of the largest child, beside the sampled one (it misses no spike).
        hwm = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = json.loads(stdout) if stdout.strip().startswith("{") else {}
    peak = max(sampler.peak / 2**20, hwm)
    print(f"exit {proc.returncode} · {summary.get('processed', 0)} processed, {summary.get('failed', 0)} failed · "
          f"{wall:.0f} s wall (RTF {wall / seconds:.3f}) · stages {summary.get('stage_seconds', {})}")
    print(f"peak RSS {peak:.0f} MB (sampled {sampler.peak / 2**20:.0f} MB at {sampler.when:.0f} s, kernel "
          f"high-water mark {hwm:.0f} MB) · target <= {TARGET_MB} MB per worker: "
          f"{'met' if peak <= TARGET_MB else 'NOT met'}")
    if proc.returncode != 0:
        print(stderr[-2000:], file=sys.stderr)
    return 0 if proc.returncode == 0 and peak <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
