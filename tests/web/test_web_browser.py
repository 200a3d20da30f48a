"""The review app in a real browser (Debian's chromium through Playwright): a coach reviews a flagged
call end to end, HR downloads a scorecard. Screenshots go to pytest's tmp dir and to $QA_SCREENSHOTS."""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import copy_db
from tests.web.web_helpers import PASSWORD, add_users, live_server, resolve_review


def shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("QA_SCREENSHOTS"):
        out = Path(os.environ["QA_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / path.name)


def sign_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def pick_flagged_call(db: Path) -> tuple[str, dict]:
    """The top open queue item that has a flagged finding with evidence at least 2 s into the call (plain SQL)."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT q.call_id, f.finding_key, f.start, f.rule_id FROM queue_items q"
            " JOIN calls c ON c.call_id = q.call_id JOIN findings f ON f.result_id = c.current_result_id"
            " WHERE q.status = 'open' AND f.kind != 'script_step' AND f.evidence != '' AND f.start >= 2"
            " ORDER BY q.priority DESC, q.call_id, f.start LIMIT 1").fetchone()
    assert row, "the sample database has no flagged call in the queue"
    return row["call_id"], dict(row)


def run_coach_flow(base: str, db: Path, browser, tmp_path: Path) -> None:
    call_id, finding = pick_flagged_call(db)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    sign_in(page, base, "coach1")
    assert page.url.endswith("/queue")
    assert page.locator(f"tr[data-call='{call_id}']").count() == 1
    shot(page, tmp_path, "01_queue")

    page.click(f"tr[data-call='{call_id}'] a")
    page.wait_for_url(f"**/calls/{call_id}")
    page.click("#claim")  # the review form comes with the claim
    page.wait_for_url(f"**/calls/{call_id}?msg=claimed")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=30000)
    duration = page.evaluate("document.getElementById('player').duration")
    assert duration > finding["start"]

    # Clicking a finding seeks the audio to its start.
    page.click(f"li.finding[data-key='{finding['finding_key']}'] button.seek")
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime - {finding['start']}) < 1.5", timeout=10000)
    at = page.evaluate("document.getElementById('player').currentTime")
    assert finding["start"] - 0.1 <= at < finding["start"] + 1.5

    # So does clicking a transcript line (a different one, to see it move).
    seg = page.locator("li.seg").nth(1)
    seg_start = float(seg.get_attribute("data-seek"))
    seg.locator(".text").click()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime - {seg_start}) < 1.5", timeout=10000)
    page.evaluate("document.getElementById('player').pause()")
    shot(page, tmp_path, "02_call")

    # One channel at a time: the agent's alone, at the same position.
    before = page.evaluate("document.getElementById('player').currentTime")
    page.click("button[data-channel=agent]")
    page.wait_for_function("() => document.getElementById('player').src.includes('channel=agent')"
                           " && document.getElementById('player').readyState >= 1", timeout=30000)
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {before}) < 1.5", timeout=10000)
    page.evaluate("document.getElementById('player').pause()")

    # Confirm the finding, give a human score, notes, resolve.
    page.check(f"input[name='verdict_{finding['finding_key']}'][value=confirm]")
    first_score = page.locator("input.score").first
    criterion = first_score.get_attribute("name")[len("score_"):]
    first_score.fill("5")
    page.fill("textarea[name=notes]", "confirmed in the browser test")
    page.fill("textarea[name=coaching_action]", "role-play the refusal")
    resolve_review(page)
    page.wait_for_selector("p.flash")
    assert "Review saved" in page.inner_text("p.flash")

    page.reload()
    page.wait_for_selector("#latest-review")
    assert page.is_checked(f"input[name='verdict_{finding['finding_key']}'][value=confirm]")
    assert page.input_value(f"input[name='score_{criterion}']") in ("5", "5.0")
    assert "confirmed in the browser test" in page.inner_text("#latest-review")
    shot(page, tmp_path, "03_call_reviewed")
    context.close()

    # Persisted: checked with plain SQL, not through the app's API.
    with sqlite3.connect(db) as conn:
        review_id, reviewer, notes, scores = conn.execute(
            "SELECT review_id, reviewer, notes, human_scores FROM reviews WHERE call_id=? ORDER BY rowid DESC LIMIT 1",
            (call_id,)).fetchone()
        assert (reviewer, notes) == ("coach1", "confirmed in the browser test")
        assert '"' + criterion + '": 5.0' in scores
        verdict = conn.execute("SELECT verdict FROM finding_verdicts WHERE review_id=? AND finding_key=?",
                               (review_id, finding["finding_key"])).fetchone()
        assert verdict == ("confirm",)
        assert conn.execute("SELECT status FROM queue_items WHERE call_id=?", (call_id,)).fetchone() == ("done",)
        actions = {r[0] for r in conn.execute("SELECT action FROM audit_log WHERE actor='coach1'")}
        assert {"login", "review.submit"} <= actions


@pytest.fixture()
def web_db(sample_db: Path, tmp_path: Path) -> Path:
    db = copy_db(sample_db, tmp_path)
    add_users(db)
    return db


def test_coach_reviews_a_flagged_call_in_the_browser(web_db: Path, browser, tmp_path: Path) -> None:
    with live_server(web_db) as base:
        run_coach_flow(base, web_db, browser, tmp_path)


def run_hr_download(base: str, db: Path, browser, tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    sign_in(page, base, "hr1")
    assert page.url.endswith("/scorecards")
    with sqlite3.connect(db) as conn:
        week = conn.execute("SELECT week FROM calls GROUP BY week ORDER BY count(*) DESC, week DESC LIMIT 1").fetchone()[0]
        agents = {r[0] for r in conn.execute("SELECT DISTINCT agent_id FROM calls WHERE week=?", (week,))}
    page.goto(f"{base}/scorecards?week={week}")
    shot(page, tmp_path, "04_scorecards")
    with page.expect_download() as info:
        page.click("#download-csv")
    path = info.value.path()
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows, text[:500]
    key = next(k for k in rows[0] if "agent" in k.lower())
    assert {r[key] for r in rows} == agents
    context.close()


def test_hr_downloads_a_scorecard_in_the_browser(web_db: Path, browser, tmp_path: Path) -> None:
    with live_server(web_db) as base:
        run_hr_download(base, web_db, browser, tmp_path)
