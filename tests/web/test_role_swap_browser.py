"""A coach swaps agent and caller on a mono call in a real browser (Debian's chromium through Playwright): the
call page says who decided, the transcript's speakers are exchanged, and after `qa nightly` processes the call
again under new versions (a rule put in assist mode) the swap is still applied to the new result."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.review_helpers import qa, users_db
from tests.web.test_review_history_browser import sign_in
from tests.web.test_web_browser import shot
from tests.web.web_helpers import live_server

MONO = "en_missing_greeting_mono"
SAMPLES = Path(__file__).resolve().parents[2] / "recordings_sample"


def speakers(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT speaker FROM segments WHERE call_id=? ORDER BY idx", (MONO,))]


@pytest.mark.slow
def test_a_coach_swaps_roles_and_a_later_nightly_keeps_them(reference_db: Path, tmp_path: Path, browser) -> None:
    db = users_db(reference_db, tmp_path)
    before = speakers(db)
    with live_server(db) as base:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{base}/calls/{MONO}")
        sign_in(page, "coach1")
        assert page.locator("#swap-roles").count() == 0  # only the holder of the claim may swap
        page.click("#claim")
        page.wait_for_url(f"**/calls/{MONO}?msg=claimed")
        page.fill("#swap-roles-form input[name=reason]", "the agent is the second voice")
        page.click("#swap-roles")
        page.wait_for_url(f"**/calls/{MONO}?msg=roles_swapped")
        history = page.inner_text("#role-history")
        assert "v1 current" in history and "coach1" in history and "the agent is the second voice" in history
        assert "set by a coach" in page.inner_text("#roles")
        shot(page, tmp_path, "20_roles_swapped")
    swapped = speakers(db)
    assert swapped == [{"agent": "caller", "caller": "agent"}[s] for s in before]

    # The next nights: the same call again, under new versions (a QA lead puts a rule in assist mode).
    header, *rows = (SAMPLES / "manifest.csv").read_text(encoding="utf-8").splitlines()
    row = next(r for r in rows if r.startswith(MONO + ","))
    manifest = tmp_path / "night.csv"
    manifest.write_text(header + "\n" + row.replace(",en_missing_greeting_mono.wav,",
                                                    f",{SAMPLES / 'en_missing_greeting_mono.wav'},") + "\n")
    qa("assist", "greeting", "--db", db, "--user", "lead1")
    qa("nightly", manifest, "--db", db)
    with sqlite3.connect(db) as conn:
        model, roles = conn.execute("SELECT r.model_id, json_extract(r.result_json, '$.roles.source') FROM calls c"
                                    " JOIN results r ON r.result_id = c.current_result_id WHERE c.call_id=?",
                                    (MONO,)).fetchone()
        machine = conn.execute("SELECT count(*) FROM results WHERE call_id=? AND model_id != 'reference'"
                               " AND json_extract(result_json, '$.roles.source') = 'voices'", (MONO,)).fetchone()[0]
    assert model != "reference" and roles == "coach" and machine == 1  # a new transcription, the coach's roles
    with live_server(db) as base:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{base}/calls/{MONO}")
        sign_in(page, "coach1")
        assert "set by a coach" in page.inner_text("#roles")
        assert "v1 current" in page.inner_text("#role-history")
