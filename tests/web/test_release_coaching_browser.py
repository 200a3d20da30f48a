"""Releasing reviews, acknowledging and disputing them, and coaching sessions in a real browser (Debian's chromium
through Playwright) over the reference database, each step by the role that does it: a QA lead releases a review
and the agent acknowledges it with a comment; an agent disputes a review once (a second is refused) and the QA
lead decides; a coach opens a coaching session from a call, the agent acknowledges it, the coach closes it."""

from __future__ import annotations

from pathlib import Path

from tests.review_helpers import flagged_call, review, sql, users_db
from tests.web.test_review_history_browser import sign_in
from tests.web.test_web_browser import shot
from tests.web.web_helpers import live_server


def agent_user(db: Path, call_id: str) -> str:
    return "agent_" + sql(db, "SELECT agent_id FROM calls WHERE call_id=?", call_id)[0][0]


def reviewed(db: Path, coach: str = "coach1") -> tuple[str, str, str]:
    """A flagged call reviewed by ``coach`` (its finding confirmed): (call_id, review_id, finding_key)."""
    from qa_pipeline.store.db import Store

    call_id, findings = flagged_call(db)
    store = Store(db)
    review_id = review(store, coach, call_id, verdicts={findings[0][0]: "confirm"}, notes="greet first",
                       coaching_action="listen to an exemplary call")
    store.close()
    return call_id, review_id, findings[0][0]


def new_page(browser, base: str, path: str, user: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{base}{path}")
    sign_in(page, user)
    return page


def test_lead_releases_and_the_agent_acknowledges_with_a_comment(reference_db: Path, tmp_path: Path,
                                                                 browser) -> None:
    db = users_db(reference_db, tmp_path)
    call_id, review_id, key = reviewed(db)
    agent = agent_user(db, call_id)
    with live_server(db) as base:
        them = new_page(browser, base, "/my", agent)
        assert call_id not in them.inner_text("table.mine")  # not released: not there
        assert them.goto(f"{base}/calls/{call_id}").status == 404

        lead = new_page(browser, base, "/lead/releases", "lead1")
        row = lead.locator(f"tr[data-review='{review_id}']")
        row.locator("button").click()
        lead.wait_for_selector("p.flash")
        assert lead.url.startswith(f"{base}/lead/releases")
        assert lead.locator(f"tr[data-review='{review_id}']").count() == 0
        lead.goto(f"{base}/calls/{call_id}")
        assert "Released to the agent" in lead.inner_text("#release-state")
        assert lead.locator("#release-form").count() == 0  # released: never again
        shot(lead, tmp_path, "20_released")

        them.goto(f"{base}/my")
        assert "to acknowledge" in them.inner_text(f"tr[data-call='{call_id}']")
        them.click(f"a[href='/calls/{call_id}']")
        them.wait_for_load_state("load")
        finding = them.locator(f"li.finding[data-key='{key}'] button.seek")
        assert finding.count() == 1  # the finding at its second in the recording
        seek = float(finding.get_attribute("data-seek"))
        finding.click()
        them.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {seek}) < 1.5",
                               timeout=10000)
        them.fill("#ack-form textarea[name=comment]", "understood: I will greet first")
        them.click("#acknowledge")
        them.wait_for_selector("p.flash")
        assert "understood: I will greet first" in them.inner_text("#ack-state")
        assert them.locator("#ack-form").count() == 0 and them.locator("#dispute-form").count() == 0
        shot(them, tmp_path, "21_acknowledged")
        them.goto(f"{base}/my")
        assert "understood: I will greet first" in them.inner_text(f"tr[data-call='{call_id}'] td.ack")
    assert sql(db, "SELECT agent_user, comment FROM review_acks WHERE review_id=?", review_id) == [
        (agent, "understood: I will greet first")]


