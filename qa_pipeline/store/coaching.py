"""Coaching sessions: a coach opens one for an agent with goals, a due date and the calls or findings it is
about; the agent acknowledges it; the coach closes it with an outcome.

- ``open`` → ``acknowledged`` (by the agent, once, with an optional comment) → ``closed`` (by the coach who
  opened it or a QA lead, once, with an outcome). A session may be closed unacknowledged (the agent left, say):
  the scorecard shows that it was. Nothing is overwritten: each step fills its own columns, once, and lands in
  the audit log; a closed session is final (open a new one to coach again).
- The coached criteria are the ones the coach names, plus those whose evidence holds a referenced finding.
  They are what the scorecard's before/after compares on the agent's calls (reports/scorecard.py).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from qa_pipeline.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from qa_pipeline.store import clock, validate
from qa_pipeline.store.users import REVIEWERS, require_role

OUTCOMES = ("met", "partly_met", "not_met")
STATUSES = ("open", "acknowledged", "closed")

SCHEMA_V4_COACHING = """
CREATE TABLE IF NOT EXISTS coaching_sessions (
    session_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, team TEXT, coach TEXT NOT NULL, goals TEXT NOT NULL,
    due_date TEXT NOT NULL, criteria TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
    acknowledged_by TEXT, acknowledged_at TEXT, ack_comment TEXT,
    closed_by TEXT, closed_at TEXT, outcome TEXT, outcome_note TEXT);
CREATE INDEX IF NOT EXISTS idx_coaching_agent ON coaching_sessions(agent_id, status);
CREATE TABLE IF NOT EXISTS coaching_items (
    session_id TEXT NOT NULL, call_id TEXT NOT NULL, finding_key TEXT NOT NULL DEFAULT '', rule_id TEXT,
    PRIMARY KEY (session_id, call_id, finding_key))
"""


def _due(value: str) -> str:
    value = validate.text("due date", value, 20, required=True)
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValidationError(f"due date must be YYYY-MM-DD, not {value!r}") from None


def _criteria_of(store: Any, call_id: str) -> dict[str, set[str]]:
    """Criterion id -> rule ids in its evidence, in the call's current score."""
    row = store.conn.execute("SELECT s.breakdown FROM calls c JOIN scores s ON s.result_id = c.current_result_id"
                             " WHERE c.call_id=?", (call_id,)).fetchone()
    criteria = json.loads(row[0] or "{}").get("criteria", []) if row else []
    return {c["id"]: {e["rule_id"] for e in c.get("evidence") or []} for c in criteria}


def _items(store: Any, agent_id: str, calls: list[str], findings: list[str]) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(call_id, finding_key, rule_id) rows and the criteria the findings belong to. Every call and finding
    must be the agent's own."""
    items: list[tuple[str, str, str]] = []
    criteria: set[str] = set()
    for call_id in calls:
        call = store.call(validate.text("call", call_id, 128, required=True))
        if call is None or call["agent_id"] != agent_id:
            raise ValidationError(f"{call_id!r} is not a call of agent {agent_id}")
        items.append((call_id, "", ""))
    for ref in findings:
        ref = validate.text("finding", ref, 64, required=True)
        rows = list(store.db.query("SELECT f.call_id, f.finding_key, f.rule_id FROM findings f JOIN calls c"
                                   " ON c.current_result_id = f.result_id WHERE (f.finding_key = ? OR f.finding_id = ?)"
                                   " AND c.agent_id = ?", [ref, ref, agent_id]))
        if not rows:
            raise ValidationError(f"no finding {ref!r} on a call of agent {agent_id}")
        f = rows[0]
        items.append((f["call_id"], f["finding_key"], f["rule_id"]))
        criteria |= {cid for cid, rules in _criteria_of(store, f["call_id"]).items() if f["rule_id"] in rules}
    return list(dict.fromkeys(items)), criteria


def open_session(store: Any, coach: str, agent_id: str, goals: str, due_date: str, calls: list[str] | None = None,
                 findings: list[str] | None = None, criteria: list[str] | None = None) -> str:
    """Open a session for ``agent_id``; returns its id. It needs goals, a due date (today or later) and at least
    one call, finding or criterion to be about."""
    require_role(store, coach, *REVIEWERS)
    agent_id = validate.text("agent", agent_id, 100, required=True)
    if not store.conn.execute("SELECT 1 FROM agents WHERE agent_id=?", (agent_id,)).fetchone():
        raise NotFoundError(f"no agent {agent_id!r} in the database")
    goals = validate.text("goals", goals, required=True)
    due = _due(due_date)
    if due < clock.now()[:10]:
        raise ValidationError(f"due date {due} is in the past")
    items, derived = _items(store, agent_id, calls or [], findings or [])
    named = [validate.text("criterion", c, 100, required=True) for c in criteria or []]
    coached = sorted(set(named) | derived)
    if not items and not coached:
        raise ValidationError("say what the session is about: a call, a finding or a criterion")
    team = store.conn.execute("SELECT team FROM agents WHERE agent_id=?", (agent_id,)).fetchone()[0]
    session_id = uuid.uuid4().hex[:12]
    with store.transaction() as conn:
        conn.execute("INSERT INTO coaching_sessions (session_id, agent_id, team, coach, goals, due_date, criteria,"
                     " status, created_at) VALUES (?,?,?,?,?,?,?, 'open', ?)",
                     (session_id, agent_id, team, coach, goals, due, json.dumps(coached), clock.now()))
        conn.executemany("INSERT INTO coaching_items VALUES (?,?,?,?)", [(session_id, *i) for i in items])
        store.audit(coach, "coaching.open", f"coaching:{session_id}", None,
                    {"agent_id": agent_id, "goals": goals, "due_date": due, "criteria": coached,
                     "items": [list(i) for i in items]})
    return session_id


