"""The review app's security model, over a copy of the sample database (FastAPI TestClient):
each role denied what it must not do, CSRF enforced, no path from the client reaches the file
system, wrong passwords throttled, sessions and passwords stored safely, every action audited."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import copy_db
from tests.web.web_helpers import PASSWORD, add_users, csrf_of, login


@pytest.fixture(scope="module")
def env(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the sample db with users, and one reviewed call per agent (through the review API)."""
    from qa_pipeline.store.db import Store
    from qa_pipeline.store.release import release_review
    from tests.review_helpers import review

    db = copy_db(sample_db, tmp_path_factory.mktemp("web_security"))
    add_users(db)
    store = Store(db)
    calls = store.conn.execute("SELECT call_id, agent_id FROM calls ORDER BY agent_id, call_id").fetchall()
    by_agent: dict[str, list[str]] = {}
    for call_id, agent_id in calls:
        by_agent.setdefault(agent_id, []).append(call_id)
    agents = [a for a, ids in by_agent.items() if len(ids) >= 2][:2]
    assert len(agents) == 2, by_agent
    reviewed = {a: by_agent[a][0] for a in agents}
    for call_id in reviewed.values():  # released to the agent: an unreleased review does not exist for them
        release_review(store, "lead1", review(store, "coach1", call_id, notes="reviewed in set-up"))
    store.close()
    from qa_pipeline.web.app import create_app

    return {"db": db, "app": create_app(db), "agents": agents, "reviewed": reviewed,
            "unreviewed": {a: by_agent[a][1] for a in agents}}


def client_for(env: dict, name: str | None = None, ip: str = "testclient") -> TestClient:
    client = TestClient(env["app"], client=(ip, 50000))
    if name:
        resp = login(client, name)
        assert resp.status_code == 200, resp.text[:300]
    return client


def count(db: Path, sql: str, *params) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchone()[0]


def page_csrf(client: TestClient) -> str:
    return csrf_of(client.get("/").text)


# ------------------------------------------------------------------ authentication
def test_every_page_needs_a_session(env: dict) -> None:
    client = client_for(env)
    call_id = env["reviewed"][env["agents"][0]]
    for path in ("/", "/queue", f"/calls/{call_id}", f"/calls/{call_id}/audio", "/search?q=hello", "/lead/runs",
                 "/lead/calibration", "/lead/disputes", "/my", "/scorecards", "/scorecards/export?week=2026-W46"):
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login"), path
    for path in ("/queue/claim", f"/calls/{call_id}/review", "/lead/assist", "/logout"):
        assert client.post(path, data={"csrf": "x"}, follow_redirects=False).status_code in (401, 403), path


