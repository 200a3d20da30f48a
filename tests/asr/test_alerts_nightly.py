"""Alerts through `qa nightly` on real calls (real Whisper; issue 19.3): the issue's ``alerts:`` block delivers
one signed POST per auto-failed call to a local server, and a night whose webhook is down still finishes with
every call stored, exit 0 and the give-up in the run log. Two short sample calls: one with vulgar language (an
auto-fail of the packaged form), one compliant; the second test reuses the first one's transcripts (cache)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qa_pipeline.batch.alerts import verify
from tests.alert_helpers import Receiver, closed_port
from tests.conftest import SAMPLES

QA = [sys.executable, "-m", "qa_pipeline"]
CALLS = ("zh_banned_provocation", "en_compliant_address")


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("night")
    with open(SAMPLES / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["call_id"] in CALLS]
    for r in rows:
        shutil.copy(SAMPLES / r["path"], folder / r["path"])
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def run(night: Path, tmp_path: Path, url: str) -> tuple[subprocess.CompletedProcess, Path]:
    config = tmp_path / "qa.yaml"
    config.write_text("alerts:\n  base_url: http://qa.local:8000\n  webhooks:\n"
                      f"    - url: {url}\n      events: [auto_fail]\n      secret: s3cret\n", encoding="utf-8")
    db = tmp_path / "qa.db"
    proc = subprocess.run([*QA, "nightly", str(night), "--db", str(db), "--config", str(config), "--quiet", "--json"],
                          capture_output=True, text=True, timeout=900)
    return proc, db


def stored(db: Path) -> dict[str, bool]:
    with sqlite3.connect(db) as con:
        return {c: bool(a) for c, a in con.execute("SELECT call_id, auto_fail FROM scores")}


def log_lines(summary: dict) -> list[dict]:
    return [json.loads(line) for line in Path(summary["log_path"]).read_text(encoding="utf-8").splitlines()]


def test_nightly_posts_one_signed_alert_per_auto_failed_call(night: Path, tmp_path: Path) -> None:
    with Receiver() as receiver:
        proc, db = run(night, tmp_path, receiver.url)
    assert proc.returncode == 0, proc.stderr
    scores = stored(db)
    assert set(scores) == set(CALLS) and scores["zh_banned_provocation"] and not scores["en_compliant_address"]
    bodies = [json.loads(body) for _, body in receiver.posts]
    assert [b["call_id"] for b in bodies] == ["zh_banned_provocation"]  # one POST, for the auto-failed call only
    (headers, raw), = receiver.posts
    assert verify(raw, "s3cret", headers["X-QA-Signature"])
    body = bodies[0]
    assert (body["event"], body["agent_id"], body["team"], body["auto_fail"]) == ("auto_fail", "li_na", "cards_west", True)
    assert body["rule"] and body["url"].startswith("http://qa.local:8000/calls/zh_banned_provocation")
    summary = json.loads(proc.stdout)
    assert (summary["alerts_sent"], summary["alerts_given_up"]) == (1, 0)
    assert [(e["call_id"], e["alert"]) for e in log_lines(summary) if e["event"] == "alert_sent"] == [
        ("zh_banned_provocation", "auto_fail")]


def test_a_webhook_that_is_down_neither_stops_nor_fails_the_night(night: Path, tmp_path: Path) -> None:
    proc, db = run(night, tmp_path, f"http://127.0.0.1:{closed_port()}/qa")
    assert proc.returncode == 0, proc.stderr  # the exit status a cron job reads is the night's, not the alerts'
    assert set(stored(db)) == set(CALLS)
    summary = json.loads(proc.stdout)
    assert (summary["status"], summary["processed"], summary["alerts_sent"], summary["alerts_given_up"]) == (
        "done", 2, 0, 1)
    (gave_up,) = [e for e in log_lines(summary) if e["event"] == "alert_given_up"]
    assert (gave_up["call_id"], gave_up["attempts"]) == ("zh_banned_provocation", 3) and "refused" in gave_up["error"]