def session(store: Any, session_id: str) -> dict[str, Any]:
    rows = list(store.db.query("SELECT * FROM coaching_sessions WHERE session_id=?", [session_id]))
    if not rows:
        raise NotFoundError(f"no coaching session {session_id!r}")
    s = dict(rows[0])
    s["criteria"] = json.loads(s["criteria"] or "[]")
    s["items"] = list(store.db.query("SELECT call_id, finding_key, rule_id FROM coaching_items WHERE session_id=?"
                                     " ORDER BY call_id, finding_key", [session_id]))
    s["overdue"] = is_overdue(s)
    return s


def is_overdue(s: dict[str, Any], today: str | None = None) -> bool:
    """Not closed and past its due date (``today`` YYYY-MM-DD; default today)."""
    return s["status"] != "closed" and s["due_date"] < (today or clock.now()[:10])


def acknowledge(store: Any, agent_user: str, session_id: str, comment: str = "") -> None:
    u = require_role(store, agent_user, "agent")
    s = session(store, session_id)
    if s["agent_id"] != u["agent_id"]:
        raise NotFoundError(f"no coaching session {session_id!r}")  # another agent's session does not exist for them
    comment = validate.text("comment", comment)
    with store.transaction() as conn:
        row = conn.execute("SELECT status, acknowledged_at, closed_at FROM coaching_sessions WHERE session_id=?",
                           (session_id,)).fetchone()
        if row[1]:
            raise ConflictError(f"coaching session {session_id} was acknowledged at {row[1]}: once is enough")
        if row[0] == "closed":
            raise ConflictError(f"coaching session {session_id} was closed at {row[2]}")
        conn.execute("UPDATE coaching_sessions SET status='acknowledged', acknowledged_by=?, acknowledged_at=?,"
                     " ack_comment=? WHERE session_id=?", (agent_user, clock.now(), comment or None, session_id))
        store.audit(agent_user, "coaching.acknowledge", f"coaching:{session_id}", {"status": row[0]},
                    {"status": "acknowledged", "comment": comment})


def close_session(store: Any, actor: str, session_id: str, outcome: str, note: str = "") -> None:
    u = require_role(store, actor, *REVIEWERS)
    validate.choice("outcome", outcome, OUTCOMES)
    note = validate.text("note", note)
    s = session(store, session_id)
    if s["coach"] != actor and u["role"] != "qa_lead":
        raise PermissionDenied(f"coaching session {session_id} is {s['coach']}'s: they or a QA lead close it")
    with store.transaction() as conn:
        row = conn.execute("SELECT status, closed_at, closed_by FROM coaching_sessions WHERE session_id=?",
                           (session_id,)).fetchone()
        if row[0] == "closed":
            raise ConflictError(f"coaching session {session_id} was closed by {row[2]} at {row[1]}: a closed "
                                "session is final (open a new one)")
        conn.execute("UPDATE coaching_sessions SET status='closed', closed_by=?, closed_at=?, outcome=?,"
                     " outcome_note=? WHERE session_id=?", (actor, clock.now(), outcome, note or None, session_id))
        store.audit(actor, "coaching.close", f"coaching:{session_id}", {"status": row[0]},
                    {"status": "closed", "outcome": outcome, "note": note})


def sessions(store: Any, agent_id: str | None = None, coach: str | None = None, status: str | None = None,
             team: str | None = None) -> list[dict[str, Any]]:
    """Sessions, newest first, with their items, criteria and whether they are overdue."""
    sql, params = "SELECT session_id FROM coaching_sessions WHERE 1=1", []
    for col, value in (("agent_id", agent_id), ("coach", coach), ("team", team)):
        if value:
            sql += f" AND {col} = ?"
            params.append(value)
    if status == "overdue":
        sql += " AND status != 'closed' AND due_date < ?"
        params.append(clock.now()[:10])
    elif status:
        validate.choice("status", status, STATUSES)
        sql += " AND status = ?"
        params.append(status)
    return [session(store, r[0]) for r in store.conn.execute(sql + " ORDER BY created_at DESC, rowid DESC", params)]
