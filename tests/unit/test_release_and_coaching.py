"""The store's rules for releasing reviews to agents, their acknowledgements and the dispute window, and for
coaching sessions, over the reference database: who may, once only, nothing overwritten, every step audited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from qa_pipeline.errors import ConflictError, NotFoundError, PermissionDenied, ReviewError, ValidationError
from tests.review_helpers import flagged_call, qa, review, sql, users_db, web


@pytest.fixture()
def env(reference_db: Path, tmp_path: Path):
    from qa_pipeline.store.db import Store

    db = users_db(reference_db, tmp_path)
    store = Store(db)
    call_id, findings = flagged_call(db)
    agent_id = sql(db, "SELECT agent_id FROM calls WHERE call_id=?", call_id)[0][0]
    yield {"db": db, "store": store, "call": call_id, "findings": findings, "agent": f"agent_{agent_id}",
           "agent_id": agent_id}
    store.close()


def later(monkeypatch, when: str) -> None:
    """The store's clock reads ``when`` (the release and coaching rules compare against it)."""
    from qa_pipeline.store import clock

    monkeypatch.setattr(clock, "now", lambda: when)


def audit(db: Path, action: str) -> list[tuple]:
    return sql(db, "SELECT actor, entity, before, after FROM audit_log WHERE action=? ORDER BY id", action)


# ------------------------------------------------------------------ releases
def test_an_unreleased_review_does_not_exist_for_its_agent(env: dict) -> None:
    from qa_pipeline.store import disputes, release

    store, call_id, agent = env["store"], env["call"], env["agent"]
    review_id = review(store, "coach1", call_id, verdicts={env["findings"][0][0]: "confirm"})
    with pytest.raises(NotFoundError):
        release.acknowledge(store, agent, review_id)
    with pytest.raises(NotFoundError):
        disputes.open_dispute(store, agent, review_id, "not fair")
    client = web(env["db"], agent)
    assert client.get(f"/calls/{call_id}").status_code == 404
    assert client.get(f"/calls/{call_id}/audio").status_code == 404
    assert call_id not in client.get("/my").text
    # Only a QA lead releases: not the coach, not the agent.
    for who in ("coach1", agent, "hr1"):
        with pytest.raises(PermissionDenied):
            release.release_review(store, who, review_id)
    release.release_review(store, "lead1", review_id)
    page = client.get(f"/calls/{call_id}")
    assert page.status_code == 200 and f"/reviews/{review_id}/acknowledge" in page.text
    assert "data-seek" in page.text  # the findings at their seconds in the audio
    assert call_id in client.get("/my").text


def test_a_release_on_a_date_can_be_moved_until_it_happens_and_never_repeated(env: dict, monkeypatch) -> None:
    from qa_pipeline.store import release

    store, db = env["store"], env["db"]
    review_id = review(store, "coach1", env["call"])
    with pytest.raises(ValidationError, match="in the past"):
        release.release_review(store, "lead1", review_id, "2020-01-01")
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        release.release_review(store, "lead1", review_id, "next monday")
    first = release.release_review(store, "lead1", review_id, "2099-03-02")
    assert first["release_at"] == "2099-03-02T00:00:00" and not release.is_visible(store, review_id)
    assert [r["review_id"] for r in release.pending_releases(store)] == [review_id]
    with pytest.raises(ConflictError, match="reschedule it"):
        release.release_review(store, "lead1", review_id)  # a second release does not silently replace the first
    moved = release.release_review(store, "lead1", review_id, "2099-03-01T08:30", "sooner", reschedule=True)
    history = release.release_history(store, review_id)
    assert [(h["version"], h["status"], h["release_at"], h["replaced_by"]) for h in history] == [
        (1, "rescheduled", "2099-03-02T00:00:00", moved["release_id"]), (2, "current", "2099-03-01T08:30:00", None)]
    with pytest.raises(NotFoundError):
        release.acknowledge(store, env["agent"], review_id)
    later(monkeypatch, "2099-03-01T08:30:00")
    assert release.is_visible(store, review_id) and release.pending_releases(store) == []
    release.acknowledge(store, env["agent"], review_id)
    for kwargs in ({}, {"at": "2099-04-01", "reschedule": True}):
        with pytest.raises(ConflictError, match="cannot be taken back or repeated"):
            release.release_review(store, "lead1", review_id, **kwargs)
    assert [json.loads(a[3])["release_at"] for a in audit(db, "review.release")] == [
        "2099-03-02T00:00:00", "2099-03-01T08:30:00"]
    assert len(release.release_history(store, review_id)) == 2