def test_session_cookie_is_httponly_strict_and_only_its_hash_is_stored(env: dict) -> None:
    client = client_for(env)
    page = client.get("/login")
    resp = client.post("/login", data={"username": "coach1", "password": PASSWORD, "csrf": csrf_of(page.text)},
                       follow_redirects=False)
    assert resp.status_code == 303
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("qa_session="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 40
    assert count(env["db"], "SELECT count(*) FROM web_sessions WHERE token_hash=?", token) == 0
    import hashlib

    assert count(env["db"], "SELECT count(*) FROM web_sessions WHERE token_hash=?",
                 hashlib.sha256(token.encode()).hexdigest()) == 1


def test_forged_or_expired_session_is_refused(env: dict) -> None:
    client = client_for(env)
    client.cookies.set("qa_session", "forged-token-" + "x" * 40)
    assert client.get("/queue", follow_redirects=False).status_code == 303
    coach = client_for(env, "coach1")
    with sqlite3.connect(env["db"]) as conn:
        conn.execute("UPDATE web_sessions SET expires = 0 WHERE user='coach1'")
    assert coach.get("/queue", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(env: dict) -> None:
    client = client_for(env, "coach2")
    token = client.cookies.get("qa_session")
    resp = client.post("/logout", data={"csrf": page_csrf(client)}, follow_redirects=False)
    assert resp.status_code == 303
    stale = client_for(env)
    stale.cookies.set("qa_session", token)
    assert stale.get("/queue", follow_redirects=False).status_code == 303


def test_passwords_are_scrypt_hashes_set_from_stdin(env: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from qa_pipeline.cli import app
    from qa_pipeline.store.auth import verify_password

    db = tmp_path / "users.db"
    result = CliRunner().invoke(app, ["users", "add", "newcoach", "--role", "coach", "--db", str(db),
                                      "--password-stdin"], input="s3cret pass\n")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE name='newcoach'").fetchone()[0]
    assert stored.startswith("scrypt$16384$8$") and "s3cret" not in stored
    assert verify_password("s3cret pass", stored) and not verify_password("s3cret pas", stored)


def test_wrong_passwords_are_throttled_per_user_and_ip(env: dict) -> None:
    db = env["db"]
    attacker = client_for(env, ip="10.9.9.9")
    for _ in range(5):
        page = attacker.get("/login")
        resp = attacker.post("/login", data={"username": "lead1", "password": "guess", "csrf": csrf_of(page.text)})
        assert resp.status_code == 401
    # The sixth try is refused before the password is even checked: the right one does not get in either.
    page = attacker.get("/login")
    resp = attacker.post("/login", data={"username": "lead1", "password": PASSWORD, "csrf": csrf_of(page.text)})
    assert resp.status_code == 429 and "qa_session" not in resp.cookies
    assert count(db, "SELECT count(*) FROM audit_log WHERE action='login.fail' AND actor='lead1'") >= 5
    assert count(db, "SELECT count(*) FROM audit_log WHERE action='login.throttled' AND actor='lead1'") >= 1
    # The same user from another address, and another user from that address, are not locked out.
    assert login(client_for(env, ip="10.1.1.1"), "lead1").status_code == 200
    assert login(client_for(env, ip="10.9.9.9"), "coach1").status_code == 200


def test_unknown_user_and_wrong_password_look_the_same(env: dict) -> None:
    a = login(client_for(env, ip="10.2.2.2"), "nobody", "x")
    b = login(client_for(env, ip="10.2.2.3"), "coach1", "x")
    assert a.status_code == b.status_code == 401
    assert "Wrong user name or password" in a.text and "Wrong user name or password" in b.text


def test_open_redirect_after_login_is_refused(env: dict) -> None:
    client = client_for(env)
    page = client.get("/login")
    resp = client.post("/login", data={"username": "coach1", "password": PASSWORD, "csrf": csrf_of(page.text),
                                       "next": "//evil.example/x"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/queue"


# ------------------------------------------------------------------ CSRF
def test_login_form_needs_its_csrf_token(env: dict) -> None:
    client = client_for(env)
    resp = client.post("/login", data={"username": "coach1", "password": PASSWORD}, follow_redirects=False)
    assert resp.status_code == 403 and "qa_session" not in resp.cookies


def test_state_changes_without_the_session_csrf_token_are_rejected(env: dict) -> None:
    db = env["db"]
    coach = client_for(env, "coach1")
    other = client_for(env, "coach2")
    call_id = env["unreviewed"][env["agents"][0]]
    reviews = count(db, "SELECT count(*) FROM reviews")
    claims = count(db, "SELECT count(*) FROM queue_items WHERE claimed_by IS NOT NULL")
    for token in (None, "", "wrong", page_csrf(other)):
        data = {"notes": "csrf"} if token is None else {"notes": "csrf", "csrf": token}
        assert coach.post(f"/calls/{call_id}/review", data=data).status_code == 403
        assert coach.post("/queue/claim", data={k: v for k, v in data.items() if k != "notes"}).status_code == 403
        assert coach.post("/logout", data={k: v for k, v in data.items() if k != "notes"}).status_code == 403
    assert count(db, "SELECT count(*) FROM reviews") == reviews
    assert count(db, "SELECT count(*) FROM queue_items WHERE claimed_by IS NOT NULL") == claims
    # The header form of the token works (for scripts), as does the form field.
    resp = coach.post("/queue/claim", data={"call_id": call_id}, headers={"X-CSRF-Token": page_csrf(coach)},
                      follow_redirects=False)
    assert resp.status_code == 303
    lead = client_for(env, "lead1")
    assert lead.post("/lead/assist", data={"target": "zh.mocking", "on": "1"}).status_code == 403
    assert count(db, "SELECT count(*) FROM assist_mode") == 0


# ------------------------------------------------------------------ roles
def test_hr_cannot_open_calls_or_edit_reviews(env: dict) -> None:
    db = env["db"]
    hr = client_for(env, "hr1")
    token = page_csrf(hr)
    call_id = env["reviewed"][env["agents"][0]]
    reviews = count(db, "SELECT count(*) FROM reviews")
    for path in ("/queue", f"/calls/{call_id}", f"/calls/{call_id}/audio", "/search?q=hello", "/lead/runs",
                 "/lead/calibration", "/lead/disputes", "/my"):
        assert hr.get(path).status_code == 403, path
    assert hr.post(f"/calls/{call_id}/review", data={"csrf": token, "notes": "hr edit"}).status_code == 403
    assert hr.post("/queue/claim", data={"csrf": token}).status_code == 403
    assert count(db, "SELECT count(*) FROM reviews") == reviews
    assert count(db, "SELECT count(*) FROM reviews WHERE notes='hr edit'") == 0


def test_coach_cannot_use_qa_lead_pages(env: dict) -> None:
    coach = client_for(env, "coach1")
    token = page_csrf(coach)
    for path in ("/lead/runs", "/lead/calibration", "/lead/disputes", "/my"):
        assert coach.get(path).status_code == 403, path
    assert coach.post("/lead/assist", data={"csrf": token, "target": "zh.mocking", "on": "1"}).status_code == 403
    assert coach.post("/lead/disputes/nope/resolve", data={"csrf": token, "decision": "upheld"}).status_code == 403
    assert coach.post("/reviews/nope/dispute", data={"csrf": token, "reason": "x"}).status_code == 403
    assert count(env["db"], "SELECT count(*) FROM assist_mode") == 0


def test_agent_sees_only_their_own_reviewed_calls(env: dict) -> None:
    a, b = env["agents"]
    agent = client_for(env, f"agent_{a}")
    token = page_csrf(agent)
    mine = agent.get("/my")
    assert mine.status_code == 200 and env["reviewed"][a] in mine.text and env["reviewed"][b] not in mine.text
    assert agent.get(f"/calls/{env['reviewed'][a]}").status_code == 200
    assert agent.get(f"/calls/{env['reviewed'][a]}/audio?channel=agent").status_code == 200
    for call_id in (env["reviewed"][b], env["unreviewed"][a], env["unreviewed"][b]):
        assert agent.get(f"/calls/{call_id}").status_code == 404, call_id
        assert agent.get(f"/calls/{call_id}/audio").status_code == 404, call_id
    for path in ("/queue", "/search?q=hello", "/lead/runs", "/lead/disputes", "/scorecards"):
        assert agent.get(path).status_code == 403, path
    assert agent.post(f"/calls/{env['reviewed'][a]}/review", data={"csrf": token, "notes": "self"}).status_code == 403
    assert count(env["db"], "SELECT count(*) FROM reviews WHERE notes='self'") == 0


def test_agent_disputes_only_their_own_review(env: dict) -> None:
    db = env["db"]
    a, b = env["agents"]
    agent = client_for(env, f"agent_{a}")
    token = page_csrf(agent)
    with sqlite3.connect(db) as conn:
        review_a = conn.execute("SELECT review_id FROM reviews WHERE call_id=?", (env["reviewed"][a],)).fetchone()[0]
        review_b = conn.execute("SELECT review_id FROM reviews WHERE call_id=?", (env["reviewed"][b],)).fetchone()[0]
    resp = agent.post(f"/reviews/{review_b}/dispute", data={"csrf": token, "reason": "not mine"})
    assert resp.status_code == 400
    assert count(db, "SELECT count(*) FROM disputes WHERE review_id=?", review_b) == 0
    resp = agent.post(f"/reviews/{review_a}/dispute", data={"csrf": token, "reason": "the greeting was there"},
                      follow_redirects=False)
    assert resp.status_code == 303
    assert count(db, "SELECT count(*) FROM disputes WHERE review_id=? AND opened_by=? AND status='open'",
                 review_a, f"agent_{a}") == 1


# ------------------------------------------------------------------ audio: ids only, never paths
TRAVERSALS = [
    "/calls/../../etc/passwd/audio",
    "/calls/..%2F..%2Fetc%2Fpasswd/audio",
    "/calls/%2e%2e%2f%2e%2e%2fetc%2fpasswd/audio",
    "/calls/%252e%252e%252fetc%252fpasswd/audio",
    "/calls/..%5C..%5Cetc%5Cpasswd/audio",
    "/calls/%2Fetc%2Fpasswd/audio",
    "/calls/etc%00passwd/audio",
    "/calls/....%2F%2F....%2F%2Fetc%2Fpasswd/audio",
    "/calls/%2e%2e/audio",
    "/calls/..;/audio",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_audio_path_traversal_is_rejected(env: dict, path: str) -> None:
    coach = client_for(env, "coach1")
    resp = coach.get(path)
    assert resp.status_code in (400, 404, 405, 422), (path, resp.status_code)
    assert b"root:" not in resp.content and not resp.headers.get("content-type", "").startswith("audio/")


def test_audio_channel_must_be_one_of_three(env: dict) -> None:
    coach = client_for(env, "coach1")
    call_id = env["reviewed"][env["agents"][0]]
    assert coach.get(f"/calls/{call_id}/audio?channel=../../etc/passwd").status_code == 400
    ok = coach.get(f"/calls/{call_id}/audio?channel=caller", headers={"Range": "bytes=0-43"})
    assert ok.status_code == 206 and ok.content[:4] == b"RIFF" and len(ok.content) == 44


def test_audio_comes_only_from_the_calls_own_recording(env: dict) -> None:
    """Even a call id equal to a real file's name serves nothing: the path comes from the database row."""
    coach = client_for(env, "coach1")
    with sqlite3.connect(env["db"]) as conn:
        call_id, audio_path = conn.execute("SELECT call_id, audio_path FROM calls LIMIT 1").fetchone()
    assert coach.get(f"/calls/{Path(audio_path).name}/audio").status_code == 404
    whole = coach.get(f"/calls/{call_id}/audio")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"


# ------------------------------------------------------------------ headers, binding, audit
def test_security_headers(env: dict) -> None:
    resp = client_for(env).get("/login")
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY" and resp.headers["x-content-type-options"] == "nosniff"


def test_serve_binds_to_localhost_by_default(env: dict, tmp_path: Path) -> None:
    """`qa serve --db X --port P` answers on 127.0.0.1 (its default host); a missing database is a usage error."""
    import inspect
    import os
    import subprocess
    import sys
    import time

    import httpx

    from qa_pipeline.cli.serve import serve
    from tests.web.web_helpers import free_port

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    root = Path(__file__).resolve().parents[2]
    env_vars = {**os.environ, "PYTHONPATH": str(root)}
    missing = subprocess.run([sys.executable, "-m", "qa_pipeline", "serve", "--db", str(tmp_path / "none.db")],
                             env=env_vars, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such database" in missing.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qa_pipeline", "serve", "--db", str(env["db"]), "--port", str(port)],
                            env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, resp = time.time() + 90, None
        while time.time() < deadline and resp is None:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
            except httpx.TransportError:
                time.sleep(0.3)
        assert resp is not None and resp.status_code == 200 and "Sign in" in resp.text
        assert "server" not in resp.headers  # no server banner
    finally:
        proc.terminate()
        proc.wait(15)


def test_actions_land_in_the_audit_log(env: dict) -> None:
    db = env["db"]
    lead = client_for(env, "lead1", ip="10.3.3.3")
    token = page_csrf(lead)
    with sqlite3.connect(db) as conn:
        call_id = conn.execute("SELECT call_id FROM queue_items WHERE status='open' AND claimed_by IS NULL"
                               " ORDER BY priority DESC LIMIT 1").fetchone()[0]
    assert lead.post("/queue/claim", data={"csrf": token, "call_id": call_id}, follow_redirects=False).status_code == 303
    assert lead.get(f"/calls/{call_id}").status_code == 200
    assert lead.post(f"/calls/{call_id}/review", data={"csrf": token, "notes": "audited"},
                     follow_redirects=False).status_code == 303
    assert lead.post("/lead/assist", data={"csrf": token, "target": "zh.mocking", "on": "1"},
                     follow_redirects=False).status_code == 303
    assert lead.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    with sqlite3.connect(db) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE actor='lead1' ORDER BY id")]
    for action in ("login", "queue.claim", "call.view", "review.submit", "assist.set", "logout"):
        assert action in actions, actions


def test_only_hr_and_qa_leads_get_scorecards(env: dict) -> None:
    with sqlite3.connect(env["db"]) as conn:
        week = conn.execute("SELECT week FROM calls LIMIT 1").fetchone()[0]
    a = env["agents"][0]
    for name in ("coach1", f"agent_{a}"):
        client = client_for(env, name, ip="10.4.4.4")
        assert client.get("/scorecards").status_code == 403, name
        assert client.get("/scorecards/export", params={"week": week, "fmt": "csv"}).status_code == 403, name
    hr = client_for(env, "hr1", ip="10.4.4.4")
    assert hr.get("/scorecards/export", params={"week": week, "fmt": "csv"}).status_code == 200
    assert hr.get("/scorecards/export", params={"week": "../../etc/passwd", "fmt": "csv"}).status_code == 400
    assert hr.get("/scorecards/export", params={"week": week, "fmt": "exe"}).status_code == 400
