"""Validation at the API boundary (issue 16, point 2): every human input is checked by one layer in the store
(qa_pipeline.store.validate), so the CLI (exit 2) and the web app (HTTP 4xx with the security headers) refuse
the same inputs with the same message, and nothing is stored."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.review_helpers import flagged_call, qa, sql, users_db, web
from tests.web.web_helpers import csrf_of


@pytest.fixture(scope="module")
def db(reference_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return users_db(reference_db, tmp_path_factory.mktemp("validation"))


def criteria(db: Path, call_id: str) -> dict[str, float]:
    breakdown = sql(db, "SELECT s.breakdown FROM calls c JOIN scores s ON s.result_id=c.current_result_id"
                        " WHERE c.call_id=?", call_id)[0][0]
    return {c["id"]: c["weight"] for c in json.loads(breakdown)["criteria"]}


def bad_scores(db: Path, call_id: str) -> list[tuple[str, str, str]]:
    """(criterion, points, what the message says) for scores that must be refused."""
    cid, weight = next(iter(criteria(db, call_id).items()))
    return [(cid, str(weight + 1), "between 0 and its weight"), (cid, "-1", "between 0 and its weight"),
            (cid, "nan", "finite"), (cid, "inf", "finite"), (cid, "-inf", "finite"), (cid, "lots", "a number"),
            ("no_such_criterion", "1", "has no criterion")]


def test_bad_human_scores_are_refused_by_the_cli_and_the_web_alike(db: Path) -> None:
    call_id, _ = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    coach = web(db, "coach1")
    token = csrf_of(coach.get("/queue").text)
    for cid, points, says in bad_scores(db, call_id):
        out = qa("review", "submit", call_id, "--db", db, "--user", "coach1", "--score", f"{cid}={points}", code=2)
        assert says in out.output, (cid, points, out.output)
        resp = coach.post(f"/calls/{call_id}/review", data={"csrf": token, f"score_{cid}": points})
        assert resp.status_code == 400 and says in resp.text, (cid, points, resp.status_code)
        assert resp.headers["content-security-policy"].startswith("default-src 'self'")
    assert sql(db, "SELECT count(*) FROM reviews") == [(0,)]
    # The edges are fine: 0 and the full weight.
    cid, weight = next(iter(criteria(db, call_id).items()))
    qa("review", "submit", call_id, "--db", db, "--user", "coach1", "--score", f"{cid}={weight:g}")
    assert json.loads(sql(db, "SELECT human_scores FROM reviews WHERE call_id=?", call_id)[0][0]) == {cid: weight}


def test_texts_over_their_limit_or_with_control_characters_are_refused(db: Path) -> None:
    call_id = sql(db, "SELECT call_id FROM queue_items WHERE status='open' ORDER BY priority DESC LIMIT 1 OFFSET 1")[0][0]
    qa("queue", "claim", call_id, "--db", db, "--user", "coach2")
    for field, flag, value, says in (("notes", "--notes", "x" * 5001, "at most 5000"),
                                     ("coaching_action", "--coaching", "y" * 2001, "at most 2000"),
                                     ("notes", "--notes", "bell\x07", "control character")):
        out = qa("review", "submit", call_id, "--db", db, "--user", "coach2", flag, value, code=2)
        assert says in out.output and field in out.output
        coach = web(db, "coach2")
        resp = coach.post(f"/calls/{call_id}/review", data={"csrf": csrf_of(coach.get("/queue").text), field: value})
        assert resp.status_code == 400 and says in resp.text
    assert sql(db, "SELECT count(*) FROM reviews WHERE call_id=?", call_id) == [(0,)]
    # Nothing is cut short behind the user's back: 5000 characters are kept whole.
    qa("review", "submit", call_id, "--db", db, "--user", "coach2", "--notes", "z" * 5000)
    assert sql(db, "SELECT length(notes) FROM reviews WHERE call_id=?", call_id) == [(5000,)]


@pytest.mark.parametrize("week", ["2026-W99", "2026-W00", "2027-W53", "2026-w47", "W47", "2026-W4"])
def test_a_week_that_does_not_exist_is_a_4xx_with_a_message(db: Path, week: str) -> None:
    hr, coach = web(db, "hr1"), web(db, "coach1")
    for client, path in ((hr, "/scorecards"), (hr, "/scorecards/export"), (coach, "/queue")):
        resp = client.get(path, params={"week": week, "fmt": "csv"})
        assert resp.status_code == 400, (path, week, resp.status_code)
        assert week in resp.text or "2026-W47" in resp.text
        assert resp.headers["x-content-type-options"] == "nosniff" and resp.headers["cache-control"] == "no-store"
    out = qa("scorecard", "--week", week, "--db", db, code=2)
    assert "week" in out.output
    qa("queue", "list", "--week", week, "--db", db, code=2)


def test_a_week_53_that_exists_is_fine(db: Path) -> None:
    assert web(db, "hr1").get("/scorecards", params={"week": "2026-W53"}).status_code == 200  # 2026 has 53 weeks
    qa("scorecard", "--week", "2026-W53", "--db", db)


@pytest.mark.parametrize("day", ["2026-02-30", "2026-13-01", "yesterday"])
def test_a_day_that_does_not_exist_is_refused(db: Path, day: str) -> None:
    resp = web(db, "coach1").get("/queue", params={"day": day})
    assert resp.status_code == 400 and day in resp.text
    assert "date" in qa("queue", "list", "--day", day, "--db", db, code=2).output
    assert "date" in qa("report", "daily", "--date", day, "--db", db, code=2).output


def test_an_internal_error_still_carries_the_security_headers(db: Path, tmp_path: Path) -> None:
    """A real failure (a table gone) answers 500 with an error page and the same headers as every page."""
    import sqlite3

    from tests.conftest import copy_db

    broken = copy_db(db, tmp_path)
    week = sql(broken, "SELECT week FROM calls LIMIT 1")[0][0]
    hr = web(broken, "hr1")
    with sqlite3.connect(broken) as conn:
        conn.execute("DROP TABLE scores")
    resp = hr.get("/scorecards", params={"week": week})
    assert resp.status_code == 500 and "Traceback" not in resp.text
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options", "cache-control"):
        assert header in resp.headers, header


def test_verdicts_must_name_a_finding_once_with_one_verdict(db: Path) -> None:
    call_id, findings = flagged_call(db)
    rows = sql(db, "SELECT f.finding_key, f.rule_id FROM findings f JOIN calls c ON c.current_result_id=f.result_id"
                   " WHERE c.call_id=?", call_id)
    key, rule = next((k, r) for k, r in rows if sum(r2 == r for _, r2 in rows) == 1)
    qa("queue", "claim", call_id, "--db", db, "--user", "lead1")
    out = qa("review", "submit", call_id, "--db", db, "--user", "lead1", "--confirm", key, "--reject", rule, code=2)
    assert "both verdicts" in out.output
    assert "no finding" in qa("review", "submit", call_id, "--db", db, "--user", "lead1", "--confirm", "nope",
                              code=2).output
    coach = web(db, "lead1")
    resp = coach.post(f"/calls/{call_id}/review", data={"csrf": csrf_of(coach.get("/queue").text),
                                                        "verdict_nope": "confirm"})
    assert resp.status_code == 400 and "no finding" in resp.text


def test_queue_filters_and_claim_lengths_are_checked(db: Path) -> None:
    assert "finding kind" in qa("queue", "list", "--kind", "bogus", "--db", db, code=2).output
    resp = web(db, "coach1").get("/queue", params={"kind": "bogus"})
    assert resp.status_code == 400 and "finding kind" in resp.text
    for minutes in ("-5", "0", "nan", "100000"):
        out = qa("queue", "claim", "--db", db, "--user", "coach1", "--ttl-minutes", minutes, code=2)
        assert "claim l" in out.output, (minutes, out.output)
    assert sql(db, "SELECT count(*) FROM queue_items WHERE claimed_by='coach1' AND claim_expires < ?",
               time.time()) == [(0,)]
