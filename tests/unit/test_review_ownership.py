"""Ownership and history of reviews (issue 16, point 1), through the CLI and the web app over the reference
database: a claim is a lease that only its holder reviews under, until it expires or is handed over; a QA lead
may act without it, audited; a new review of a finished call is a new version that keeps the old one."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.review_helpers import flagged_call, qa, sql, users_db, web
from tests.web.web_helpers import csrf_of


@pytest.fixture()
def db(reference_db: Path, tmp_path: Path) -> Path:
    return users_db(reference_db, tmp_path)


def submit(db: Path, user: str, call_id: str, *extra: str, code: int = 0):
    return qa("review", "submit", call_id, "--db", db, "--user", user, *extra, code=code)


def test_only_the_holder_of_a_claim_can_review_the_call(db: Path) -> None:
    call_id, findings = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    denied = submit(db, "coach2", call_id, "--confirm", findings[0][0], code=2)
    assert "claimed by coach1" in denied.output
    assert sql(db, "SELECT count(*) FROM reviews") == [(0,)]
    # The web app answers the same, with a message, not a 500.
    coach2 = web(db, "coach2")
    resp = coach2.post(f"/calls/{call_id}/review", data={"csrf": csrf_of(coach2.get("/queue").text), "notes": "mine"})
    assert resp.status_code == 409 and "claimed by coach1" in resp.text
    assert resp.headers["x-frame-options"] == "DENY"
    assert sql(db, "SELECT count(*) FROM reviews") == [(0,)]
    submit(db, "coach1", call_id, "--confirm", findings[0][0])
    assert sql(db, "SELECT reviewer, version, status FROM reviews") == [("coach1", 1, "current")]
    # The review ends the lease: the call is done and nobody holds it.
    assert sql(db, "SELECT status, claimed_by FROM queue_items WHERE call_id=?", call_id) == [("done", None)]


def test_a_review_without_a_claim_is_refused(db: Path) -> None:
    call_id, _ = flagged_call(db)
    out = submit(db, "coach1", call_id, "--notes", "no claim", code=2)
    assert "claim" in out.output and f"qa queue claim {call_id}" in out.output
    coach = web(db, "coach1")
    page = coach.get(f"/calls/{call_id}").text
    assert 'id="review-form"' not in page and "Claim this call" in page
    assert sql(db, "SELECT count(*) FROM reviews") == [(0,)]


def test_an_expired_claim_is_no_lease(db: Path) -> None:
    call_id, _ = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1", "--ttl-minutes", "5")
    assert qa("queue", "claim", call_id, "--db", db, "--user", "coach2", code=2).output.count("claimed by coach1")
    with __import__("sqlite3").connect(db) as conn:
        conn.execute("UPDATE queue_items SET claim_expires=? WHERE call_id=?", (time.time() - 1, call_id))
    assert "claim" in submit(db, "coach1", call_id, code=2).output
    qa("queue", "claim", call_id, "--db", db, "--user", "coach2")
    submit(db, "coach2", call_id, "--notes", "took over")
    assert sql(db, "SELECT reviewer FROM reviews") == [("coach2",)]


def test_a_claim_is_handed_over_explicitly_and_audited(db: Path) -> None:
    call_id, _ = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    # Someone who does not hold it cannot hand it over (nor release it).
    assert "only the holder" in qa("queue", "handover", call_id, "--to", "coach2", "--db", db, "--user", "coach2",
                                   code=2).output
    out = json.loads(qa("queue", "handover", call_id, "--to", "coach2", "--db", db, "--user", "coach1",
                        "--json").stdout)
    assert out["holder"] == "coach2"
    assert "claimed by coach2" in submit(db, "coach1", call_id, code=2).output
    # A QA lead may move anyone's claim; the audit log says they acted as QA lead.
    qa("queue", "handover", call_id, "--to", "coach1", "--db", db, "--user", "lead1")
    audit = [(a, json.loads(after)) for a, after in sql(
        db, "SELECT actor, after FROM audit_log WHERE action='queue.handover' ORDER BY id")]
    assert audit == [("coach1", {"holder": "coach2", "expires": out["expires"], "acting_as": None}),
                     ("lead1", {"holder": "coach1", "expires": audit[1][1]["expires"], "acting_as": "qa_lead"})]
    submit(db, "coach1", call_id, "--notes", "handed back")
    # On the web: the holder sees a hand-over form listing the other reviewers, and it works.
    other, _ = flagged_call(db)
    coach = web(db, "coach1")
    token = csrf_of(coach.get("/queue").text)
    assert coach.post("/queue/claim", data={"csrf": token, "call_id": other}, follow_redirects=False).status_code == 303
    page = coach.get(f"/calls/{other}").text
    assert 'id="handover"' in page and "<option>coach2</option>" in page and "<option>coach1</option>" not in page
    resp = coach.post("/queue/handover", data={"csrf": token, "call_id": other, "to": "coach2"}, follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{other}?msg=handed_over"
    assert sql(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", other) == [("coach2",)]
    resp = coach.post("/queue/handover", data={"csrf": token, "call_id": other, "to": "coach1"})
    assert resp.status_code == 409 and "only the holder" in resp.text


def test_a_qa_lead_reviews_without_the_claim_only_when_acting_as_one(db: Path) -> None:
    call_id, findings = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    assert "claimed by coach1" in submit(db, "lead1", call_id, code=2).output
    assert "only a QA lead" in submit(db, "coach2", call_id, "--as-lead", code=2).output
    submit(db, "lead1", call_id, "--as-lead", "--reject", findings[0][0], "--notes", "urgent")
    assert sql(db, "SELECT reviewer, acting_as, status FROM reviews") == [("lead1", "qa_lead", "current")]
    override = sql(db, "SELECT before, after FROM audit_log WHERE action='review.lead_override' AND actor='lead1'")
    assert len(override) == 1 and json.loads(override[0][0]) == {"holder": "coach1"}
    # coach1's lease went with the review; their late submission is refused.
    assert "claim" in submit(db, "coach1", call_id, code=2).output


def test_a_new_review_of_a_finished_call_is_a_new_version_with_who_when_why(db: Path) -> None:
    call_id, findings = flagged_call(db)
    (k1, _), (k2, _) = findings[:2]
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    submit(db, "coach1", call_id, "--confirm", k1, "--reject", k2, "--notes", "first look", "--coaching", "role-play")
    # Another coach cannot silently become the latest: they claim the finished call and must say why.
    qa("queue", "claim", call_id, "--db", db, "--user", "coach2")
    assert "say why" in submit(db, "coach2", call_id, "--confirm", k2, code=2).output
    submit(db, "coach2", call_id, "--confirm", k1, "--confirm", k2, "--reason", "listened again: k2 is real")
    history = json.loads(qa("review", "history", call_id, "--db", db, "--json").stdout)
    assert [(v["version"], v["reviewer"], v["status"], v["reason"]) for v in history] == [
        (1, "coach1", "superseded", None), (2, "coach2", "current", "listened again: k2 is real")]
    v1, v2 = history
    assert v1["verdicts"] == {k1: "confirm", k2: "reject"} and v1["notes"] == "first look"
    assert v1["coaching_action"] == "role-play"
    assert v2["verdicts"] == {k1: "confirm", k2: "confirm"} and v2["supersedes"] == v1["review_id"]
    assert v1["replaced_by"] == v2["review_id"] and v1["replaced_at"] >= v1["created_at"]
    assert sql(db, "SELECT count(*) FROM reviews WHERE call_id=? AND status='current'", call_id) == [(1,)]
    # The web app shows the history: both versions, who, when and why.
    page = web(db, "coach1").get(f"/calls/{call_id}").text
    section = re.search(r'<section id="history">(.*?)</section>', page, re.S).group(1)
    versions = re.findall(r'data-version="(\d+)"', section)
    assert versions == ["2", "1"]
    assert "listened again: k2 is real" in section and "coach1" in section and "coach2" in section
    assert v1["created_at"] in section and v2["created_at"] in section
    assert "Claim to review again" in page


def test_a_re_review_through_the_web_forms(db: Path) -> None:
    call_id, findings = flagged_call(db)
    key = findings[0][0]
    coach = web(db, "coach1")
    token = csrf_of(coach.get("/queue").text)
    coach.post("/queue/claim", data={"csrf": token, "call_id": call_id})
    assert coach.post(f"/calls/{call_id}/review", data={"csrf": token, f"verdict_{key}": "confirm"},
                      follow_redirects=False).status_code == 303
    coach.post("/queue/claim", data={"csrf": token, "call_id": call_id})
    page = coach.get(f"/calls/{call_id}").text
    assert 'name="reason"' in page and "Save a new version" in page
    resp = coach.post(f"/calls/{call_id}/review", data={"csrf": token, f"verdict_{key}": "reject"})
    assert resp.status_code == 400 and "say why" in resp.text
    resp = coach.post(f"/calls/{call_id}/review", data={"csrf": token, f"verdict_{key}": "reject", "reason": "misheard"},
                      follow_redirects=False)
    assert resp.status_code == 303
    assert sql(db, "SELECT version, status, reason FROM reviews WHERE call_id=? ORDER BY version", call_id) == [
        (1, "superseded", None), (2, "current", "misheard")]
