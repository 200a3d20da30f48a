"""A coach reviews a call with the keyboard only (issue 19, point 6) in a real browser (Debian's chromium through
Playwright) over the reference database: Enter claims (the claim button has the focus), ? shows the shortcuts
card, j/k move between findings (the timeline and the audio follow), c confirms, r rejects and types why,
Space plays and pauses, s resolves: with a finding left undecided the page warns first, and "Resolve anyway"
saves. The verdicts and the reason are in the database afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.review_helpers import flagged_call, users_db
from tests.web.test_web_browser import shot
from tests.web.web_helpers import PASSWORD, live_server


def selected_key(page) -> str:
    return page.evaluate("document.activeElement.getAttribute('data-key')")


def test_keyboard_only_review_with_the_undecided_warning(reference_db: Path, tmp_path: Path, browser) -> None:
    db = users_db(reference_db, tmp_path)
    call_id, findings = flagged_call(db, 3)
    keys = [k for k, _ in findings]
    with live_server(db) as base:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{base}/calls/{call_id}")
        page.keyboard.type("coach1")  # the sign-in form: the user name field has the focus
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/calls/{call_id}")
        assert page.evaluate("document.activeElement.id") == "claim"
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/calls/{call_id}?msg=claimed")
        assert page.inner_text("#lease-holder") == "coach1"

        page.keyboard.press("?")
        assert page.is_visible("#shortcut-help")
        page.keyboard.press("Escape")
        assert not page.is_visible("#shortcut-help")

        page.keyboard.press("j")
        assert selected_key(page) == keys[0]
        assert page.get_attribute(f"#findings-timeline rect[data-key='{keys[0]}']", "class").endswith("selected")
        page.keyboard.press("c")
        page.keyboard.press("j")
        assert selected_key(page) == keys[1]
        page.keyboard.press("r")
        assert page.evaluate("document.activeElement.name") == f"reason_{keys[1]}"
        page.keyboard.type("the caller said it")
        page.keyboard.press("Enter")  # back to the findings; the form is not sent
        assert selected_key(page) == keys[1] and "?msg=" in page.url and page.url.endswith("claimed")
        page.keyboard.press("k")
        assert selected_key(page) == keys[0]
        page.keyboard.press("j")

        page.keyboard.press(" ")
        page.wait_for_function("!document.getElementById('player').paused", timeout=10000)
        page.keyboard.press(" ")
        page.wait_for_function("document.getElementById('player').paused", timeout=10000)

        page.keyboard.press("s")  # the third finding (at least) has no verdict: a warning, nothing saved
        page.wait_for_selector("#undecided-warning", state="visible")
        left = len(keys) - 2
        assert page.inner_text("#undecided-count") == str(left)
        assert page.evaluate("document.activeElement.id") == "resolve-anyway"
        shot(page, tmp_path, "20_undecided_warning")
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM reviews").fetchone() == (0,)
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/calls/{call_id}?msg=saved")
    with sqlite3.connect(db) as conn:
        verdicts = conn.execute("SELECT finding_key, verdict, note FROM finding_verdicts ORDER BY finding_key").fetchall()
    assert verdicts == sorted([(keys[0], "confirm", ""), (keys[1], "reject", "the caller said it")])
