"""Disputes: an agent disputes the current review of one of their calls, once; a QA lead decides.

- Only a review released to the agent (release.py), not acknowledged yet, within the dispute window
  (``review.dispute_window_days`` from its release) can be disputed.
- One dispute per review version: a second while one is open, or after the decision, is refused.
- ``upheld``: the review stands; the decision is part of the review's history (``review.review_history``).
- ``changed``: the QA lead's verdicts and scores make a new version of the review, which keeps the coach's
  notes and coaching action; the disputed version stays, marked overturned. That version is released to the
  agent at once: it is the answer to their dispute.
"""

from __future__ import annotations

import uuid
from typing import Any

from qa_pipeline.config import ReviewConfig
from qa_pipeline.errors import ConflictError, NotFoundError, ValidationError
from qa_pipeline.store import clock, validate
from qa_pipeline.store.release import check_dispute_window, own_visible_review, record_release
from qa_pipeline.store.review import criterion_weights, current_review, resolve_verdicts, write_version
from qa_pipeline.store.users import require_role

DECISIONS = ("upheld", "changed")


def open_dispute(store: Any, agent_user: str, review_id: str, reason: str, window_days: int | None = None) -> str:
    """``window_days``: the dispute window (default ``review.dispute_window_days``'s default)."""
    _, review = own_visible_review(store, agent_user, review_id)
    reason = validate.text("reason", reason, required=True)
    if review["status"] != "current":
        raise ConflictError(f"review {review_id} (version {review['version']}) was {review['status']}: dispute the "
                            "call's current review")
    dispute_id = uuid.uuid4().hex[:12]
    with store.transaction() as conn:
        earlier = conn.execute("SELECT dispute_id, status, created_at, resolved_at FROM disputes WHERE review_id=?"
                               " ORDER BY created_at LIMIT 1", (review_id,)).fetchone()
        if earlier and earlier[1] == "open":
            raise ConflictError(f"review {review_id} already has an open dispute ({earlier[0]}, opened {earlier[2]})")
        if earlier:
            raise ConflictError(f"review {review_id} was disputed and the dispute decided ({earlier[1]}, "
                                f"{earlier[3]}): a review is disputed once")
        check_dispute_window(store, review_id, window_days or ReviewConfig().dispute_window_days)
        conn.execute("INSERT INTO disputes (dispute_id, review_id, call_id, opened_by, reason, status, created_at)"
                     " VALUES (?,?,?,?,?, 'open', ?)", (dispute_id, review_id, review["call_id"], agent_user, reason, clock.now()))
        store.audit(agent_user, "dispute.open", f"review:{review_id}", None, {"dispute_id": dispute_id, "reason": reason})
    return dispute_id


def resolve_dispute(store: Any, lead: str, dispute_id: str, decision: str, note: str = "",
                    verdicts: dict[str, str] | None = None, human_scores: dict[str, Any] | None = None) -> str | None:
    """``upheld`` (the review stands) or ``changed`` (a new version with the lead's verdicts and scores over
    the disputed ones, the coach's notes and coaching action kept). Returns the new version's id, if any."""
    require_role(store, lead, "qa_lead")
    validate.choice("decision", decision, DECISIONS)
    note = validate.text("note", note)
    rows = list(store.db.query("SELECT * FROM disputes WHERE dispute_id=?", [dispute_id]))
    if not rows:
        raise NotFoundError(f"no dispute {dispute_id!r}")
    dispute = rows[0]
    call_id = dispute["call_id"]
    if decision == "upheld" and (verdicts or human_scores):
        raise ValidationError("an upheld review keeps its verdicts and scores: give verdicts only to change it")
    resolved = resolve_verdicts(store, call_id, verdicts)
    scores = validate.human_scores(human_scores, criterion_weights(store, call_id))
    new_id = None
    with store.transaction() as conn:
        status = conn.execute("SELECT status FROM disputes WHERE dispute_id=?", (dispute_id,)).fetchone()[0]
        if status != "open":
            raise ConflictError(f"dispute {dispute_id} is already {status}")
        current = current_review(store, call_id)
        if current is None or current["review_id"] != dispute["review_id"]:
            raise ConflictError(f"dispute {dispute_id} is about a review that is no longer the call's current one")
        if decision == "changed":
            rules = {r["finding_key"]: r["rule_id"] for r in store.db.query(
                "SELECT finding_key, rule_id FROM finding_verdicts WHERE review_id=?", [current["review_id"]])}
            merged = {k: (rules[k], v) for k, v in current["verdicts"].items()} | resolved
            merged_scores = {**current["human_scores"], **scores}
            if {k: v[1] for k, v in merged.items()} == current["verdicts"] and merged_scores == current["human_scores"]:
                raise ValidationError("a changed decision changes a verdict or a score; to let the review stand, "
                                      "uphold it")
            fields = {"notes": current["notes"] or "", "coaching_action": current["coaching_action"] or "",
                      "reason": note or f"dispute {dispute_id}"}
            kept = {k: why for k, why in current["reject_reasons"].items() if k not in resolved}  # the coach's why
            new_id = write_version(store, call_id, lead, merged, merged_scores, fields, current, "overturned",
                                   acting_as="qa_lead", dispute_id=dispute_id, reasons=kept)
            record_release(store, new_id, call_id, lead, clock.now(), f"decision on dispute {dispute_id}")
        conn.execute("UPDATE disputes SET status=?, resolved_by=?, resolution=?, resolved_at=?, new_review_id=?"
                     " WHERE dispute_id=?", (decision, lead, note, clock.now(), new_id, dispute_id))
        store.audit(lead, "dispute.resolve", f"dispute:{dispute_id}", {"status": "open"},
                    {"status": decision, "note": note, "new_review_id": new_id})
    return new_id


def disputes(store: Any, status: str | None = "open", call_id: str | None = None) -> list[dict[str, Any]]:
    """Disputes (``status`` None: all), with the disputed call's agent and the disputed review's version."""
    sql = ("SELECT d.*, c.agent_id, c.team, r.version FROM disputes d LEFT JOIN calls c ON c.call_id = d.call_id"
           " LEFT JOIN reviews r ON r.review_id = d.review_id WHERE 1=1")
    params: list[Any] = []
    if status:
        sql += " AND d.status = ?"
        params.append(status)
    if call_id:
        sql += " AND d.call_id = ?"
        params.append(call_id)
    return list(store.db.query(sql + " ORDER BY d.created_at DESC", params))
