"""The coach loop through the CLI on real pipeline output: list, claim, show, review,
dispute, resolve, calibration; then re-processing leaves every review intact."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import yaml
from typer.testing import CliRunner

from qa_pipeline.cli import app
from tests.conftest import SAMPLES, copy_db

runner = CliRunner()


def qa(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def test_whole_review_loop_survives_reprocessing(sample_db: Path, tmp_path: Path) -> None:
    db = copy_db(sample_db, tmp_path)
    queue = json.loads(qa("queue", "list", "--db", db, "--json"))
    assert queue and [q["priority"] for q in queue] == sorted((q["priority"] for q in queue), reverse=True)
    assert any(q["source"] == "risk" for q in queue)

    qa("users", "add", "coach1", "--role", "coach", "--db", db)
    qa("users", "add", "lead1", "--role", "qa_lead", "--db", db)
    item = json.loads(qa("queue", "claim", "--db", db, "--user", "coach1", "--json"))
    assert item["call_id"] == queue[0]["call_id"]  # highest priority first
    call_id = item["call_id"]
    shown = json.loads(qa("queue", "show", call_id, "--db", db, "--json"))
    flagged = [f for f in shown["findings"] if f["kind"] != "script_step" or f["status"] == "fail"]
    assert len(flagged) >= 2, shown["findings"]
    agent = shown["call"]["agent_id"]
    qa("users", "add", "agent1", "--role", "agent", "--agent-id", agent, "--db", db)

    keep, drop = flagged[0]["finding_key"], flagged[1]["finding_key"]
    review = json.loads(qa("review", "submit", call_id, "--db", db, "--user", "coach1", "--confirm", keep,
                           "--reject", drop, "--score", "greeting=15", "--notes", "说话太冲", "--coaching",
                           "listen to exemplary call", "--json"))
    # HR cannot review; an agent cannot dispute someone else's review
    denied = runner.invoke(app, ["review", "submit", call_id, "--db", str(db), "--user", "agent1"])
    assert denied.exit_code == 2 and "needs coach" in denied.output
    qa("review", "release", review["review_id"], "--db", db, "--user", "lead1")  # the agent sees it from now
    dispute = json.loads(qa("dispute", "open", review["review_id"], "--reason", "客户先骂人", "--db", db,
                            "--user", "agent1", "--json"))
    qa("dispute", "resolve", dispute["dispute_id"], "--decision", "changed", "--reject", keep, "--note",
       "agreed after listening", "--db", db, "--user", "lead1")
    report = json.loads(qa("calibration", "--db", db, "--json", "--min-n", "1"))
    rules = {r["rule_id"]: r for r in report["rules"]}
    assert sum(r["confirmed"] + r["rejected"] for r in rules.values()) >= 2
    assert report["criteria"] and report["criteria"][0]["criterion"] == "greeting"

    import sqlite3

    con = sqlite3.connect(db)
    before = con.execute("SELECT review_id, call_id, result_id, notes FROM reviews ORDER BY review_id").fetchall()
    verdicts = con.execute("SELECT * FROM finding_verdicts ORDER BY review_id, finding_key").fetchall()
    audit = con.execute("SELECT actor, action FROM audit_log").fetchall()
    assert {a[1] for a in audit} >= {"queue.claim", "review.submit", "dispute.open", "dispute.resolve"}
    n_results = con.execute("SELECT count(*) FROM results").fetchone()[0]
    con.close()

    # Re-process every call with a new form version: a new machine result per call, reviews untouched.
    form = yaml.safe_load((Path(__file__).parents[2] / "qa_pipeline/defaults/forms/default.yaml").read_text())
    form["version"] = "2099.1"
    (tmp_path / "form.yaml").write_text(yaml.safe_dump(form, allow_unicode=True), encoding="utf-8")
    (tmp_path / "qa.yaml").write_text("form: form.yaml\n", encoding="utf-8")
    out = qa("nightly", SAMPLES, "--db", db, "--config", tmp_path / "qa.yaml", "--quiet", "--json")
    assert json.loads(out)["processed"] == n_results
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 2 * n_results
    assert con.execute("SELECT review_id, call_id, result_id, notes FROM reviews ORDER BY review_id").fetchall() == before
    assert con.execute("SELECT * FROM finding_verdicts ORDER BY review_id, finding_key").fetchall() == verdicts
    assert con.execute("SELECT status FROM queue_items WHERE call_id=?", (call_id,)).fetchone()[0] == "done"
    con.close()


def _claim_all(db: str, coach: str, out: mp.Queue) -> None:
    from qa_pipeline.store.db import Store
    from qa_pipeline.store.queue import claim

    store = Store(db)
    got = []
    while (item := claim(store, coach)) is not None:
        got.append(item["call_id"])
    out.put((coach, got))


def test_two_processes_never_claim_the_same_item(sample_db: Path, tmp_path: Path) -> None:
    db = copy_db(sample_db, tmp_path)
    import sqlite3

    con = sqlite3.connect(db)
    open_items = {r[0] for r in con.execute("SELECT call_id FROM queue_items WHERE status='open'")}
    con.close()
    assert len(open_items) >= 5
    from qa_pipeline.store.db import Store
    from qa_pipeline.store.users import add_user

    store = Store(db)
    for i in range(2):
        add_user(store, f"coach{i}", "coach")
    store.close()
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(db), f"coach{i}", results)) for i in range(2)]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    a, b = got["coach0"], got["coach1"]
    assert not set(a) & set(b), "an item was claimed twice"
    assert set(a) | set(b) == open_items and len(a) + len(b) == len(open_items)


def test_full_text_search_finds_mandarin_and_english(sample_db: Path) -> None:
    from qa_pipeline.store.db import Store

    store = Store(sample_db)
    english = store.search("Platinum Motors")
    assert any(r["call_id"] == "real_auto_repairs_40" for r in english)
    mandarin = store.search("信用卡")
    assert mandarin and all(r["call_id"].startswith("zh_") for r in mandarin)
    out = qa("search", "信用卡", "--db", sample_db)
    assert "zh_" in out


def test_queue_samples_unflagged_calls_and_marks_exemplary(sample_db: Path) -> None:
    from qa_pipeline.store.db import Store

    store = Store(sample_db)
    sources = {r["source"] for r in store.db.query("SELECT source FROM queue_items")}
    assert "risk" in sources
    flagged = {r["call_id"] for r in store.db.query("SELECT call_id FROM queue_items WHERE source='risk'")}
    assert "zh_banned_refusal" in flagged or "en_banned_refusal" in flagged


def test_an_emotional_agent_is_queued_ahead_of_the_same_call_without_it() -> None:
    # DESIGN.md: intervene early with agents whose emotion runs high.
    from qa_pipeline.config import QueueConfig
    from qa_pipeline.store.queue import risk

    row = {"auto_fail": 0, "agitation_agent": 0.3, "agitation_caller": 0.2, "asr_confidence": 0.9,
           "total": 90.0, "passed": 1}
    step = {"kind": "script_step", "rule_id": "recap", "status": "fail", "severity": "major"}
    temper = {"kind": "tone", "rule_id": "emotional_agent", "status": "", "severity": "major"}
    caller = {"kind": "tone", "rule_id": "emotional_caller", "status": "", "severity": "major"}
    defaults = QueueConfig()
    with_agent, reasons = risk(row, [step, temper], defaults)
    with_caller, _ = risk(row, [step, caller], defaults)
    assert with_agent == with_caller + defaults.emotional_agent_points
    assert "emotional agent: coach early" in reasons
