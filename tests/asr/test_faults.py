"""Fault injection, part 2: the faults that need real calls running (real Whisper on the shortest committed
sample calls; transcripts shared through the session cache where the test allows it).

- recordings that cannot be calls, beside good ones, in a manifest and in a folder scan given as a relative
  path: each reported with path and reason, the good ones stored with absolute paths (exit 3);
- kill -9 of a run with one and with two workers, and SIGTERM: no worker outlives the run, and a re-run
  stores every call exactly once;
- a full disk (a small tmpfs, mounted when the tests run as root): one clear line, exit 6, nothing stored
  lost, and a re-run after space is freed completes;
- a model that breaks only when loaded: the run stops (exit 4) instead of quarantining every call.

The faults that stop a run before any call are in tests/unit/test_batch_faults.py."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import soundfile as sf

from tests.conftest import SAMPLES

QA = [sys.executable, "-m", "qa_pipeline"]
ROOT = Path(__file__).resolve().parents[2]


def _shortest_stereo_rows(n: int) -> list[dict[str, str]]:
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("layout", "stereo") == "stereo"]
    return sorted(rows, key=lambda r: sf.info(str(SAMPLES / r["path"])).duration)[:n]


def _night(folder: Path, n: int, extra: list[dict[str, str]] = ()) -> list[dict[str, str]]:
    """``folder`` with copies of the ``n`` shortest stereo sample calls and a manifest of them plus ``extra``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = _shortest_stereo_rows(n)
    for r in rows:
        shutil.copy(SAMPLES / r["path"], folder / Path(r["path"]).name)
        r["path"] = Path(r["path"]).name
    template = rows[0]
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(template))
        writer.writeheader()
        writer.writerows(rows + [dict(template, **e) for e in extra])
    return rows


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QA, "nightly", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=dict(env or os.environ, PYTHONPATH=str(ROOT)))


def _query(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _stored(db: Path) -> dict[str, int]:
    try:
        return dict(_query(db, "SELECT call_id, count(*) FROM results GROUP BY call_id"))
    except sqlite3.OperationalError:  # not created yet
        return {}


def _unusual_entries(folder: Path) -> None:
    (folder / "gone.wav").symlink_to(folder / "deleted_long_ago.wav")
    (folder / "x.wav").mkdir()
    os.mkfifo(folder / "pipe.wav")
    (folder / "minutes.flac").write_text("Minutes of the Monday meeting\nAttendees: ...\n" * 20, encoding="utf-8")
    (folder / "zero.wav").write_bytes(b"")


# ------------------------------------------------------------------ files that are not calls


def test_every_recording_not_processed_is_reported_and_the_good_ones_are_stored(tmp_path: Path) -> None:
    night = tmp_path / "night"
    names = ("gone.wav", "x.wav", "pipe.wav", "minutes.flac", "zero.wav", "never_copied.wav")
    good = _night(night, 2, [{"call_id": f"bad_{Path(n).stem}", "path": n} for n in names])
    _unusual_entries(night)
    db = tmp_path / "qa.db"
    proc = _run(night, "--db", db, "--json", timeout=900)  # a pipe opened would hang until the timeout
    assert proc.returncode == 3, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["processed"], summary["failed"], summary["discovered"]) == (2, 6, 8)
    reasons = {f["call_id"]: (f["reason"], f["detail"]) for f in summary["failures"]}
    assert reasons["bad_gone"][0] == "not_found" and "symbolic link to nothing" in reasons["bad_gone"][1]
    assert reasons["bad_x"] == ("not_a_file", "a directory, not a regular file")
    assert reasons["bad_pipe"] == ("not_a_file", "a named pipe (FIFO), not a regular file")
    assert reasons["bad_minutes"][0] == "unsupported" and reasons["bad_minutes"][1].startswith("a text file, not audio")
    assert reasons["bad_zero"] == ("empty", "zero bytes")
    assert reasons["bad_never_copied"][0] == "not_found"
    # The quarantine and the run log carry each one, with its absolute path.
    quarantined = dict(_query(db, "SELECT call_id, path FROM quarantine"))
    assert quarantined == {f"bad_{Path(n).stem}": str(night / n) for n in names}
    events = [json.loads(line) for line in Path(summary["log_path"]).read_text(encoding="utf-8").splitlines()]
    assert {e["call_id"] for e in events if e["event"] == "call_failed"} == set(reasons)
    stored = dict(_query(db, "SELECT call_id, audio_path FROM calls"))
    assert stored == {r["call_id"]: str(night / r["path"]) for r in good}


