"""What coaches asked for (issue 19, point 6), over the reference database: a reason per rejected finding, kept
with the verdict (finding_verdicts.note) and shown in the history and calibration; the call page's findings
timeline, shortcuts card and undecided-findings warning; the queue sorted by priority, score or date and "my
claims"; HR's scorecard with readable headings, percentages and a trend chart per agent."""

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


def test_a_rejected_finding_keeps_its_reason_through_cli_web_history_disputes_and_calibration(db: Path) -> None:
    call_id, findings = flagged_call(db, 3)
    (k1, r1), (k2, _), (k3, _) = findings[:3]
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    # a reason goes with a reject only
    out = qa("review", "submit", call_id, "--db", db, "--user", "coach1", "--confirm", k1,
             "--reject-reason", f"{k1}=no", code=2)
    assert "goes with a rejected finding" in out.stderr
    qa("review", "submit", call_id, "--db", db, "--user", "coach1", "--confirm", k1, "--reject", k2,
       "--reject-reason", f"{k2}=the caller said it, not the agent")
    assert sql(db, "SELECT finding_key, verdict, note FROM finding_verdicts ORDER BY finding_key") == sorted(
        [(k1, "confirm", ""), (k2, "reject", "the caller said it, not the agent")])
    report = json.loads(qa("calibration", "--db", db, "--json", "--min-n", "1").stdout)
    rule2 = next(r for r in report["rules"] if r["rule_id"] == findings[1][1])
    assert [(w["call_id"], w["reviewer"], w["reason"]) for w in rule2["reject_reasons"]] == [
        (call_id, "coach1", "the caller said it, not the agent")]
    assert next(r for r in report["rules"] if r["rule_id"] == r1)["reject_reasons"] == [] or r1 == findings[1][1]
    lead = web(db, "lead1")
    page = lead.get("/lead/calibration").text
    block = re.search(rf'data-reasons-for="{re.escape(findings[1][1])}">(.*?)</tr>', page, re.S).group(1)
    assert "the caller said it, not the agent" in block and call_id in block
    # the web form: a reason typed beside a finding then confirmed is dropped; a rejected one's is kept
    coach = web(db, "coach2")
    coach.post("/queue/claim", data={"csrf": csrf_of(coach.get("/queue").text), "call_id": call_id})
    page = coach.get(f"/calls/{call_id}").text
    assert f'name="reason_{k2}"' in page and 'value="the caller said it, not the agent"' in page
    resp = coach.post(f"/calls/{call_id}/review", data={
        "csrf": csrf_of(page), f"verdict_{k1}": "reject", f"reason_{k1}": "not offensive in context",
        f"verdict_{k3}": "confirm", f"reason_{k3}": "typed, then confirmed", "reason": "second look"},
        follow_redirects=False)
    assert resp.status_code == 303
    current = sql(db, "SELECT v.finding_key, v.verdict, v.note FROM finding_verdicts v JOIN reviews r"
                      " ON r.review_id = v.review_id WHERE r.status='current' ORDER BY v.finding_key")
    assert current == sorted([(k1, "reject", "not offensive in context"), (k3, "confirm", "")])
    history = re.search(r'<section id="history">(.*?)</section>', coach.get(f"/calls/{call_id}").text, re.S).group(1)
    assert "not offensive in context" in history and "the caller said it, not the agent" in history
    # a QA lead's dispute decision that changes another verdict keeps the coach's reason for this one
    review_id = sql(db, "SELECT review_id FROM reviews WHERE status='current'")[0][0]
    agent = "agent_" + sql(db, "SELECT agent_id FROM calls WHERE call_id=?", call_id)[0][0]
    qa("review", "release", review_id, "--db", db, "--user", "lead1")  # an agent disputes only what was released
    dispute_id = json.loads(qa("dispute", "open", review_id, "--reason", "unfair", "--db", db, "--user", agent,
                               "--json").stdout)["dispute_id"]
    qa("dispute", "resolve", dispute_id, "--decision", "changed", "--reject", k3, "--note", "heard it",
       "--db", db, "--user", "lead1")
    assert sql(db, "SELECT v.finding_key, v.note FROM finding_verdicts v JOIN reviews r ON r.review_id = v.review_id"
                   " WHERE r.status='current' AND v.verdict='reject' ORDER BY 1") == sorted(
        [(k1, "not offensive in context"), (k3, "")])