def test_agent_disputes_once_and_the_lead_decides(reference_db: Path, tmp_path: Path, browser) -> None:
    db = users_db(reference_db, tmp_path)
    call_id, review_id, _ = reviewed(db)
    agent = agent_user(db, call_id)
    with live_server(db) as base:
        lead = new_page(browser, base, f"/calls/{call_id}", "lead1")
        assert "Not released to the agent yet" in lead.inner_text("#release-state")
        lead.click("#release-review")
        lead.wait_for_selector("p.flash")
        assert "Released to the agent" in lead.inner_text("#release-state")

        them = new_page(browser, base, f"/calls/{call_id}", agent)
        assert "disputes until" in them.inner_text("#release-state")
        token = them.locator("#dispute-form input[name=csrf]").get_attribute("value")
        them.fill("#dispute-form textarea[name=reason]", "the caller spoke first, I greeted after")
        them.click("#open-dispute")
        them.wait_for_selector("p.flash")
        assert them.locator("#dispute-form").count() == 0  # no second dispute form
        assert them.locator("#ack-form").count() == 0  # acknowledged after the decision
        again = them.request.post(f"{base}/reviews/{review_id}/dispute",
                                  form={"csrf": token, "reason": "and once more"})
        assert again.status == 409 and "already has an open dispute" in again.text()
        shot(them, tmp_path, "22_disputed")

        lead.goto(f"{base}/lead/disputes")
        row = lead.locator("table.disputes tbody tr").filter(has_text=call_id)
        row.locator("input[name=note]").fill("listened again: the greeting was missing")
        row.locator("button[value=upheld]").click()
        lead.wait_for_selector("p.flash")

        them.goto(f"{base}/calls/{call_id}")
        assert "upheld" in them.inner_text("#history")
        assert them.locator("#dispute-form").count() == 0
        them.click("#acknowledge")  # the decision stands; the agent acknowledges it
        them.wait_for_selector("#ack-state")
    assert sql(db, "SELECT status, resolved_by FROM disputes WHERE review_id=?", review_id) == [("upheld", "lead1")]
    assert sql(db, "SELECT count(*) FROM review_acks WHERE review_id=?", review_id) == [(1,)]


def test_coach_opens_a_session_the_agent_acknowledges_the_coach_closes(reference_db: Path, tmp_path: Path,
                                                                       browser) -> None:
    db = users_db(reference_db, tmp_path)
    call_id, review_id, key = reviewed(db)
    agent = agent_user(db, call_id)
    with live_server(db) as base:
        coach = new_page(browser, base, f"/calls/{call_id}", "coach1")
        coach.click("#coach-this")
        coach.wait_for_load_state("load")
        assert coach.input_value("#coaching-form input[name=calls]") == call_id
        assert coach.input_value("#coaching-form input[name=findings]") == key  # the finding the coach confirmed
        coach.fill("#coaching-form textarea[name=goals]", "greet the caller before anything else")
        coach.fill("#coaching-form input[name=due_date]", "2099-01-31")
        coach.click("#open-coaching")
        coach.wait_for_selector("p.flash")
        session_id = coach.url.split("/coaching/")[1].split("?")[0]
        assert coach.inner_text("#session-status") == "open"
        shot(coach, tmp_path, "23_coaching_opened")

        them = new_page(browser, base, "/my", agent)
        assert "open" in them.inner_text(f"tr[data-session='{session_id}'] td.status")
        them.click(f"a[href='/coaching/{session_id}']")
        them.wait_for_load_state("load")
        assert "greet the caller before anything else" in them.inner_text("#goals")
        assert them.locator("#coaching-close-form").count() == 0  # the agent does not close it
        them.fill("#coaching-ack-form textarea[name=comment]", "will do from tomorrow")
        them.click("#acknowledge-coaching")
        them.wait_for_selector("p.flash")
        assert them.inner_text("#session-status") == "acknowledged"
        assert them.locator("#coaching-ack-form").count() == 0

        coach.goto(f"{base}/coaching/{session_id}")
        assert "will do from tomorrow" in coach.inner_text("#session-ack")
        coach.select_option("#coaching-close-form select[name=outcome]", "met")
        coach.fill("#coaching-close-form textarea[name=note]", "greets first on the last five calls")
        coach.click("#close-coaching")
        coach.wait_for_selector("p.flash")
        assert coach.inner_text("#session-status") == "closed"
        assert "met" in coach.inner_text("#session-outcome") and coach.locator("#coaching-close-form").count() == 0
        coach.goto(f"{base}/coaching?status=closed")
        assert "closed" in coach.inner_text(f"tr[data-session='{session_id}'] td.status")
        shot(coach, tmp_path, "24_coaching_closed")
    assert sql(db, "SELECT status, acknowledged_by, outcome FROM coaching_sessions WHERE session_id=?",
               session_id) == [("closed", agent, "met")]
