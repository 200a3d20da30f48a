"""Accounts (issue 16, point 6): `qa users list|disable|enable|remove|passwd`; a password change, a disable or a
removal ends that user's web sessions; sessions expire; the audit log records each."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.review_helpers import flagged_call, qa, sql, users_db, web
from tests.web.web_helpers import PASSWORD, login


@pytest.fixture()
def db(reference_db: Path, tmp_path: Path) -> Path:
    return users_db(reference_db, tmp_path)


def signed_out(client) -> bool:
    resp = client.get("/queue", follow_redirects=False)
    return resp.status_code == 303 and resp.headers["location"].startswith("/login")


def audit(db: Path, action: str) -> list[dict]:
    return [json.loads(a or "null") for (a,) in sql(db, "SELECT after FROM audit_log WHERE action=? ORDER BY id", action)]


def test_users_list_shows_roles_state_and_sessions(db: Path) -> None:
    web(db, "coach1")
    listed = {u["name"]: u for u in json.loads(qa("users", "list", "--db", db, "--json").stdout)}
    assert {"coach1", "coach2", "lead1", "hr1"} <= set(listed)
    assert listed["coach1"]["role"] == "coach" and listed["coach1"]["sessions"] == 1
    assert listed["lead1"]["disabled_at"] is None and "password_hash" not in listed["lead1"]
    assert "coach1" in qa("users", "list", "--db", db).stdout


def test_disabling_a_user_ends_their_sessions_claims_and_access(db: Path) -> None:
    coach = web(db, "coach1")
    call_id, _ = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    out = qa("users", "disable", "coach1", "--db", db)
    assert "1 session(s) ended" in out.stdout and "1 claim(s) released" in out.stdout
    assert signed_out(coach)
    assert sql(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", call_id) == [(None,)]
    resp = login(web(db), "coach1")
    assert resp.status_code == 401 and "Wrong user name or password" in resp.text  # says nothing more
    assert "disabled" in qa("queue", "claim", "--db", db, "--user", "coach1", code=2).output
    assert "already disabled" in qa("users", "disable", "coach1", "--db", db, code=2).output
    assert audit(db, "user.disable") == [{"disabled": True, "sessions_ended": 1, "claims_released": [call_id]}]
    assert sql(db, "SELECT count(*) FROM audit_log WHERE action='login.disabled' AND actor='coach1'") == [(1,)]
    qa("users", "enable", "coach1", "--db", db)
    assert login(web(db), "coach1").status_code == 200
    assert audit(db, "user.enable") == [{"disabled": False}]


def test_a_new_password_ends_the_old_sessions(db: Path) -> None:
    coach, other = web(db, "coach2"), web(db, "coach1")
    out = qa("users", "passwd", "coach2", "--db", db, "--password-stdin", stdin="a brand new secret\n")
    assert "1 session(s) ended" in out.stdout
    assert signed_out(coach) and not signed_out(other)
    assert login(web(db), "coach2", PASSWORD).status_code == 401
    assert login(web(db), "coach2", "a brand new secret").status_code == 200
    assert audit(db, "user.passwd") == [{"sessions_ended": 1}]
    assert "at least 8" in qa("users", "passwd", "coach2", "--db", db, "--password-stdin", stdin="short\n",
                              code=2).output
    # `qa users add` with a new password for an existing user does the same.
    client = web(db)
    assert login(client, "coach2", "a brand new secret").status_code == 200
    qa("users", "add", "coach2", "--role", "coach", "--db", db, "--password-stdin", stdin="yet another one\n")
    assert signed_out(client)


def test_removing_a_user_keeps_their_decisions(db: Path) -> None:
    call_id, findings = flagged_call(db)
    qa("queue", "claim", call_id, "--db", db, "--user", "coach2")
    qa("review", "submit", call_id, "--db", db, "--user", "coach2", "--confirm", findings[0][0])
    client = web(db, "coach2")
    qa("users", "remove", "coach2", "--db", db, "--yes")
    assert signed_out(client)
    assert "coach2" not in {u["name"] for u in json.loads(qa("users", "list", "--db", db, "--json").stdout)}
    assert sql(db, "SELECT reviewer, status FROM reviews WHERE call_id=?", call_id) == [("coach2", "current")]
    assert sql(db, "SELECT count(*) FROM finding_verdicts WHERE call_id=?", call_id) == [(1,)]
    assert "unknown user" in qa("users", "remove", "coach2", "--db", db, "--yes", code=2).output
    assert audit(db, "user.remove") == [{"sessions_ended": 1, "claims_released": []}]


def test_sessions_expire(db: Path) -> None:
    from qa_pipeline.store.auth import SESSION_TTL_S

    before = time.time()
    client = web(db, "lead1")
    created, expires = sql(db, "SELECT created, expires FROM web_sessions WHERE user='lead1'")[0]
    assert created >= before - 1 and expires == pytest.approx(created + SESSION_TTL_S) and SESSION_TTL_S <= 12 * 3600
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE web_sessions SET expires=? WHERE user='lead1'", (time.time() - 1,))
    assert signed_out(client)


def test_user_names_are_checked(db: Path) -> None:
    for bad in ("", "a b", "<script>", "x" * 65, "_lead", "léa"):
        assert "user name" in qa("users", "add", bad, "--role", "coach", "--db", db, code=2).output, bad
