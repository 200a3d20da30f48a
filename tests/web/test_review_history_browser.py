"""Ownership and history of reviews in a real browser (Debian's chromium through Playwright), over the reference
database (no Whisper): signing in returns to the filtered queue; "claim the next call" keeps the filters; a coach
claims and reviews; another claims the finished call again and saves a new version with a reason; the call page
shows both versions; a claim is handed over; a QA lead sees coach-vs-coach agreement."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.review_helpers import users_db
from tests.web.test_web_browser import shot
from tests.web.web_helpers import PASSWORD, live_server, resolve_review


def sign_in(page, name: str) -> None:
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def one(db: Path, query: str, *params):
    with sqlite3.connect(db) as conn:
        return conn.execute(query, params).fetchone()


def test_review_versions_and_hand_over_in_the_browser(reference_db: Path, tmp_path: Path, browser) -> None:
    db = users_db(reference_db, tmp_path)
    team = one(db, "SELECT team FROM queue_items GROUP BY team ORDER BY min(priority) LIMIT 1")[0]
    first = one(db, "SELECT call_id FROM queue_items WHERE status='open' AND team=? ORDER BY priority DESC, call_id",
                team)[0]
    key = one(db, "SELECT f.finding_key FROM findings f JOIN calls c ON c.current_result_id=f.result_id"
                  " WHERE c.call_id=? AND (f.kind != 'script_step' OR f.status='fail') ORDER BY f.start", first)[0]
    with live_server(db) as base:
        coach1 = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        coach1.goto(f"{base}/queue?team={team}")
        assert "/login" in coach1.url
        sign_in(coach1, "coach1")
        assert coach1.url == f"{base}/queue?team={team}"  # back where the coach was, filters and all
        assert "(these filters)" in coach1.inner_text("#claim-next")
        coach1.click("#claim-next")
        coach1.wait_for_url(f"**/calls/{first}?msg=claimed")
        assert coach1.inner_text("#lease-holder") == "coach1"
        coach1.check(f"input[name='verdict_{key}'][value=confirm]")
        coach1.fill("textarea[name=notes]", "first look")
        resolve_review(coach1)
        coach1.wait_for_selector("p.flash")
        shot(coach1, tmp_path, "10_reviewed_v1")

        coach2 = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        coach2.goto(f"{base}/calls/{first}")
        sign_in(coach2, "coach2")
        assert coach2.url == f"{base}/calls/{first}"
        assert coach2.locator("#review-form").count() == 0  # no claim, no review form
        coach2.click("#claim")
        coach2.wait_for_url(f"**/calls/{first}?msg=claimed")
        coach2.check(f"input[name='verdict_{key}'][value=reject]")
        coach2.fill("textarea[name=reason]", "listened on the caller channel: not rude")
        resolve_review(coach2)
        coach2.wait_for_selector("p.flash")
        versions = coach2.locator("#history li.version")
        assert versions.count() == 2
        assert "v2" in versions.nth(0).inner_text() and "coach2" in versions.nth(0).inner_text()
        assert "listened on the caller channel: not rude" in versions.nth(0).inner_text()
        assert "v1" in versions.nth(1).inner_text() and "superseded" in versions.nth(1).inner_text()
        assert "first look" in versions.nth(1).inner_text()
        shot(coach2, tmp_path, "11_history_v2")

        # coach2 claims another call and hands it over to coach1, who then holds it.
        coach2.goto(f"{base}/queue")
        coach2.click("#claim-next")
        coach2.wait_for_url("**msg=claimed")
        second = coach2.url.split("/calls/")[1].split("?")[0]
        coach2.select_option("#handover select[name=to]", "coach1")
        coach2.click("#handover button")
        coach2.wait_for_url(f"**/calls/{second}?msg=handed_over")
        assert coach2.inner_text("#lease-holder") == "coach1" and coach2.locator("#review-form").count() == 0
        coach1.goto(f"{base}/calls/{second}")
        assert coach1.locator("#review-form").count() == 1

        lead = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        lead.goto(f"{base}/lead/calibration")
        sign_in(lead, "lead1")
        text = lead.inner_text("#coach-agreement")
        assert "two or more reviewers: 1" in text and "n = 1" in text
        assert lead.locator("tr[data-pair='coach1 vs coach2']").count() == 1
        shot(lead, tmp_path, "12_calibration")
    assert one(db, "SELECT count(*) FROM reviews WHERE call_id=? AND status='current'", first) == (1,)
    assert one(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", second) == ("coach1",)
