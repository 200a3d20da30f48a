"""Nightly batch: resume after kill -9, quarantine, lock, Ray == local.

These run the real pipeline (real Whisper on real/synthesized audio) on the three
shortest sample calls; transcripts are shared through the session cache.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

QA = [sys.executable, "-m", "qa_pipeline"]


def _sample_rows(n: int) -> list[dict[str, str]]:
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("layout", "stereo") == "stereo"]
    import soundfile as sf

    def duration(r: dict[str, str]) -> float:
        try:
            return sf.info(str(SAMPLES / r["path"])).duration
        except Exception:
            return 1e9

    return sorted(rows, key=duration)[:n]


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three good calls plus a corrupt and a truncated recording, with a manifest."""
    folder = tmp_path_factory.mktemp("night")
    rows = _sample_rows(3)
    for r in rows:
        src = SAMPLES / r["path"]
        shutil.copy(src, folder / src.name)
        r["path"] = src.name
    good_wav = next(SAMPLES.glob("*.wav"))
    (folder / "corrupt.wav").write_bytes(bytes(random.Random(1).randrange(256) for _ in range(50_000)))
    data = good_wav.read_bytes()
    (folder / "truncated.wav").write_bytes(data[: len(data) // 3])
    fields = list(rows[0].keys())
    extra = [dict(rows[0], call_id="bad-corrupt", path="corrupt.wav"),
             dict(rows[0], call_id="bad-truncated", path="truncated.wav")]
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows + extra)
    return folder


def _counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("select call_id, count(*) from results group by call_id").fetchall()
        return dict(rows)
    finally:
        con.close()


def test_nightly_quarantines_bad_files_and_completes(batch_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "qa.db"
    proc = subprocess.run([*QA, "nightly", str(batch_dir), "--db", str(db), "--quiet", "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 3, proc.stderr  # some recordings failed
    summary = json.loads(proc.stdout)
    assert summary["processed"] == 3 and summary["failed"] == 2
    reasons = {f["call_id"]: f["reason"] for f in summary["failures"]}
    assert reasons["bad-truncated"] == "truncated"
    assert reasons["bad-corrupt"] in ("corrupt", "unsupported")
    assert all(f["path"] for f in summary["failures"])
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from quarantine").fetchone()[0] == 2
    run = con.execute("select status from runs order by rowid desc limit 1").fetchone()
    assert run[0] == "partial"
    con.close()
    # A second run skips everything already processed and stores nothing twice.
    again = subprocess.run([*QA, "nightly", str(batch_dir), "--db", str(db), "--quiet", "--json"],
                           capture_output=True, text=True, timeout=900)
    second = json.loads(again.stdout)
    assert second["skipped"] == 3 and second["processed"] == 0
    assert all(n == 1 for n in _counts(db).values()) and len(_counts(db)) == 3


def test_kill_9_then_rerun_stores_every_call_exactly_once(batch_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "qa.db"
    env = dict(os.environ, QA_CACHE_DIR=str(tmp_path / "cold_cache"))  # cold: the run takes a while
    proc = subprocess.Popen([*QA, "nightly", str(batch_dir), "--db", str(db), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:
        if db.exists() and sum(_safe_counts(db).values()) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_before = _safe_counts(db)
    assert 1 <= sum(stored_before.values()) < 3, "kill should land mid-run"
    rerun = subprocess.run([*QA, "nightly", str(batch_dir), "--db", str(db), "--quiet", "--json"],
                           env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 3, rerun.stderr
    counts = _counts(db)
    assert len(counts) == 3 and all(n == 1 for n in counts.values()), counts
    con = sqlite3.connect(db)
    statuses = [r[0] for r in con.execute("select status from runs order by rowid")]
    assert statuses[0] == "killed" and statuses[-1] == "partial", statuses


def _safe_counts(db: Path) -> dict[str, int]:
    try:
        return _counts(db)
    except sqlite3.OperationalError:
        return {}


def test_second_concurrent_run_refuses(batch_dir: Path, tmp_path: Path) -> None:
    from qa_pipeline.batch.lock import RunLock

    db = tmp_path / "qa.db"
    with RunLock(db):
        proc = subprocess.run([*QA, "nightly", str(batch_dir), "--db", str(db), "--quiet"],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 75
    assert "already running" in proc.stderr


def test_ray_executor_matches_local(batch_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from qa_pipeline.batch.nightly import BatchOptions, run_nightly
    from qa_pipeline.config import load_config

    cfg = load_config(None)
    local = run_nightly(batch_dir, tmp_path / "local.db", cfg, BatchOptions())
    ray_run = run_nightly(batch_dir, tmp_path / "ray.db", cfg, BatchOptions(executor="ray", workers=1))
    assert (local.processed, local.failed) == (ray_run.processed, ray_run.failed) == (3, 2)

    def snapshot(db: Path) -> dict[str, object]:
        con = sqlite3.connect(db)
        out = {}
        for call_id, payload in con.execute("select call_id, result_json from results"):
            r = json.loads(payload)
            out[call_id] = (r["score"].get("total"),
                            sorted((f["kind"], f["rule_id"], f["speaker"], round(f["start"], 1)) for f in r["findings"]),
                            [s["text"] for s in r["transcript"]["segments"]])
        return out

    assert snapshot(tmp_path / "local.db") == snapshot(tmp_path / "ray.db")
