"""Releasing a finished review to the agent, and the agent's acknowledgement.

- A review is hidden from its agent until a QA lead releases it: at once, or from a date and time they set.
  A release is a human decision like a review: it is never overwritten. A release that has not taken effect
  yet can be moved to another time (``reschedule``): a new version of the release, the old one kept as
  ``rescheduled``. Releasing a review that is already released is refused.
- A release belongs to one review *version*. A coach's new version of a released review is hidden again until
  it is released in its turn (the agent keeps seeing the last version released to them); a QA lead's dispute
  decision that changes a review is released at once (it is the answer to the agent's dispute).
- The agent acknowledges a released, current review once, with an optional comment; a second
  acknowledgement is refused. An acknowledged review can no longer be disputed; a disputed one is
  acknowledged after the QA lead's decision.
- The dispute window (``review.dispute_window_days``) runs from the moment the review became visible.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from qa_pipeline.errors import ConflictError, NotFoundError, ReviewError, ValidationError
from qa_pipeline.store import clock, validate
from qa_pipeline.store.users import require_role

# Schema version 4 (db.MIGRATIONS), with the coaching sessions' tables (coaching.SCHEMA_V4_COACHING).
# Before version 4 an agent saw every review of their calls as soon as it was written: those reviews are
# recorded as released when they were made, by nobody (``released_by`` NULL), so agents keep what they saw.
SCHEMA_V4_RELEASE = """
CREATE TABLE IF NOT EXISTS review_releases (
    release_id TEXT PRIMARY KEY, review_id TEXT NOT NULL, call_id TEXT NOT NULL, version INTEGER NOT NULL,
    status TEXT NOT NULL, release_at TEXT NOT NULL, released_by TEXT, reason TEXT, created_at TEXT,
    replaced_by TEXT, replaced_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS idx_review_releases_version ON review_releases(review_id, version);
CREATE UNIQUE INDEX IF NOT EXISTS idx_review_releases_current ON review_releases(review_id) WHERE status = 'current';
CREATE INDEX IF NOT EXISTS idx_review_releases_call ON review_releases(call_id, release_at);
INSERT OR IGNORE INTO review_releases (release_id, review_id, call_id, version, status, release_at, released_by,
    reason, created_at)
    SELECT lower(hex(randomblob(6))), review_id, call_id, 1, 'current', created_at, NULL,
    'visible to the agent before releases existed (schema 4)', created_at FROM reviews;
CREATE TABLE IF NOT EXISTS review_acks (
    review_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, agent_user TEXT NOT NULL, comment TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_review_acks_call ON review_acks(call_id)
"""


def parse_when(value: str | None) -> str | None:
    """``YYYY-MM-DD`` (that day, 00:00) or ``YYYY-MM-DDTHH:MM[:SS]`` as the store's local timestamp; None: now."""
    value = validate.text("release date", value, 40)
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise ValidationError(f"release date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM, not {value!r}") from None
    if when.tzinfo is not None:
        raise ValidationError("give the release date in local time, without a time zone")
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _review(store: Any, review_id: str) -> dict[str, Any]:
    rows = list(store.db.query("SELECT r.*, c.agent_id, c.team FROM reviews r JOIN calls c USING (call_id)"
                               " WHERE r.review_id=?", [review_id]))
    if not rows:
        raise NotFoundError(f"no review {review_id!r}")
    return rows[0]


def current_release(store: Any, review_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT * FROM review_releases WHERE review_id=? AND status='current'", [review_id]))
    return rows[0] if rows else None


def released_at(store: Any, review_id: str) -> str | None:
    """When the review became (or becomes) visible to its agent: None if it was never released."""
    rel = current_release(store, review_id)
    return rel["release_at"] if rel else None


def is_visible(store: Any, review_id: str, at: str | None = None) -> bool:
    when = released_at(store, review_id)
    return when is not None and when <= (at or clock.now())


def record_release(store: Any, review_id: str, call_id: str, actor: str, release_at: str, reason: str,
                   previous: dict[str, Any] | None = None) -> str:
    """Write a release (inside the caller's transaction); ``previous`` (a pending release) becomes rescheduled."""
    conn, now, release_id = store.conn, clock.now(), uuid.uuid4().hex[:12]
    version = 1 + conn.execute("SELECT coalesce(max(version), 0) FROM review_releases WHERE review_id=?",
                               (review_id,)).fetchone()[0]
    if previous:
        conn.execute("UPDATE review_releases SET status='rescheduled', replaced_by=?, replaced_at=? WHERE release_id=?",
                     (release_id, now, previous["release_id"]))
    conn.execute("INSERT INTO review_releases (release_id, review_id, call_id, version, status, release_at,"
                 " released_by, reason, created_at) VALUES (?,?,?,?, 'current', ?,?,?,?)",
                 (release_id, review_id, call_id, version, release_at, actor, reason or None, now))
    store.audit(actor, "review.release", f"review:{review_id}",
                {"release_id": previous["release_id"], "release_at": previous["release_at"]} if previous else None,
                {"release_id": release_id, "version": version, "release_at": release_at, "reason": reason})
    return release_id


def release_review(store: Any, lead: str, review_id: str, at: str | None = None, reason: str = "",
                   reschedule: bool = False) -> dict[str, Any]:
    """Release the review to its agent now, or from ``at`` (a date or date and time, not in the past).
    ``reschedule``: move a release that has not taken effect yet. Returns {release_id, release_at}."""
    require_role(store, lead, "qa_lead")
    when, reason = parse_when(at), validate.text("reason", reason)
    review = _review(store, review_id)
    now = clock.now()
    if when is not None and when < now[:16]:
        raise ValidationError(f"release date {when} is in the past: release it now (leave the date out)")
    with store.transaction():
        if _review(store, review_id)["status"] != "current":
            raise ConflictError(f"review {review_id} (version {review['version']}) was {review['status']}: release "
                                "the call's current review")
        previous = current_release(store, review_id)
        if previous and previous["release_at"] <= now:
            raise ConflictError(f"review {review_id} was released to the agent at {previous['release_at']}"
                                + (f" by {previous['released_by']}" if previous["released_by"] else "")
                                + ": a release cannot be taken back or repeated")
        if previous and not reschedule:
            raise ConflictError(f"review {review_id} is already set to be released at {previous['release_at']} by "
                                f"{previous['released_by']}: reschedule it to change the date")
        if reschedule and not previous:
            raise ConflictError(f"review {review_id} has no pending release to reschedule: release it")
        release_id = record_release(store, review_id, review["call_id"], lead, when or now, reason, previous)
    return {"release_id": release_id, "release_at": when or now}


def release_history(store: Any, review_id: str) -> list[dict[str, Any]]:
    return list(store.db.query("SELECT * FROM review_releases WHERE review_id=? ORDER BY version", [review_id]))


def acknowledgement(store: Any, review_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT * FROM review_acks WHERE review_id=?", [review_id]))
    return rows[0] if rows else None


def own_visible_review(store: Any, agent_user: str, review_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user, review) if ``review_id`` is a review of the agent's own call that was released to them; an
    unreleased review is "not found" to its agent, as if it did not exist."""
    u = require_role(store, agent_user, "agent")
    review = _review(store, review_id)
    if review["agent_id"] != u["agent_id"]:
        raise ReviewError(f"{agent_user} can act only on reviews of their own calls")
    if not is_visible(store, review_id):
        raise NotFoundError(f"no review {review_id!r}")
    return u, review


def acknowledge(store: Any, agent_user: str, review_id: str, comment: str = "") -> None:
    """The agent acknowledges a review released to them, once, with an optional comment."""
    _, review = own_visible_review(store, agent_user, review_id)
    comment = validate.text("comment", comment)
    with store.transaction() as conn:
        status = conn.execute("SELECT status FROM reviews WHERE review_id=?", (review_id,)).fetchone()[0]
        if status != "current":
            raise ConflictError(f"review {review_id} (version {review['version']}) was {status}: acknowledge the "
                                "call's current review")
        earlier = acknowledgement(store, review_id)
        if earlier:
            raise ConflictError(f"review {review_id} was acknowledged by {earlier['agent_user']} at "
                                f"{earlier['created_at']}: a review is acknowledged once")
        open_dispute = conn.execute("SELECT dispute_id FROM disputes WHERE review_id=? AND status='open'",
                                    (review_id,)).fetchone()
        if open_dispute:
            raise ConflictError(f"review {review_id} has an open dispute ({open_dispute[0]}): it is acknowledged "
                                "after the QA lead's decision")
        conn.execute("INSERT INTO review_acks (review_id, call_id, agent_user, comment, created_at) VALUES (?,?,?,?,?)",
                     (review_id, review["call_id"], agent_user, comment or None, clock.now()))
        store.audit(agent_user, "review.acknowledge", f"review:{review_id}", None, {"comment": comment})


def check_dispute_window(store: Any, review_id: str, window_days: int) -> None:
    """Refuse a dispute of a review acknowledged already, or released more than ``window_days`` ago."""
    ack = acknowledgement(store, review_id)
    if ack:
        raise ConflictError(f"review {review_id} was acknowledged at {ack['created_at']}: an acknowledged review "
                            "is not disputed")
    when = released_at(store, review_id)
    if when is None:
        raise NotFoundError(f"no review {review_id!r}")
    closes = (dt.datetime.fromisoformat(when) + dt.timedelta(days=window_days)).strftime("%Y-%m-%dT%H:%M:%S")
    if clock.now() > closes:
        raise ConflictError(f"review {review_id} was released at {when}: the {window_days}-day dispute window "
                            f"closed at {closes}")


def dispute_closes(when: str | None, window_days: int) -> str | None:
    if not when:
        return None
    return (dt.datetime.fromisoformat(when) + dt.timedelta(days=window_days)).strftime("%Y-%m-%dT%H:%M:%S")


def window_open(when: str | None, window_days: int) -> bool:
    """Whether a review released at ``when`` can still be disputed (not counting an acknowledgement)."""
    return bool(when) and (dispute_closes(when, window_days) or "") >= clock.now() and when <= clock.now()


def latest_visible_version(store: Any, call_id: str) -> dict[str, Any] | None:
    """The newest version of the call's review its agent may see (released, and the release date reached)."""
    rows = list(store.db.query(
        "SELECT r.review_id FROM reviews r JOIN review_releases rr ON rr.review_id = r.review_id"
        " AND rr.status = 'current' AND rr.release_at <= ? WHERE r.call_id = ? ORDER BY r.version DESC LIMIT 1",
        [clock.now(), call_id]))
    return rows[0] if rows else None


def visible_review_ids(store: Any, call_id: str) -> set[str]:
    return {r[0] for r in store.conn.execute(
        "SELECT review_id FROM review_releases WHERE call_id=? AND status='current' AND release_at <= ?",
        (call_id, clock.now()))}


def released_calls(store: Any, agent_id: str, window_days: int, limit: int = 200) -> list[dict[str, Any]]:
    """An agent's calls with a review released to them: the newest released version of each (whether it is
    still current), its release, acknowledgement and dispute, newest release first."""
    now = clock.now()
    visible = ("SELECT max(r2.version) FROM reviews r2 JOIN review_releases v ON v.review_id = r2.review_id"
               " AND v.status = 'current' AND v.release_at <= ? WHERE r2.call_id = c.call_id")
    rows = list(store.db.query(
        "SELECT c.call_id, c.started_at, c.week, c.team, s.total AS machine_total, r.review_id, r.reviewer,"
        " r.version, r.status AS review_status, r.created_at AS reviewed_at, r.notes, r.coaching_action,"
        " rr.release_at, a.created_at AS acknowledged_at, a.comment AS ack_comment,"
        " (SELECT d.status FROM disputes d WHERE d.review_id = r.review_id ORDER BY d.created_at LIMIT 1) AS dispute"
        " FROM calls c JOIN reviews r ON r.call_id = c.call_id"
        " JOIN review_releases rr ON rr.review_id = r.review_id AND rr.status = 'current'"
        " LEFT JOIN review_acks a ON a.review_id = r.review_id LEFT JOIN scores s ON s.result_id = c.current_result_id"
        f" WHERE c.agent_id = ? AND r.version = ({visible}) ORDER BY rr.release_at DESC, c.call_id LIMIT ?",
        [agent_id, now, limit]))
    for row in rows:
        row["dispute_closes"] = dispute_closes(row["release_at"], window_days)
        row["window_open"] = window_open(row["release_at"], window_days)
    return rows


def pending_releases(store: Any, team: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Current reviews not visible to their agent yet (never released, or released from a later date)."""
    sql = ("SELECT r.review_id, r.call_id, r.version, r.reviewer, r.created_at, c.agent_id, c.team,"
           " rr.release_at FROM reviews r JOIN calls c USING (call_id) LEFT JOIN review_releases rr"
           " ON rr.review_id = r.review_id AND rr.status = 'current' WHERE r.status = 'current'"
           " AND (rr.release_at IS NULL OR rr.release_at > ?)")
    params: list[Any] = [clock.now()]
    if team:
        sql += " AND c.team = ?"
        params.append(team)
    return list(store.db.query(sql + " ORDER BY r.created_at LIMIT ?", [*params, limit]))


def team_rates(store: Any, since: str | None = None, window_days: int = 7) -> list[dict[str, Any]]:
    """Per team, the reviews released to agents (from ``since``, a date, if given): how many were acknowledged,
    disputed, and are still awaiting the agent (window open) or were left (window closed, no answer)."""
    now = clock.now()
    sql = ("SELECT c.team, r.review_id, rr.release_at, (SELECT 1 FROM review_acks a WHERE a.review_id = r.review_id)"
           " AS acked, (SELECT 1 FROM disputes d WHERE d.review_id = r.review_id LIMIT 1) AS disputed"
           " FROM review_releases rr JOIN reviews r ON r.review_id = rr.review_id JOIN calls c ON c.call_id = r.call_id"
           " WHERE rr.status = 'current' AND rr.release_at <= ?")
    params: list[Any] = [now]
    if since:
        sql += " AND rr.release_at >= ?"
        params.append(since)
    teams: dict[str, dict[str, Any]] = {}
    for row in store.db.query(sql, params):
        t = teams.setdefault(row["team"] or "", {"team": row["team"] or "", "released": 0, "acknowledged": 0,
                                                  "disputed": 0, "awaiting": 0, "unanswered": 0})
        t["released"] += 1
        t["acknowledged"] += bool(row["acked"])
        t["disputed"] += bool(row["disputed"])  # a review disputed, then acknowledged after the decision: both
        if row["acked"] or row["disputed"]:
            continue
        if (dispute_closes(row["release_at"], window_days) or "") >= now:
            t["awaiting"] += 1
        else:
            t["unanswered"] += 1
    for t in teams.values():
        n = t["released"]
        t["acknowledged_rate"] = round(t["acknowledged"] / n, 3) if n else None
        t["disputed_rate"] = round(t["disputed"] / n, 3) if n else None
    return [teams[k] for k in sorted(teams)]