def test_a_review_is_acknowledged_once_and_then_not_disputed(env: dict) -> None:
    from qa_pipeline.store import disputes, release

    store, db, agent = env["store"], env["db"], env["agent"]
    review_id = review(store, "coach1", env["call"])
    release.release_review(store, "lead1", review_id)
    other = next(n for (n,) in sql(db, "SELECT name FROM users WHERE role='agent' AND name != ?", agent))
    with pytest.raises(ReviewError, match="their own calls"):
        release.acknowledge(store, other, review_id)
    with pytest.raises(ValidationError):
        release.acknowledge(store, agent, review_id, "x" * 2001)
    release.acknowledge(store, agent, review_id, "understood, I will greet first")
    with pytest.raises(ConflictError, match="acknowledged once"):
        release.acknowledge(store, agent, review_id, "another comment")
    assert sql(db, "SELECT agent_user, comment FROM review_acks WHERE review_id=?", review_id) == [
        (agent, "understood, I will greet first")]  # the first comment stands
    with pytest.raises(ConflictError, match="acknowledged review is not disputed"):
        disputes.open_dispute(store, agent, review_id, "changed my mind")
    assert [(a[0], a[1]) for a in audit(db, "review.acknowledge")] == [(agent, f"review:{review_id}")]


def test_the_dispute_window_runs_from_the_release(env: dict, monkeypatch) -> None:
    from qa_pipeline.store import disputes, release

    store, agent = env["store"], env["agent"]
    review_id = review(store, "coach1", env["call"])
    at = release.release_review(store, "lead1", review_id)["release_at"]
    eight_days = dt.datetime.fromisoformat(at) + dt.timedelta(days=8)
    later(monkeypatch, eight_days.strftime("%Y-%m-%dT%H:%M:%S"))
    with pytest.raises(ConflictError, match="7-day dispute window closed"):
        disputes.open_dispute(store, agent, review_id, "too late", window_days=7)
    dispute_id = disputes.open_dispute(store, agent, review_id, "in time with a longer window", window_days=10)
    with pytest.raises(ConflictError, match="already has an open dispute"):
        disputes.open_dispute(store, agent, review_id, "again", window_days=10)
    with pytest.raises(ConflictError, match="after the QA lead's decision"):
        release.acknowledge(store, agent, review_id)
    disputes.resolve_dispute(store, "lead1", dispute_id, "upheld", "heard it")
    release.acknowledge(store, agent, review_id, "ok")  # acknowledged after the decision


def test_the_window_is_a_strict_config_option(tmp_path: Path) -> None:
    from qa_pipeline.config import ConfigError, load_config

    path = tmp_path / "qa.yaml"
    path.write_text("review:\n  dispute_window_days: 14\n", encoding="utf-8")
    assert load_config(path).review.dispute_window_days == 14
    for body, line in (("review:\n  dispute_window_days: 0\n", 2), ("review:\n\n  dispute_window_days: soon\n", 3),
                       ("review:\n  dispute_window: 5\n", 2)):
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as exc:
            load_config(path)
        assert exc.value.line == line and exc.value.field.startswith("review.dispute_window") and str(path) in str(
            exc.value)


