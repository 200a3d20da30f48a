"""Human decisions: reviews with per-finding verdicts, disputes, users, assist mode.


Everything here writes to the human tables only and lands in the audit log with
who, what, when, before and after. Machine results are never modified.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from qa_pipeline.errors import ReviewError

ROLES = ("coach", "qa_lead", "hr", "agent")
VERDICTS = ("confirm", "reject")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def add_user(store: Any, name: str, role: str, agent_id: str | None = None, password_hash: str | None = None,
             actor: str = "admin") -> None:
    if role not in ROLES:
        raise ReviewError(f"role must be one of {ROLES}, not {role!r}")
    with store.transaction() as conn:
        before = conn.execute("SELECT role, agent_id FROM users WHERE name=?", (name,)).fetchone()
        conn.execute("INSERT INTO users (name, role, agent_id, password_hash, created_at) VALUES (?,?,?,?,?)"
                     " ON CONFLICT(name) DO UPDATE SET role=excluded.role, agent_id=excluded.agent_id,"
                     " password_hash=COALESCE(excluded.password_hash, users.password_hash)",
                     (name, role, agent_id, password_hash, _now()))
        store.audit(actor, "user.add", f"user:{name}", dict(zip(("role", "agent_id"), before)) if before else None,
                    {"role": role, "agent_id": agent_id})


def user(store: Any, name: str) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT name, role, agent_id, password_hash FROM users WHERE name=?", [name]))
    return rows[0] if rows else None


def require_role(store: Any, name: str, *roles: str) -> dict[str, Any]:
    u = user(store, name)
    if u is None:
        raise ReviewError(f"unknown user {name!r}; add it with `qa users add`")
    if roles and u["role"] not in roles:
        raise ReviewError(f"user {name!r} is {u['role']}; this needs {' or '.join(roles)}")
    return u


def submit_review(
    store: Any,
    coach: str,
    call_id: str,
    verdicts: dict[str, str] | None = None,
    human_scores: dict[str, float] | None = None,
    notes: str = "",
    coaching_action: str = "",
) -> str:
    """Record a coach's review of the call's current result. ``verdicts``: finding_key or rule_id → confirm|reject."""
    require_role(store, coach, "coach", "qa_lead")
    call = store.call(call_id)
    if call is None:
        raise ReviewError(f"no call {call_id!r} in the database")
    findings = store.findings(call_id)
    resolved: dict[str, tuple[str, str]] = {}
    for ref, verdict in (verdicts or {}).items():
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict for {ref!r} must be confirm or reject, not {verdict!r}")
        hits = [f for f in findings if f["finding_key"] == ref or f["rule_id"] == ref or f["finding_id"] == ref]
        if not hits:
            raise ReviewError(f"call {call_id} has no finding {ref!r}; see `qa queue show {call_id}`")
        for f in hits:
            resolved[f["finding_key"]] = (f["rule_id"], verdict)
    review_id = uuid.uuid4().hex[:12]
    after = {"verdicts": {k: v[1] for k, v in resolved.items()}, "human_scores": human_scores or {},
             "notes": notes, "coaching_action": coaching_action}
    with store.transaction() as conn:
        conn.execute("INSERT INTO reviews (review_id, call_id, result_id, reviewer, status, human_scores, notes,"
                     " coaching_action, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (review_id, call_id, call["current_result_id"], coach, "final",
                      json.dumps(human_scores or {}), notes, coaching_action, _now(), _now()))
        conn.executemany("INSERT INTO finding_verdicts VALUES (?,?,?,?,?,?,?)",
                         [(review_id, call_id, key, rule, verdict, "", _now()) for key, (rule, verdict) in resolved.items()])
        conn.execute("UPDATE queue_items SET status='done' WHERE call_id=?", (call_id,))
        store.audit(coach, "review.submit", f"call:{call_id}", None, {"review_id": review_id, **after})
    return review_id


def latest_review(store: Any, call_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT * FROM reviews WHERE call_id=? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                               [call_id]))
    if not rows:
        return None
    review = dict(rows[0])
    review["human_scores"] = json.loads(review["human_scores"] or "{}")
    review["verdicts"] = {r["finding_key"]: r["verdict"] for r in store.db.query(
        "SELECT finding_key, verdict FROM finding_verdicts WHERE review_id=?", [review["review_id"]])}
    return review


def open_dispute(store: Any, agent_user: str, review_id: str, reason: str) -> str:
    u = require_role(store, agent_user, "agent")
    rows = list(store.db.query("SELECT r.call_id, c.agent_id FROM reviews r JOIN calls c USING (call_id)"
                               " WHERE r.review_id=?", [review_id]))
    if not rows:
        raise ReviewError(f"no review {review_id!r}")
    if rows[0]["agent_id"] != u["agent_id"]:
        raise ReviewError(f"{agent_user} can dispute only reviews of their own calls")
    dispute_id = uuid.uuid4().hex[:12]
    with store.transaction() as conn:
        conn.execute("INSERT INTO disputes (dispute_id, review_id, call_id, opened_by, reason, status, created_at)"
                     " VALUES (?,?,?,?,?, 'open', ?)", (dispute_id, review_id, rows[0]["call_id"], agent_user, reason, _now()))
        store.audit(agent_user, "dispute.open", f"review:{review_id}", None, {"dispute_id": dispute_id, "reason": reason})
    return dispute_id


def resolve_dispute(store: Any, lead: str, dispute_id: str, decision: str, note: str = "",
                    verdicts: dict[str, str] | None = None, human_scores: dict[str, float] | None = None) -> None:
    """``decision``: upheld (the review stands) or changed (a QA lead's review replaces it)."""
    require_role(store, lead, "qa_lead")
    if decision not in ("upheld", "changed"):
        raise ReviewError("decision must be upheld or changed")
    rows = list(store.db.query("SELECT * FROM disputes WHERE dispute_id=?", [dispute_id]))
    if not rows:
        raise ReviewError(f"no dispute {dispute_id!r}")
    dispute = rows[0]
    if dispute["status"] != "open":
        raise ReviewError(f"dispute {dispute_id} is already {dispute['status']}")
    if decision == "changed":
        before = latest_review(store, dispute["call_id"])
        merged = {**(before or {}).get("verdicts", {}), **(verdicts or {})}
        submit_review(store, lead, dispute["call_id"], merged, {**(before or {}).get("human_scores", {}),
                      **(human_scores or {})}, notes=f"dispute {dispute_id}: {note}")
    with store.transaction() as conn:
        conn.execute("UPDATE disputes SET status=?, resolved_by=?, resolution=?, resolved_at=? WHERE dispute_id=?",
                     (decision, lead, note, _now(), dispute_id))
        store.audit(lead, "dispute.resolve", f"dispute:{dispute_id}", {"status": "open"},
                    {"status": decision, "note": note})


def set_assist(store: Any, actor: str, target: str, on: bool, reason: str = "") -> None:
    require_role(store, actor, "qa_lead")
    with store.transaction() as conn:
        if on:
            conn.execute("INSERT OR REPLACE INTO assist_mode VALUES (?,?,?,?)", (target, reason, actor, _now()))
        else:
            conn.execute("DELETE FROM assist_mode WHERE target=?", (target,))
        store.audit(actor, "assist.set" if on else "assist.clear", f"rule:{target}", None, {"reason": reason})


def reviewed_calls(store: Any, agent_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """An agent's own calls that have a review: the latest review of each, newest first."""
    return list(store.db.query(
        "SELECT c.call_id, c.started_at, c.week, c.team, s.total AS machine_total, r.review_id, r.reviewer,"
        " r.created_at AS reviewed_at, r.notes, r.coaching_action,"
        " (SELECT count(*) FROM disputes d WHERE d.review_id = r.review_id AND d.status = 'open') AS open_disputes"
        " FROM calls c JOIN reviews r ON r.call_id = c.call_id"
        " LEFT JOIN scores s ON s.result_id = c.current_result_id"
        " WHERE c.agent_id = ? AND r.rowid = (SELECT r2.rowid FROM reviews r2 WHERE r2.call_id = c.call_id"
        " ORDER BY r2.created_at DESC, r2.rowid DESC LIMIT 1)"
        " ORDER BY r.created_at DESC LIMIT ?", [agent_id, limit]))


def disputes(store: Any, status: str | None = "open", call_id: str | None = None) -> list[dict[str, Any]]:
    """Disputes (``status`` None: all), with the disputed call's agent."""
    sql = ("SELECT d.*, c.agent_id, c.team FROM disputes d LEFT JOIN calls c ON c.call_id = d.call_id WHERE 1=1")
    params: list[Any] = []
    if status:
        sql += " AND d.status = ?"
        params.append(status)
    if call_id:
        sql += " AND d.call_id = ?"
        params.append(call_id)
    return list(store.db.query(sql + " ORDER BY d.created_at DESC", params))
