"""Disputes and calibration from decisions (issue 16, points 3 and 4), through the CLI and the web app over the
reference database: one dispute per review; a decision adds to the review's history and keeps the coach's
coaching; calibration counts one verdict per finding of each call's current review, and sets coach-vs-coach
agreement beside machine-vs-coach."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.review_helpers import flagged_call, qa, sql, users_db, web
from tests.web.web_helpers import csrf_of


@pytest.fixture()
def db(reference_db: Path, tmp_path: Path) -> Path:
    return users_db(reference_db, tmp_path)


def review(db: Path, coach: str, call_id: str, *args: str, released: bool = True) -> str:
    """Claim and review the call; the QA lead releases the review to the agent (``released``), so they can
    dispute it."""
    qa("queue", "claim", call_id, "--db", db, "--user", coach)
    review_id = json.loads(qa("review", "submit", call_id, "--db", db, "--user", coach, *args, "--json").stdout)[
        "review_id"]
    if released:
        qa("review", "release", review_id, "--db", db, "--user", "lead1")
    return review_id


def agent_of(db: Path, call_id: str) -> str:
    return "agent_" + sql(db, "SELECT agent_id FROM calls WHERE call_id=?", call_id)[0][0]


def dispute(db: Path, agent: str, review_id: str, reason: str = "I was polite", code: int = 0):
    result = qa("dispute", "open", review_id, "--reason", reason, "--db", db, "--user", agent, "--json", code=code)
    return json.loads(result.stdout)["dispute_id"] if code == 0 else result


def calibration(db: Path) -> dict:
    return json.loads(qa("calibration", "--db", db, "--json", "--min-n", "1").stdout)


# ------------------------------------------------------------------ disputes
def test_one_dispute_per_review(db: Path) -> None:
    call_id, findings = flagged_call(db)
    review_id = review(db, "coach1", call_id, "--confirm", findings[0][0])
    agent = agent_of(db, call_id)
    first = dispute(db, agent, review_id)
    assert "already has an open dispute" in dispute(db, agent, review_id, "again", code=2).output
    client = web(db, agent)
    page = client.get(f"/calls/{call_id}").text
    assert f"/reviews/{review_id}/dispute" not in page  # no second dispute form
    resp = client.post(f"/reviews/{review_id}/dispute", data={"csrf": csrf_of(page), "reason": "and again"})
    assert resp.status_code == 409 and "already has an open dispute" in resp.text
    assert sql(db, "SELECT count(*) FROM disputes WHERE review_id=?", review_id) == [(1,)]
    # Decided: the review is disputed once, so not again either.
    qa("dispute", "resolve", first, "--decision", "upheld", "--note", "heard it", "--db", db, "--user", "lead1")
    assert "disputed once" in dispute(db, agent, review_id, "once more", code=2).output
    # An empty reason is refused with a message, on the web too.
    other_call, other = flagged_call(db)
    assert other_call != call_id
    other_review = review(db, "coach2", other_call)
    other_agent = web(db, agent_of(db, other_call))
    resp = other_agent.post(f"/reviews/{other_review}/dispute", data={
        "csrf": csrf_of(other_agent.get(f"/calls/{other_call}").text), "reason": "  "})
    assert resp.status_code == 400 and "reason is required" in resp.text


def test_a_changed_decision_is_a_new_version_that_keeps_the_coaching(db: Path) -> None:
    call_id, findings = flagged_call(db)
    (k1, _), (k2, _) = findings[:2]
    v1 = review(db, "coach1", call_id, "--confirm", k1, "--confirm", k2, "--notes", "rude twice",
                "--coaching", "listen to exemplary call 12")
    dispute_id = dispute(db, agent_of(db, call_id), v1)
    # While the dispute is open, nobody re-reviews the call.
    qa("queue", "claim", call_id, "--db", db, "--user", "coach2")
    assert "open dispute" in qa("review", "submit", call_id, "--db", db, "--user", "coach2", "--reason", "x",
                                code=2).output
    qa("queue", "release", call_id, "--db", db, "--user", "coach2")
    # "changed" that changes nothing is refused; a real change makes version 2.
    assert "uphold" in qa("dispute", "resolve", dispute_id, "--decision", "changed", "--confirm", k1, "--db", db,
                          "--user", "lead1", code=2).output
    qa("dispute", "resolve", dispute_id, "--decision", "changed", "--reject", k2, "--note", "the caller swore first",
       "--db", db, "--user", "lead1")
    history = json.loads(qa("review", "history", call_id, "--db", db, "--json").stdout)
    assert [(v["version"], v["reviewer"], v["status"]) for v in history] == [
        (1, "coach1", "overturned"), (2, "lead1", "current")]
    old, new = history
    assert new["notes"] == "rude twice" and new["coaching_action"] == "listen to exemplary call 12"
    assert new["verdicts"] == {k1: "confirm", k2: "reject"} and new["dispute_id"] == dispute_id
    assert new["reason"] == "the caller swore first"
    assert old["verdicts"] == {k1: "confirm", k2: "confirm"} and old["notes"] == "rude twice"
    assert old["disputes"][0]["status"] == "changed" and old["disputes"][0]["new_review_id"] == new["review_id"]
    # The call page shows the decision in the history; the agent can dispute the new version, once.
    agent = web(db, agent_of(db, call_id))
    page = agent.get(f"/calls/{call_id}").text
    section = re.search(r'<section id="history">(.*?)</section>', page, re.S).group(1)
    assert "overturned" in section and "the caller swore first" in section and "lead1" in section
    assert f"/reviews/{new['review_id']}/dispute" in page
    assert "current review" in dispute(db, agent_of(db, call_id), v1, "old one", code=2).output


def test_an_upheld_decision_lands_in_the_history_and_the_review_stands(db: Path) -> None:
    call_id, findings = flagged_call(db)
    v1 = review(db, "coach1", call_id, "--confirm", findings[0][0], "--coaching", "slow down")
    lead = web(db, "lead1")
    agent = web(db, agent_of(db, call_id))
    page = agent.get(f"/calls/{call_id}").text
    agent.post(f"/reviews/{v1}/dispute", data={"csrf": csrf_of(page), "reason": "the line was bad"})
    dispute_id = sql(db, "SELECT dispute_id FROM disputes WHERE review_id=?", v1)[0][0]
    resp = lead.post(f"/lead/disputes/{dispute_id}/resolve", data={
        "csrf": csrf_of(lead.get("/lead/disputes").text), "decision": "upheld", "note": "audio is clear"},
        follow_redirects=False)
    assert resp.status_code == 303
    assert sql(db, "SELECT review_id, status, coaching_action FROM reviews WHERE call_id=?", call_id) == [
        (v1, "current", "slow down")]
    section = re.search(r'<section id="history">(.*?)</section>', lead.get(f"/calls/{call_id}").text, re.S).group(1)
    assert "the line was bad" in section and "upheld" in section and "audio is clear" in section
    # A score the lead sets in a "changed" decision is checked like any other.
    call2, _ = flagged_call(db)
    v2 = review(db, "coach2", call2)
    d2 = dispute(db, agent_of(db, call2), v2)
    out = qa("dispute", "resolve", d2, "--decision", "changed", "--score", "greeting=1e9", "--db", db, "--user", "lead1",
             code=2)
    assert "between 0 and its weight" in out.output


# ------------------------------------------------------------------ calibration
def test_saving_the_same_confirmation_again_counts_once(db: Path) -> None:
    call_id, findings = flagged_call(db)
    key, rule = findings[0]
    review(db, "coach1", call_id, "--confirm", key)
    for n in range(2):
        review(db, "coach1", call_id, "--confirm", key, "--reason", f"saved again {n}")
    rules = {r["rule_id"]: r for r in calibration(db)["rules"]}
    assert (rules[rule]["confirmed"], rules[rule]["rejected"]) == (1, 0)
    assert sql(db, "SELECT count(*) FROM finding_verdicts WHERE finding_key=?", key) == [(3,)]  # all kept


def test_superseded_and_overturned_verdicts_do_not_count(db: Path) -> None:
    call_id, findings = flagged_call(db)
    (k1, r1), (k2, r2) = findings[:2]
    review(db, "coach1", call_id, "--confirm", k1, "--confirm", k2)
    v2 = review(db, "coach2", call_id, "--reject", k1, "--confirm", k2, "--reason", "second opinion")
    d = dispute(db, agent_of(db, call_id), v2)
    qa("dispute", "resolve", d, "--decision", "changed", "--reject", k2, "--db", db, "--user", "lead1")
    counts = {}
    for r in calibration(db)["rules"]:
        counts[r["rule_id"]] = (r["confirmed"], r["rejected"])
    # Only version 3 (the lead's: k1 rejected, k2 rejected) counts.
    expected: dict[str, list[int]] = {}
    for rule in (r1, r2):
        expected.setdefault(rule, [0, 0])[1] += 1
    assert counts == {k: tuple(v) for k, v in expected.items()}
    lead = web(db, "lead1")
    html = lead.get("/lead/calibration").text
    for rule, (confirmed, rejected) in counts.items():
        row = re.search(rf'data-rule="{re.escape(rule)}">(.*?)</tr>', html, re.S).group(1)
        assert f'<td class="num">{confirmed}</td><td class="num">{rejected}</td>' in row


def test_machine_vs_coach_uses_current_reviews_only(db: Path) -> None:
    call_id, _ = flagged_call(db)
    breakdown = json.loads(sql(db, "SELECT s.breakdown FROM calls c JOIN scores s ON s.result_id=c.current_result_id"
                                   " WHERE c.call_id=?", call_id)[0][0])
    crit = next(c for c in breakdown["criteria"] if c["status"] in ("pass", "fail"))
    disagree = 0 if crit["status"] == "pass" else crit["weight"]
    agree = crit["weight"] if crit["status"] == "pass" else 0
    review(db, "coach1", call_id, "--score", f"{crit['id']}={disagree:g}")
    review(db, "coach1", call_id, "--score", f"{crit['id']}={agree:g}", "--reason", "misread the form")
    row = next(c for c in calibration(db)["criteria"] if c["criterion"] == crit["id"])
    assert (row["n"], row["agreement"]) == (1, 1.0)


def test_coach_vs_coach_kappa_on_calls_reviewed_by_two_coaches(db: Path) -> None:
    """coach1 and coach2 each review the same calls; κ computed here by hand from their verdicts."""
    calls = [r[0] for r in sql(db, "SELECT call_id FROM queue_items ORDER BY priority DESC, call_id LIMIT 4")]
    pairs = []
    for n, call_id in enumerate(calls):
        keys = [k for (k,) in sql(db, "SELECT f.finding_key FROM findings f JOIN calls c ON c.current_result_id="
                                      "f.result_id WHERE c.call_id=? ORDER BY f.start, f.finding_key", call_id)][:3]
        one = {k: "confirm" if i % 2 == 0 else "reject" for i, k in enumerate(keys)}
        two = {k: v if (i + n) % 3 else ("reject" if v == "confirm" else "confirm") for i, (k, v) in enumerate(one.items())}
        flags = lambda vs: [x for k, v in vs.items() for x in (f"--{v}", k)]  # noqa: E731
        review(db, "coach1", call_id, *flags(one))
        review(db, "coach2", call_id, *flags(two), "--reason", "calibration session")
        pairs += [(one[k], two[k]) for k in keys]
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    pe = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in ("confirm", "reject"))
    kappa = round((po - pe) / (1 - pe), 3)
    report = calibration(db)["coaches"]
    assert report["calls"] == len(calls)
    assert (report["verdicts"]["n"], report["verdicts"]["agreement"], report["verdicts"]["kappa"]) == (n, round(po, 3), kappa)
    assert [p["coaches"] for p in report["pairs"]] == ["coach1 vs coach2"]
    # Beside machine-vs-coach on the QA lead's page, and in the CLI's text output.
    html = web(db, "lead1").get("/lead/calibration").text
    block = re.search(r'<p id="coach-agreement">(.*?)</p>', html, re.S).group(1)
    assert f'<span class="n">{n}</span>' in block and f'<span class="kappa">{kappa}</span>' in block
    assert "coach1 vs coach2" in html
    assert f"kappa {kappa}" in qa("calibration", "--db", db, "--min-n", "1").stdout