def test_a_new_version_is_hidden_until_released_and_a_dispute_decision_is_released_at_once(env: dict) -> None:
    from qa_pipeline.store import disputes, release
    from qa_pipeline.store.queue import claim
    from qa_pipeline.store.review import submit_review

    store, agent, call_id = env["store"], env["agent"], env["call"]
    key = env["findings"][0][0]
    v1 = review(store, "coach1", call_id, verdicts={key: "confirm"})
    release.release_review(store, "lead1", v1)
    claim(store, "coach2", call_id)
    v2 = submit_review(store, "coach2", call_id, {key: "reject"}, reason="heard the caller channel")
    assert release.latest_visible_version(store, call_id)["review_id"] == v1  # the agent keeps seeing v1
    page = web(env["db"], agent).get(f"/calls/{call_id}").text
    assert v1 in page and v2 not in page and f"/reviews/{v1}/acknowledge" not in page
    with pytest.raises(ConflictError, match="superseded"):
        release.acknowledge(store, agent, v1)
    release.release_review(store, "lead1", v2)
    dispute_id = disputes.open_dispute(store, agent, v2, "the finding was right after all")
    v3 = disputes.resolve_dispute(store, "lead1", dispute_id, "changed", "agreed", {key: "confirm"})
    assert release.is_visible(store, v3)  # the answer to the dispute needs no second release
    assert release.current_release(store, v3)["released_by"] == "lead1"
    release.acknowledge(store, agent, v3, "thanks")


def test_ack_and_dispute_rates_per_team(env: dict) -> None:
    from qa_pipeline.store import disputes, release

    store, db = env["store"], env["db"]
    calls = [c for (c,) in sql(db, "SELECT call_id FROM calls WHERE team='cards_west' ORDER BY call_id")][:3]
    ids = [review(store, "coach1", c) for c in calls]
    for rid in ids:
        release.release_review(store, "lead1", rid)
    agent_of = {c: f"agent_{a}" for c, a in sql(db, "SELECT call_id, agent_id FROM calls")}
    release.acknowledge(store, agent_of[calls[0]], ids[0])
    disputes.open_dispute(store, agent_of[calls[1]], ids[1], "no")
    rates = {t["team"]: t for t in release.team_rates(store)}["cards_west"]
    assert (rates["released"], rates["acknowledged"], rates["disputed"], rates["awaiting"]) == (3, 1, 1, 1)
    assert rates["acknowledged_rate"] == pytest.approx(1 / 3, abs=1e-3)
    out = json.loads(qa("review", "rates", "--db", db, "--json").stdout)
    assert {t["team"]: t["released"] for t in out}["cards_west"] == 3
    for who in ("hr1", "lead1"):
        assert "Acknowledgement and dispute rates per team" in web(db, who).get("/scorecards").text
    assert web(db, "coach1").get("/scorecards").status_code == 403


# ------------------------------------------------------------------ coaching
def test_a_coaching_session_is_opened_acknowledged_and_closed_once(env: dict) -> None:
    from qa_pipeline.store import coaching

    store, db = env["store"], env["db"]
    key = sql(db, "SELECT f.finding_key FROM findings f JOIN calls c ON c.current_result_id = f.result_id"
                  " WHERE c.call_id = 'en_agent_temper' AND f.rule_id = 'en.harsh_language' LIMIT 1")[0][0]
    for bad, match in (({"due_date": "2020-01-01"}, "in the past"), ({"due_date": "soon"}, "YYYY-MM-DD"),
                       ({"goals": " "}, "goals is required"), ({"calls": ["zh_compliant_limit"]}, "not a call of"),
                       ({"calls": [], "findings": []}, "say what the session is about")):
        args = {"goals": "stay calm", "due_date": "2099-01-01", "calls": ["en_agent_temper"], **bad}
        with pytest.raises(ValidationError, match=match):
            coaching.open_session(store, "coach1", "david_lee", args["goals"], args["due_date"], args["calls"],
                                  args.get("findings"))
    with pytest.raises(PermissionDenied):
        coaching.open_session(store, "agent_david_lee", "david_lee", "x", "2099-01-01", ["en_agent_temper"])
    sid = coaching.open_session(store, "coach1", "david_lee", "stay calm under pressure", "2099-01-01",
                                ["en_agent_temper"], [key])
    s = coaching.session(store, sid)
    assert s["criteria"] == ["no_harsh"] and s["status"] == "open" and not s["overdue"]
    assert [(i["call_id"], i["finding_key"]) for i in s["items"]] == [("en_agent_temper", ""), ("en_agent_temper", key)]
    with pytest.raises(NotFoundError):
        coaching.acknowledge(store, "agent_li_na", sid)  # another agent's session does not exist for them
    coaching.acknowledge(store, "agent_david_lee", sid, "will do")
    with pytest.raises(ConflictError, match="once is enough"):
        coaching.acknowledge(store, "agent_david_lee", sid, "again")
    with pytest.raises(PermissionDenied, match="coach1's"):
        coaching.close_session(store, "coach2", sid, "met")
    with pytest.raises(ValidationError):
        coaching.close_session(store, "coach1", sid, "great")
    coaching.close_session(store, "coach1", sid, "partly_met", "better, not there yet")
    with pytest.raises(ConflictError, match="final"):
        coaching.close_session(store, "lead1", sid, "met")
    s = coaching.session(store, sid)
    assert (s["status"], s["ack_comment"], s["outcome"], s["outcome_note"]) == (
        "closed", "will do", "partly_met", "better, not there yet")
    actions = [a for (a,) in sql(db, "SELECT action FROM audit_log WHERE entity=? ORDER BY id", f"coaching:{sid}")]
    assert actions == ["coaching.open", "coaching.acknowledge", "coaching.close"]


