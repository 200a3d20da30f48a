"""Who is the agent on a call: the roles of each stored result, and a coach's decision to swap them.

- Every result's roles (source, confidence, uncertain) are kept in ``result_roles``, beside the result, so the
  queue can say "roles uncertain" without reading transcripts.
- A coach who holds a call's claim (or a QA lead acting as one) can swap agent and caller. The decision is a
  human decision like a review: versions 1, 2, … per call, exactly one current, the old ones kept as
  superseded with who replaced them and when, every one in the audit log. Its ``result_id`` is the result
  re-scored with the coach's roles: the reference that later runs align their roles to (batch/roles.py).
  The machine result it was made from stays as it was.
"""

from __future__ import annotations

import uuid
from typing import Any

from qa_pipeline.contracts import CallResult
from qa_pipeline.errors import ConflictError, NotFoundError, PermissionDenied
from qa_pipeline.store import clock, validate
from qa_pipeline.store.queue import lease
from qa_pipeline.store.users import REVIEWERS, require_role

# Schema version 3 (db.MIGRATIONS). Results stored before it get their roles from the stored JSON (a mono
# call's role confidence was in the transcript's diarization settings; 0.8 was the default threshold then).
SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS result_roles (
    result_id TEXT PRIMARY KEY, call_id TEXT, source TEXT, confidence REAL, uncertain INTEGER, decision_id TEXT);
CREATE INDEX IF NOT EXISTS idx_result_roles_call ON result_roles(call_id);
INSERT OR IGNORE INTO result_roles (result_id, call_id, source, confidence, uncertain)
    SELECT result_id, call_id, 'voices', json_extract(result_json, '$.transcript.settings.diarization.role_confidence'),
    json_extract(result_json, '$.transcript.settings.diarization.role_confidence') < 0.8 FROM results
    WHERE json_extract(result_json, '$.transcript.settings.diarization.role_confidence') IS NOT NULL;
CREATE TABLE IF NOT EXISTS role_decisions (
    decision_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
    from_result_id TEXT, result_id TEXT, decided_by TEXT, acting_as TEXT, reason TEXT, created_at TEXT,
    replaced_by TEXT, replaced_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS idx_role_decisions_version ON role_decisions(call_id, version);
CREATE UNIQUE INDEX IF NOT EXISTS idx_role_decisions_current ON role_decisions(call_id) WHERE status = 'current'
"""


def record_result_roles(conn: Any, result_id: str, result: CallResult) -> None:
    """Keep a stored result's roles beside it (inside the ingest's transaction)."""
    r = result.roles
    conn.execute("INSERT OR REPLACE INTO result_roles VALUES (?,?,?,?,?,?)",
                 (result_id, result.call.call_id, r.source, r.confidence, int(r.uncertain), r.decision_id or None))


def check_may_decide(store: Any, actor: str, call_id: str, as_lead: bool = False) -> dict[str, Any]:
    """Who may swap a call's roles now: the holder of its claim, or a QA lead saying so. Raises before any work."""
    u = require_role(store, actor, *REVIEWERS)
    if store.call(call_id) is None:
        raise NotFoundError(f"no call {call_id!r} in the database")
    if as_lead and u["role"] != "qa_lead":
        raise PermissionDenied(f"{actor} is {u['role']}: only a QA lead can swap roles without the call's claim")
    held = lease(store, call_id)
    if not as_lead and (held is None or held["holder"] != actor):
        raise ConflictError(f"{call_id} is claimed by {held['holder']} until {held['expires']}: only they can swap its "
                            "roles now" if held else f"claim {call_id} before swapping its roles (`qa queue claim "
                            f"{call_id}`): your claim is missing or has expired")
    return u


def new_decision_id() -> str:
    return uuid.uuid4().hex[:12]


def record_decision(store: Any, decision_id: str, actor: str, call_id: str, from_result_id: str, result_id: str,
                    reason: str, acting_as: str | None) -> int:
    """Write a role decision as the call's current one (inside the caller's transaction, after the re-scored
    result ``result_id`` was ingested); the current one, if any, becomes superseded. Returns its version."""
    conn, now = store.conn, clock.now()
    current = current_decision(store, call_id)
    version = 1 + conn.execute("SELECT coalesce(max(version), 0) FROM role_decisions WHERE call_id=?",
                               (call_id,)).fetchone()[0]
    if current:
        conn.execute("UPDATE role_decisions SET status='superseded', replaced_by=?, replaced_at=? WHERE decision_id=?",
                     (decision_id, now, current["decision_id"]))
    conn.execute("INSERT INTO role_decisions (decision_id, call_id, version, status, from_result_id, result_id,"
                 " decided_by, acting_as, reason, created_at) VALUES (?,?,?, 'current', ?,?,?,?,?,?)",
                 (decision_id, call_id, version, from_result_id, result_id, actor, acting_as,
                  validate.text("reason", reason) or None, now))
    conn.execute("UPDATE queue_items SET result_id=? WHERE call_id=?", (result_id, call_id))
    store.audit(actor, "roles.swap", f"call:{call_id}",
                {"decision_id": current["decision_id"], "result_id": from_result_id} if current
                else {"result_id": from_result_id},
                {"decision_id": decision_id, "version": version, "result_id": result_id, "reason": reason,
                 "acting_as": acting_as})
    return version


def current_decision(store: Any, call_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT * FROM role_decisions WHERE call_id=? AND status='current'", [call_id]))
    return rows[0] if rows else None


def decision_history(store: Any, call_id: str) -> list[dict[str, Any]]:
    """Every role decision on the call, newest first."""
    return list(store.db.query("SELECT * FROM role_decisions WHERE call_id=? ORDER BY version DESC", [call_id]))


def result_roles(store: Any, call_id: str) -> dict[str, Any] | None:
    """The roles of the call's current result (source, confidence, uncertain), or None."""
    rows = list(store.db.query("SELECT rr.* FROM result_roles rr JOIN calls c ON c.current_result_id = rr.result_id"
                               " WHERE c.call_id=?", [call_id]))
    return rows[0] if rows else None