def test_a_relative_folder_stores_absolute_paths_and_reports_what_it_skips(tmp_path: Path) -> None:
    night = tmp_path / "2026-11-20"
    rows = _night(night, 1)
    (night / "manifest.csv").unlink()
    (night / rows[0]["path"]).rename(night / "a1023_20261120T091405_c1001.flac")
    _unusual_entries(night)
    (night / "minutes.flac").rename(night / "a2047_20261120T100000_c1002.flac")
    (night / "zero.wav").rename(night / "a2047_20261120T110000_c1003.wav")
    shutil.copy(night / "a1023_20261120T091405_c1001.flac", night / "recording 7.flac")
    (night / "export.log").write_text("done\n")
    proc = _run("2026-11-20", "--db", "qa.db", "--json", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["processed"] == 1 and summary["ignored"] == 1
    assert {Path(f["path"]).name: f["reason"] for f in summary["failures"]} == {
        "gone.wav": "not_found", "x.wav": "not_a_file", "pipe.wav": "not_a_file", "recording 7.flac": "bad_name",
        "a2047_20261120T100000_c1002.flac": "unsupported", "a2047_20261120T110000_c1003.wav": "empty"}
    assert all(Path(f["path"]).is_absolute() for f in summary["failures"])
    (path,) = [p for (p,) in _query(tmp_path / "qa.db", "SELECT audio_path FROM calls")]
    assert path == str(night / "a1023_20261120T091405_c1001.flac")  # playable from any working directory
    assert _query(tmp_path / "qa.db", "SELECT agent_id, started_at FROM calls") == [("a1023", "2026-11-20T09:14:05")]


# ------------------------------------------------------------------ killed runs: no orphans, nothing lost


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("workers, sig", [(1, signal.SIGKILL), (2, signal.SIGKILL), (2, signal.SIGTERM)],
                         ids=["one-worker-kill9", "two-workers-kill9", "two-workers-sigterm"])
def test_killed_run_leaves_no_worker_and_a_rerun_stores_every_call_once(tmp_path: Path, workers: int, sig: int) -> None:
    night = tmp_path / "night"
    rows = _night(night, 4)
    db = tmp_path / "qa.db"
    env = dict(os.environ, QA_CACHE_DIR=str(tmp_path / "cold_cache"), PYTHONPATH=str(ROOT))  # cold: the run takes a while
    # (one call a batch: the kill must land between stored calls, which a batch of four would store at once)
    proc = subprocess.Popen([*QA, "nightly", str(night), "--db", str(db), "--quiet", "--workers", str(workers),
                             "--batch-calls", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        run = psutil.Process(proc.pid)
        if workers > 1:
            _wait(lambda: len([c for c in run.children() if "python" in c.name().lower()]) >= workers, 300, "the workers")
        _wait(lambda: sum(_stored(db).values()) >= 1, 600, "the first stored call")
        children = run.children(recursive=True)
        assert len(children) >= (workers if workers > 1 else 0)
        if sig == signal.SIGTERM:
            os.killpg(proc.pid, sig)  # as systemd stops a unit: every process of the group at once
        else:
            proc.send_signal(sig)  # kill -9 of the run alone
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    if sig == signal.SIGTERM:
        assert code == 130, stderr
        assert _query(db, "SELECT status FROM runs ORDER BY rowid DESC LIMIT 1") == [("interrupted",)]
        assert _query(db, "SELECT count(*) FROM quarantine") == [(0,)]  # no call blamed for the stop
    else:
        assert code == -signal.SIGKILL
    _wait(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), 15,
          f"the workers {[c.pid for c in children]} to die with the run")
    stored_before = _stored(db)
    assert 1 <= sum(stored_before.values()) < len(rows), "the kill should land mid-run"
    rerun = subprocess.run([*QA, "nightly", str(night), "--db", str(db), "--quiet", "--json"], env=env,
                           capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == sum(stored_before.values())
    counts = _stored(db)
    assert set(counts) == {r["call_id"] for r in rows} and set(counts.values()) == {1}, counts
    statuses = [s for (s,) in _query(db, "SELECT status FROM runs ORDER BY rowid")]
    assert statuses == ["interrupted" if sig == signal.SIGTERM else "killed", "done"], statuses


# ------------------------------------------------------------------ a full disk


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 64 MB tmpfs, if this machine lets the tests mount one (root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk test needs a small filesystem")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    block = b"\0" * (1 << 16)
    with open(filler, "ab", buffering=0) as fh:  # unbuffered: nothing left to fail again at close
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_disk_stops_the_run_in_one_line_and_a_rerun_completes(tmp_path: Path, small_disk: Path) -> None:
    night = tmp_path / "night"
    rows = _night(night, 3)
    db = small_disk / "qa.db"
    env = dict(os.environ, QA_CACHE_DIR=str(tmp_path / "cold_cache"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([*QA, "nightly", str(night), "--db", str(db), "--quiet", "--batch-calls", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: sum(_stored(db).values()) >= 1 or proc.poll() is not None, 600, "the first stored call")
    filler = _fill(small_disk)  # the disk fills up between two calls
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 6, (stdout, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "disk is full" in lines[0], stderr
    assert "stopped after storing" in lines[0] and "run again" in lines[0]
    stored = _stored(db)
    assert 1 <= sum(stored.values()) < len(rows) and set(stored.values()) == {1}
    filler.unlink()
    rerun = subprocess.run([*QA, "nightly", str(night), "--db", str(db), "--quiet", "--json"], env=env,
                           capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    counts = _stored(db)
    assert set(counts) == {r["call_id"] for r in rows} and set(counts.values()) == {1}, counts
    assert _query(db, "PRAGMA quick_check") == [("ok",)]
    queued = {c for (c,) in _query(db, "SELECT call_id FROM queue_items")}
    assert queued and queued <= set(counts)  # the queue was rebuilt over every call


# ------------------------------------------------------------------ a model that fails only when it loads


def test_a_model_that_cannot_load_stops_the_run_instead_of_quarantining_every_call(tmp_path: Path) -> None:
    models = Path(os.environ.get("QA_MODELS_DIR") or ROOT / "models")
    source = models / "whisper-base"
    if not (source / "config.json").is_file():
        pytest.skip(f"needs the placed whisper-base model in {models}")
    broken = tmp_path / "whisper-broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(source / name, broken / name)
    (broken / "model.bin").write_bytes((source / "model.bin").read_bytes()[:4096])  # cut short
    (tmp_path / "qa.yaml").write_text(f"asr: {{model: {broken}}}\n", encoding="utf-8")
    night = tmp_path / "night"
    _night(night, 2)
    db = tmp_path / "qa.db"
    proc = _run(night, "--db", db, "--quiet", "--config", tmp_path / "qa.yaml",
                env=dict(os.environ, QA_CACHE_DIR=str(tmp_path / "cold_cache")))
    assert proc.returncode == 4, proc.stderr
    assert "cannot load Whisper model" in proc.stderr and "Traceback" not in proc.stderr
    assert _query(db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert _stored(db) == {}
    assert _query(db, "SELECT status FROM runs") == [("failed",)]