def test_the_scorecard_shows_status_overdue_and_before_after_of_the_coached_criteria(env: dict) -> None:
    from qa_pipeline import render_scorecard, weekly_scorecard
    from qa_pipeline.store import coaching

    store = env["store"]
    sid = coaching.open_session(store, "coach1", "david_lee", "no harsh words", "2099-01-01", ["en_agent_temper"],
                                criteria=["no_harsh"])
    # Opened on 13 November (after en_agent_temper on the 12th), due on the 20th, never closed.
    store.conn.execute("UPDATE coaching_sessions SET created_at='2026-11-13T00:00:00', due_date='2026-11-20'"
                       " WHERE session_id=?", (sid,))
    row = next(r for r in weekly_scorecard(store, "2026-W47").rows if r.agent_id == "david_lee")
    assert (row.coaching_open, row.coaching_overdue, row.coaching_closed, row.coaching_sessions) == (1, 1, 0, [sid])
    ba = row.coaching[0]["before_after"]["no_harsh"]
    assert (ba["before"], ba["before_calls"], ba["after"], ba["after_calls"]) == (66.7, 3, 100.0, 2)
    assert ba["change"] == 33.3
    # The week it was opened (W46) ended before its due date: not overdue there. The week before: not on it.
    w46 = next(r for r in weekly_scorecard(store, "2026-W46").rows if r.agent_id == "david_lee")
    assert (w46.coaching_open, w46.coaching_overdue, w46.coaching[0]["before_after"]["no_harsh"]["after_calls"]) == (
        1, 0, 0)
    w45 = next(r for r in weekly_scorecard(store, "2026-W45").rows if r.agent_id == "david_lee")
    assert w45.coaching == []
    # The coach's free text never reaches a spreadsheet as a formula.
    store.conn.execute("UPDATE coaching_sessions SET goals='=HYPERLINK(\"http://x\")' WHERE session_id=?", (sid,))
    csv = render_scorecard(weekly_scorecard(store, "2026-W47"), "csv").decode("utf-8-sig")
    header = csv.splitlines()[0].split(",")
    assert {"coaching_open", "coaching_overdue", "coaching_closed", "coaching_sessions"} <= set(header)
    html = render_scorecard(weekly_scorecard(store, "2026-W47"), "html").decode()
    assert f'data-session="{sid}"' in html and "overdue" in html and "+33.3" in html
    assert "HYPERLINK" not in csv and "=HYPERLINK(&#34;http://x&#34;)" in html


