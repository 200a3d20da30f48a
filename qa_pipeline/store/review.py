"""Coach reviews: per-finding verdicts, human scores, notes and a coaching action, kept as a history.

- Only the holder of a call's lease (``queue.claim``) may review it, or a QA lead who says they act as
  one (``as_lead``), which the audit log records.
- A call's reviews are versions 1, 2, …; exactly one is current. Reviewing a call that has a review is a new
  version and needs a reason; the old version stays, marked superseded, with who replaced it and when.
  A QA lead's dispute decision that changes a review is a version too (``disputes.py``).
- Every input goes through ``validate`` first. Machine results are never modified; everything lands in the
  audit log with who, what, when, before and after.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from qa_pipeline.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from qa_pipeline.store import clock, validate
from qa_pipeline.store.queue import lease
from qa_pipeline.store.users import REVIEWERS, require_role

VERDICTS = ("confirm", "reject")


def criterion_weights(store: Any, call_id: str) -> dict[str, float]:
    """Criterion id -> weight in the form version the call's current result was scored with."""
    row = store.conn.execute("SELECT s.breakdown FROM calls c JOIN scores s ON s.result_id = c.current_result_id"
                             " WHERE c.call_id=?", (call_id,)).fetchone()
    criteria = json.loads(row[0] or "{}").get("criteria", []) if row else []
    return {c["id"]: float(c["weight"]) for c in criteria}


def resolve_verdicts(store: Any, call_id: str, verdicts: dict[str, str] | None) -> dict[str, tuple[str, str]]:
    """finding_key -> (rule_id, verdict) from references (finding key, finding id or rule id: all its findings)
    to the call's current findings. One verdict per finding: two that disagree are an error."""
    findings = store.findings(call_id)
    resolved: dict[str, tuple[str, str]] = {}
    for ref, verdict in (verdicts or {}).items():
        validate.choice(f"verdict for {str(ref)[:40]!r}", verdict, VERDICTS)
        hits = [f for f in findings if ref in (f["finding_key"], f["rule_id"], f["finding_id"])]
        if not hits:
            raise ValidationError(f"call {call_id} has no finding {str(ref)[:60]!r}; see `qa queue show {call_id}`")
        for f in hits:
            if resolved.get(f["finding_key"], (None, verdict))[1] != verdict:
                raise ValidationError(f"finding {f['finding_key']} ({f['rule_id']}) is given both verdicts")
            resolved[f["finding_key"]] = (f["rule_id"], verdict)
    return resolved


def reject_reasons(store: Any, call_id: str, resolved: dict[str, tuple[str, str]],
                   reasons: dict[str, str] | None) -> dict[str, str]:
    """finding_key -> why the coach rejected it, from references as in ``resolve_verdicts``. A reason goes with
    a reject: one for a finding confirmed or not decided is a ValidationError."""
    out: dict[str, str] = {}
    findings = store.findings(call_id)
    for ref, why in (reasons or {}).items():
        why = validate.text("reject reason", why, limit=2000).strip()
        if not why:
            continue
        keys = [f["finding_key"] for f in findings if ref in (f["finding_key"], f["rule_id"], f["finding_id"])]
        if not keys or any(resolved.get(k, ("", ""))[1] != "reject" for k in keys):
            raise ValidationError(f"a reason goes with a rejected finding: {str(ref)[:60]!r} is not rejected")
        out.update({k: why for k in keys})
    return out


def submit_review(
    store: Any,
    coach: str,
    call_id: str,
    verdicts: dict[str, str] | None = None,
    human_scores: dict[str, Any] | None = None,
    notes: str = "",
    coaching_action: str = "",
    reason: str = "",
    as_lead: bool = False,
    why_rejected: dict[str, str] | None = None,
) -> str:
    """Record a review of the call's current result; returns its id. ``verdicts``: finding key, finding id or
    rule id -> confirm|reject. ``reason``: why, when the call already has a review (required then).
    ``why_rejected``: finding reference -> why it was rejected (kept with the verdict, shown in calibration)."""
    u = require_role(store, coach, *REVIEWERS)
    if store.call(call_id) is None:
        raise NotFoundError(f"no call {call_id!r} in the database")
    if as_lead and u["role"] != "qa_lead":
        raise PermissionDenied(f"{coach} is {u['role']}: only a QA lead can review a call without its claim")
    fields = {"notes": validate.text("notes", notes), "coaching_action": validate.text("coaching_action", coaching_action),
              "reason": validate.text("reason", reason)}
    scores = validate.human_scores(human_scores, criterion_weights(store, call_id))
    resolved = resolve_verdicts(store, call_id, verdicts)
    why = reject_reasons(store, call_id, resolved, why_rejected)
    with store.transaction() as conn:
        held = lease(store, call_id)
        override = held is None or held["holder"] != coach
        if override and not as_lead:
            raise ConflictError(
                f"{call_id} is claimed by {held['holder']} until {held['expires']}: only they can review it now"
                if held else f"claim {call_id} before reviewing it (`qa queue claim {call_id}`): your claim is "
                             "missing or has expired")
        current = current_review(store, call_id)
        if current:
            if _open_dispute(conn, current["review_id"]):
                raise ConflictError(f"the review of {call_id} has an open dispute: a QA lead decides it first")
            if not fields["reason"]:
                raise ValidationError(f"{call_id} already has a review (version {current['version']} by "
                                      f"{current['reviewer']} at {current['created_at']}): say why you review it "
                                      "again (--reason; the old version is kept)")
        review_id = write_version(store, call_id, coach, resolved, scores, fields, current, "superseded",
                                  acting_as="qa_lead" if override else None, reasons=why)
        conn.execute("UPDATE queue_items SET status='done', claimed_by=NULL, claimed_at=NULL, claim_expires=NULL"
                     " WHERE call_id=?", (call_id,))
        if override:  # a QA lead reviewing without the claim, perhaps over another reviewer's
            store.audit(coach, "review.lead_override", f"call:{call_id}", {"holder": held["holder"] if held else None},
                        {"review_id": review_id})
    return review_id