def test_the_call_page_has_a_findings_timeline_the_shortcuts_card_and_the_undecided_warning(db: Path) -> None:
    call_id, findings = flagged_call(db)
    coach = web(db, "coach1")
    page = coach.get(f"/calls/{call_id}").text
    assert '<button type="submit" id="claim" autofocus>' in page  # Enter claims, from the keyboard
    timeline = re.search(r'<svg class="timeline" id="findings-timeline"(.*?)</svg>', page, re.S).group(1)
    assert re.findall(r'<rect [^>]*data-key="([0-9a-f]+)"', timeline) == [k for k, _ in findings]
    assert 'id="shortcut-help"' in page and "<kbd>?</kbd>" in page
    assert 'id="undecided-warning"' not in page  # no review form before the claim
    coach.post("/queue/claim", data={"csrf": csrf_of(page), "call_id": call_id})
    page = coach.get(f"/calls/{call_id}").text
    assert 'id="undecided-warning"' in page and 'id="resolve-anyway"' in page
    assert all(f'name="reason_{k}"' in page for k, _ in findings)


def test_the_queue_sorts_by_priority_score_and_date_and_shows_my_claims(db: Path) -> None:
    def listed(*args: str) -> list[dict]:
        return json.loads(qa("queue", "list", "--db", db, "--json", "--limit", "100", *args).stdout)

    by_priority = listed()
    assert [r["priority"] for r in by_priority] == sorted((r["priority"] for r in by_priority), reverse=True)
    by_score = listed("--sort", "score")
    assert [r["score"] for r in by_score] == sorted(r["score"] for r in by_score)
    assert {r["call_id"] for r in by_score} == {r["call_id"] for r in by_priority}
    by_date = listed("--sort", "date")
    assert [r["started_at"] for r in by_date] == sorted((r["started_at"] for r in by_date), reverse=True)
    qa("queue", "claim", by_date[0]["call_id"], "--db", db, "--user", "coach1")
    qa("queue", "claim", "--db", db, "--user", "coach2")
    assert [r["call_id"] for r in listed("--mine", "--user", "coach1")] == [by_date[0]["call_id"]]
    qa("queue", "list", "--mine", "--db", db, code=2)
    qa("queue", "list", "--sort", "name", "--db", db, code=2)
    page = web(db, "coach1").get("/queue", params={"mine": "1", "sort": "date"}).text
    assert re.findall(r'<tr data-call="([^"]+)"', page) == [by_date[0]["call_id"]]
    page = web(db, "coach1").get("/queue", params={"sort": "score"}).text
    assert re.findall(r'<tr data-call="([^"]+)"', page) == [r["call_id"] for r in by_score]


def test_hr_reads_the_scorecard_with_titles_percentages_and_a_trend_per_agent(db: Path) -> None:
    week = sql(db, "SELECT week FROM calls GROUP BY week ORDER BY count(*) DESC, week LIMIT 1")[0][0]
    page = web(db, "hr1").get("/scorecards", params={"week": week}).text
    titles = dict(re.findall(r'<th data-col="([^"]+)" title="[^"]*">([^<]*)</th>', page))
    assert titles["pass_rate"] == "Passed" and titles["mean_score"] == "Mean score"
    assert all(t.startswith("Script step: ") for c, t in titles.items() if c.startswith("adherence."))
    cols = list(titles)
    first = re.search(r"<tbody>\s*<tr>(.*?)</tr>", page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>.*?</td>", first)]
    assert re.fullmatch(r"\d+%|", cells[cols.index("pass_rate")])
    agents = {r[0] for r in sql(db, "SELECT DISTINCT agent_id FROM calls WHERE week=?", week)}
    figures = re.findall(r'<figure class="trend" data-agent="([^"]+)">.*?<svg class="chart trend"', page, re.S)
    assert set(figures) == agents
    assert "<script" not in page.split('id="trends"')[1].split("</div>")[0]  # inline SVG, no script