def test_the_new_pages_check_role_csrf_and_ownership(env: dict) -> None:
    from qa_pipeline.store import coaching
    from tests.web.web_helpers import csrf_of

    store, db, call_id, agent = env["store"], env["db"], env["call"], env["agent"]
    review_id = review(store, "coach1", call_id)
    sid = coaching.open_session(store, "coach1", env["agent_id"], "greet", "2099-01-01", [call_id])
    other = next(n for (n,) in sql(db, "SELECT name FROM users WHERE role='agent' AND name != ?", agent))
    clients = {name: web(db, name) for name in ("coach1", "lead1", "hr1", agent, other)}
    token = {name: csrf_of(c.get("/my" if name.startswith("agent") else "/scorecards" if name == "hr1"
                                 else "/queue").text) for name, c in clients.items()}
    # Without the CSRF token nothing happens, whoever asks.
    assert clients["lead1"].post(f"/reviews/{review_id}/release", data={}).status_code == 403
    assert clients["coach1"].post("/coaching", data={"agent_id": env["agent_id"], "goals": "x",
                                                     "due_date": "2099-01-01", "calls": call_id}).status_code == 403
    assert clients[agent].post(f"/coaching/{sid}/acknowledge", data={}).status_code == 403
    # The wrong role is refused.
    for name in ("coach1", "hr1", agent):
        resp = clients[name].post(f"/reviews/{review_id}/release", data={"csrf": token[name]})
        assert resp.status_code == 403, name
    assert clients["hr1"].get("/coaching").status_code == 403
    assert clients[agent].get("/coaching").status_code == 403
    assert clients["coach1"].post(f"/coaching/{sid}/acknowledge", data={"csrf": token["coach1"]}).status_code == 403
    assert clients[agent].post(f"/coaching/{sid}/close", data={"csrf": token[agent], "outcome": "met"}).status_code == 403
    # Another agent's session and unreleased review do not exist for an agent.
    assert clients[other].get(f"/coaching/{sid}").status_code == 404
    assert clients[other].post(f"/coaching/{sid}/acknowledge", data={"csrf": token[other]}).status_code == 404
    assert clients[agent].post(f"/reviews/{review_id}/acknowledge", data={"csrf": token[agent]}).status_code == 404
    assert clients[agent].get(f"/coaching/{sid}").status_code == 200
    assert sql(db, "SELECT count(*) FROM review_releases WHERE review_id=?", review_id) == [(0,)]
    assert sql(db, "SELECT status FROM coaching_sessions WHERE session_id=?", sid) == [("open",)]
    # The QA lead's release through the page works, and the agent sees the review.
    resp = clients["lead1"].post(f"/reviews/{review_id}/release", data={"csrf": token["lead1"]}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/calls/{call_id}?msg=review_released"
    assert clients[agent].get(f"/calls/{call_id}").status_code == 200
    assert clients[other].get(f"/calls/{call_id}").status_code == 404


def test_the_command_line_releases_acknowledges_and_coaches(env: dict) -> None:
    store, db, call_id, agent = env["store"], env["db"], env["call"], env["agent"]
    review_id = review(store, "coach1", call_id)
    pending = json.loads(qa("review", "pending", "--db", db, "--json").stdout)
    assert review_id in [p["review_id"] for p in pending]
    qa("review", "release", review_id, "--at", "2099-05-01", "--db", db, "--user", "coach1", code=2)  # leads only
    done = json.loads(qa("review", "release", review_id, "--at", "2099-05-01", "--db", db, "--user", "lead1",
                         "--json").stdout)
    assert done["release_at"] == "2099-05-01T00:00:00"
    assert "already set to be released" in qa("review", "release", review_id, "--db", db, "--user", "lead1",
                                              code=2).stderr
    qa("review", "release", review_id, "--reschedule", "--db", db, "--user", "lead1")  # now, instead
    qa("review", "acknowledge", review_id, "--comment", "ok", "--db", db, "--user", agent)
    assert "acknowledged once" in qa("review", "acknowledge", review_id, "--db", db, "--user", agent, code=2).stderr
    sid = json.loads(qa("coaching", "open", "--agent", env["agent_id"], "--goals", "greet first", "--due", "2099-01-01",
                        "--call", call_id, "--criterion", "greeting", "--db", db, "--user", "coach1", "--json").stdout)[
        "session_id"]
    qa("coaching", "acknowledge", sid, "--comment", "yes", "--db", db, "--user", agent)
    qa("coaching", "close", sid, "--outcome", "met", "--db", db, "--user", "coach1")
    assert "final" in qa("coaching", "close", sid, "--outcome", "met", "--db", db, "--user", "coach1", code=2).stderr
    shown = json.loads(qa("coaching", "show", sid, "--db", db, "--json").stdout)
    assert (shown["status"], shown["outcome"], shown["criteria"]) == ("closed", "met", ["greeting"])
    listed = qa("coaching", "list", "--status", "closed", "--db", db).stdout
    assert sid in listed and "greet first" in listed