def write_version(store: Any, call_id: str, reviewer: str, resolved: dict[str, tuple[str, str]],
                  scores: dict[str, float], fields: dict[str, str], current: dict[str, Any] | None,
                  replaced_as: str, acting_as: str | None = None, dispute_id: str | None = None,
                  reasons: dict[str, str] | None = None) -> str:
    """Write a new current version of a call's review (inside the caller's transaction); the current one, if
    any, becomes ``replaced_as`` (superseded | overturned). ``reasons``: finding_key -> why it was rejected,
    kept in the verdict's ``note``."""
    reasons = reasons or {}
    conn, now, review_id = store.conn, clock.now(), uuid.uuid4().hex[:12]
    version = 1 + conn.execute("SELECT coalesce(max(version), 0) FROM reviews WHERE call_id=?", (call_id,)).fetchone()[0]
    if current:
        conn.execute("UPDATE reviews SET status=?, replaced_by=?, replaced_at=? WHERE review_id=?",
                     (replaced_as, review_id, now, current["review_id"]))
    result_id = conn.execute("SELECT current_result_id FROM calls WHERE call_id=?", (call_id,)).fetchone()[0]
    conn.execute("INSERT INTO reviews (review_id, call_id, result_id, reviewer, status, human_scores, notes,"
                 " coaching_action, created_at, updated_at, version, supersedes, reason, acting_as, dispute_id)"
                 " VALUES (?,?,?,?, 'current', ?,?,?,?,?,?,?,?,?,?)",
                 (review_id, call_id, result_id, reviewer, json.dumps(scores), fields["notes"],
                  fields["coaching_action"], now, now, version, current["review_id"] if current else None,
                  fields["reason"] or None, acting_as, dispute_id))
    conn.executemany("INSERT INTO finding_verdicts VALUES (?,?,?,?,?,?,?)",
                     [(review_id, call_id, key, rule, verdict, reasons.get(key, "") if verdict == "reject" else "", now)
                      for key, (rule, verdict) in resolved.items()])
    store.audit(reviewer, "review.submit", f"call:{call_id}",
                {"review_id": current["review_id"], "version": current["version"]} if current else None,
                {"review_id": review_id, "version": version, "verdicts": {k: v[1] for k, v in resolved.items()},
                 "reject_reasons": {k: v for k, v in reasons.items() if resolved.get(k, ("", ""))[1] == "reject"},
                 "human_scores": scores, **fields, "acting_as": acting_as, "dispute_id": dispute_id})
    return review_id


def _open_dispute(conn: Any, review_id: str) -> str | None:
    row = conn.execute("SELECT dispute_id FROM disputes WHERE review_id=? AND status='open'", (review_id,)).fetchone()
    return row[0] if row else None


def _with_decisions(store: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        review = dict(row)
        review["human_scores"] = json.loads(review["human_scores"] or "{}")
        rows_v = list(store.db.query("SELECT finding_key, verdict, note FROM finding_verdicts WHERE review_id=?",
                                     [review["review_id"]]))
        review["verdicts"] = {r["finding_key"]: r["verdict"] for r in rows_v}
        review["reject_reasons"] = {r["finding_key"]: r["note"] for r in rows_v if r["verdict"] == "reject" and r["note"]}
        out.append(review)
    return out


def call_of(store: Any, review_id: str) -> str | None:
    """The call a review (any version) is of, or None for an unknown review."""
    row = store.conn.execute("SELECT call_id FROM reviews WHERE review_id=?", (review_id,)).fetchone()
    return row[0] if row else None


def current_review(store: Any, call_id: str) -> dict[str, Any] | None:
    """The call's current review with its verdicts and human scores, or None."""
    rows = _with_decisions(store, list(store.db.query(
        "SELECT * FROM reviews WHERE call_id=? AND status='current'", [call_id])))
    return rows[0] if rows else None


def review_history(store: Any, call_id: str) -> list[dict[str, Any]]:
    """Every version of the call's review, oldest first, each with its verdicts, human scores and the disputes
    opened on it (with their decisions)."""
    versions = _with_decisions(store, list(store.db.query(
        "SELECT * FROM reviews WHERE call_id=? ORDER BY version", [call_id])))
    for v in versions:
        v["disputes"] = list(store.db.query("SELECT * FROM disputes WHERE review_id=? ORDER BY created_at, rowid",
                                            [v["review_id"]]))
    return versions


def set_assist(store: Any, actor: str, target: str, on: bool, reason: str = "") -> None:
    require_role(store, actor, "qa_lead")
    target = validate.text("target", target, required=True)
    reason = validate.text("reason", reason)
    with store.transaction() as conn:
        if on:
            conn.execute("INSERT OR REPLACE INTO assist_mode VALUES (?,?,?,?)", (target, reason, actor, clock.now()))
        else:
            conn.execute("DELETE FROM assist_mode WHERE target=?", (target,))
        store.audit(actor, "assist.set" if on else "assist.clear", f"rule:{target}", None, {"reason": reason})
