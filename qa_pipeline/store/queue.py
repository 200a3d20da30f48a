"""The review queue: risk-ranked flagged calls, an unbiased random sample of the
rest, and exemplary calls for training (案例教学).

Rebuilding never disturbs an item a coach has claimed or finished; claiming is
one UPDATE … RETURNING inside BEGIN IMMEDIATE, so two coaches (or processes)
never get the same item. A claim is a lease with an expiry (see ``claim``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any, get_args

from qa_pipeline.config import QueueConfig
from qa_pipeline.contracts import FindingKind
from qa_pipeline.errors import ConflictError, NotFoundError, ValidationError
from qa_pipeline.store import clock, validate
from qa_pipeline.store.users import REVIEWERS, require_role

SEVERITY_POINTS = {"critical": 30.0, "major": 15.0, "minor": 5.0}


def is_flagged(finding: dict[str, Any]) -> bool:
    """A finding a coach should look at: anything but a script step that passed or did not apply."""
    return finding["kind"] != "script_step" or finding["status"] == "fail"


def risk(row: dict[str, Any], findings: list[dict[str, Any]], cfg: QueueConfig) -> tuple[float, list[str]]:
    """Priority of a call and the reasons, from its current machine result."""
    score, reasons = 0.0, []
    if row["auto_fail"]:
        score += 100
        reasons.append("auto-fail")
    flagged = [f for f in findings if is_flagged(f)]
    sev = sum(SEVERITY_POINTS.get(f["severity"] or "minor", 5.0) for f in flagged)
    if sev:
        score += min(sev, 60)
        kinds = sorted({f["kind"] for f in flagged})
        reasons.append("findings: " + ", ".join(kinds))
    if any(f["kind"] == "tone" and f.get("rule_id") == "emotional_agent" for f in flagged):
        score += cfg.emotional_agent_points
        reasons.append("emotional agent: coach early")
    agitation = max(row["agitation_agent"] or 0.0, row["agitation_caller"] or 0.0)
    if agitation >= 0.5:
        score += 20 * agitation
        reasons.append(f"agitation {agitation:.2f}")
    if row["asr_confidence"] is not None and row["asr_confidence"] < cfg.low_asr_confidence:
        score += 10
        reasons.append(f"low ASR confidence {row['asr_confidence']:.2f}")
    if row["total"] is not None and not row["passed"]:
        score += 10
        reasons.append(f"score {row['total']:.0f} below pass mark")
    if row.get("roles_uncertain"):
        # Every agent finding may be on the wrong person: a coach checks who is the agent (and swaps them).
        score += ROLES_UNCERTAIN_POINTS
        reasons.append(f"roles uncertain ({row['role_confidence']:.2f}): check who is the agent")
    return round(score, 2), reasons


ROLES_UNCERTAIN_POINTS = 10.0


def _stable_rank(seed: str, *parts: str) -> float:
    digest = hashlib.sha256("|".join((seed, *parts)).encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


def rebuild_queue(store: Any, config: QueueConfig | None = None) -> int:
    cfg = config or QueueConfig()
    conn = store.conn
    rows = [dict(r) for r in store.db.query(
        "SELECT c.call_id, c.agent_id, c.team, c.week, c.current_result_id AS result_id, s.total, s.passed,"
        " s.auto_fail, s.agitation_agent, s.agitation_caller, s.asr_confidence,"
        " rr.uncertain AS roles_uncertain, rr.confidence AS role_confidence"
        " FROM calls c JOIN scores s ON s.result_id = c.current_result_id"
        " LEFT JOIN result_roles rr ON rr.result_id = c.current_result_id")]
    findings: dict[str, list[dict[str, Any]]] = {}
    for f in store.db.query("SELECT f.call_id, f.kind, f.rule_id, f.status, f.severity FROM findings f"
                            " JOIN calls c ON c.current_result_id = f.result_id"):
        findings.setdefault(f["call_id"], []).append(f)
    items: dict[str, dict[str, Any]] = {}
    unflagged: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        priority, reasons = risk(row, findings.get(row["call_id"], []), cfg)
        if priority > 0:
            items[row["call_id"]] = {**row, "priority": priority, "reason": "; ".join(reasons), "source": "risk"}
        else:
            unflagged.setdefault((row["agent_id"] or "", row["week"] or ""), []).append(row)
    # Stratified random sample: the same calls are chosen on every rebuild (seeded).
    for (agent, week), calls in unflagged.items():
        calls.sort(key=lambda r: _stable_rank(cfg.seed, agent, week, r["call_id"]))
        for row in calls[: cfg.sample_per_agent_week]:
            items[row["call_id"]] = {**row, "priority": 1.0, "reason": "random sample (unflagged)", "source": "sample"}
    # Exemplary calls for training: best scores with no flagged finding.
    by_team_week: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for calls in unflagged.values():
        for row in calls:
            if row["total"] is not None and row["total"] >= cfg.exemplary_min_score:
                by_team_week.setdefault((row["team"] or "", row["week"] or ""), []).append(row)
    exemplary = set()
    for calls in by_team_week.values():
        calls.sort(key=lambda r: -r["total"])
        exemplary |= {r["call_id"] for r in calls[: cfg.exemplary_per_team_week]}
    for call_id in exemplary:
        row = next(r for r in rows if r["call_id"] == call_id)
        items.setdefault(call_id, {**row, "priority": 0.5, "reason": "exemplary call for training", "source": "exemplary"})
    stamp = clock.now()
    with store.transaction():
        for call_id, it in items.items():
            conn.execute(
                "INSERT INTO queue_items (call_id, result_id, priority, reason, source, week, agent_id, team, status,"
                " created_at, exemplary) VALUES (?,?,?,?,?,?,?,?, 'open', ?, ?)"
                " ON CONFLICT(call_id) DO UPDATE SET result_id=excluded.result_id, priority=excluded.priority,"
                " reason=excluded.reason, source=excluded.source, exemplary=excluded.exemplary"
                " WHERE queue_items.status = 'open' AND queue_items.claimed_by IS NULL",
                (call_id, it["result_id"], it["priority"], it["reason"], it["source"], it["week"], it["agent_id"],
                 it["team"], stamp, int(call_id in exemplary)))
    return len(items)


def _filters(team: str | None, agent: str | None, kind: str | None, week: str | None,
             day: str | None) -> tuple[str, list[Any]]:
    """SQL (over queue_items q) and parameters for the queue's filters; a week or day that does not exist is
    a ValidationError. ``day``: YYYY-MM-DD, calls started that day."""
    sql, params = "", []
    if week:
        validate.iso_week(week)
    for col, value in (("team", team), ("agent_id", agent), ("week", week)):
        if value:
            sql += f" AND q.{col} = ?"
            params.append(value)
    if kind:
        validate.choice("finding kind", kind, get_args(FindingKind))
        sql += " AND EXISTS (SELECT 1 FROM findings f WHERE f.result_id = q.result_id AND f.kind = ?)"
        params.append(kind)
    if day:
        start = dt.date.fromisoformat(validate.day(day))
        sql += " AND q.call_id IN (SELECT call_id FROM calls WHERE started_at >= ? AND started_at < ?)"
        params += [start.isoformat(), (start + dt.timedelta(days=1)).isoformat()]
    return sql, params


# How the queue can be sorted: risk first (the default), lowest machine score first, newest call first.
SORTS = {"priority": "q.priority DESC, q.call_id", "score": "s.total IS NULL, s.total, q.priority DESC, q.call_id",
         "date": "c.started_at DESC, q.call_id"}


def list_queue(store: Any, status: str = "open", team: str | None = None, agent: str | None = None,
               kind: str | None = None, week: str | None = None, limit: int = 50,
               day: str | None = None, sort: str = "priority", claimed_by: str | None = None) -> list[dict[str, Any]]:
    """Queue items, filtered, sorted by ``sort`` (SORTS), each with its call's machine score and start.
    ``claimed_by``: only the calls that user holds now ("my claims")."""
    validate.choice("sort", sort, tuple(SORTS))
    where, params = _filters(team, agent, kind, week, day)
    if claimed_by:
        where += " AND q.claimed_by = ? AND q.claim_expires >= ?"
        params += [claimed_by, time.time()]
    return list(store.db.query(
        "SELECT q.*, s.total AS score, c.started_at FROM queue_items q LEFT JOIN calls c ON c.call_id = q.call_id"
        f" LEFT JOIN scores s ON s.result_id = q.result_id WHERE q.status = ?{where} ORDER BY {SORTS[sort]} LIMIT ?",
        [status, *params, limit]))


# ------------------------------------------------------------------ claims: leases on calls
# A claim is a lease: the holder alone may review the call (review.submit_review checks it) until the lease
# expires; then anyone may claim it. Claiming a call you hold renews the lease; a holder (or a QA lead)
# can hand it over to another reviewer; only the holder can release it.

def _ttl(ttl_minutes: float | None) -> float:
    """The lease in seconds: from one minute to a working day (QueueConfig's default when not given)."""
    if ttl_minutes is None:
        return QueueConfig().claim_ttl_minutes * 60
    minutes = validate.number("claim length in minutes", ttl_minutes)
    if not 1 <= minutes <= 24 * 60:
        raise ValidationError(f"a claim lasts from 1 to {24 * 60} minutes, not {minutes:g}")
    return minutes * 60


def _stamp(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch or 0))


def lease(store: Any, call_id: str) -> dict[str, Any] | None:
    """The live lease on a call (holder, claimed_at, expires as text), or None."""
    row = store.conn.execute("SELECT claimed_by, claimed_at, claim_expires FROM queue_items WHERE call_id=?"
                             " AND claimed_by IS NOT NULL AND claim_expires >= ?", (call_id, time.time())).fetchone()
    return {"holder": row[0], "claimed_at": row[1], "expires": _stamp(row[2])} if row else None


def claim(store: Any, coach: str, call_id: str | None = None, ttl_minutes: float | None = None,
          team: str | None = None, agent: str | None = None, kind: str | None = None, week: str | None = None,
          day: str | None = None) -> dict[str, Any] | None:
    """Atomically claim the top open item that matches the filters, or ``call_id``.

    The next item: None when nothing is claimable. A named call: any call in the database, queued or not,
    open or already reviewed (to review it again); ConflictError while someone else's lease on it runs."""
    require_role(store, coach, *REVIEWERS)
    ttl, now = _ttl(ttl_minutes), time.time()
    if call_id:
        if store.call(call_id) is None:
            raise NotFoundError(f"no call {call_id!r} in the database")
        pick, params = "?", [call_id]
    else:
        where, params = _filters(team, agent, kind, week, day)
        pick = ("SELECT q.call_id FROM queue_items q WHERE q.status='open'"
                f" AND (q.claimed_by IS NULL OR q.claim_expires < ?){where} ORDER BY q.priority DESC, q.call_id LIMIT 1")
        params = [now, *params]
    with store.transaction() as conn:
        if call_id:
            _ensure_item(conn, call_id)
        row = conn.execute(
            f"UPDATE queue_items SET claimed_by=?, claimed_at=?, claim_expires=? WHERE call_id = ({pick})"
            " AND (claimed_by IS NULL OR claim_expires < ? OR claimed_by = ?) RETURNING call_id, priority, reason",
            [coach, _stamp(now), now + ttl, *params, now, coach]).fetchone()
        if row is None and call_id:
            held = lease(store, call_id)
            raise ConflictError(f"{call_id} is claimed by {held['holder']} until {held['expires']}; ask them to hand"
                                " it over (`qa queue handover`)" if held else f"{call_id} cannot be claimed")
        if row:
            store.audit(coach, "queue.claim", f"call:{row[0]}", None, {"expires_in_s": ttl, "expires": _stamp(now + ttl)})
    return {"call_id": row[0], "priority": row[1], "reason": row[2], "expires": _stamp(now + ttl)} if row else None


def _ensure_item(conn: Any, call_id: str) -> None:
    """A queue item for a call claimed by name that the queue did not pick (found by search, say)."""
    conn.execute(
        "INSERT OR IGNORE INTO queue_items (call_id, result_id, priority, reason, source, week, agent_id, team,"
        " status, created_at) SELECT c.call_id, c.current_result_id, 0, 'claimed by name', 'manual', c.week,"
        " c.agent_id, c.team, CASE WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.call_id = c.call_id) THEN 'done'"
        " ELSE 'open' END, ? FROM calls c WHERE c.call_id = ?", (_stamp(time.time()), call_id))


def release(store: Any, coach: str, call_id: str) -> None:
    """Give a call you hold (or held: a lapsed lease too) back to the queue; ConflictError when you do not."""
    with store.transaction() as conn:
        cur = conn.execute("UPDATE queue_items SET claimed_by=NULL, claimed_at=NULL, claim_expires=NULL"
                           " WHERE call_id=? AND claimed_by=?", (call_id, coach))
        if not cur.rowcount:
            held = lease(store, call_id)
            if held:
                raise ConflictError(f"{call_id} is claimed by {held['holder']} until {held['expires']}, not by "
                                    f"{coach}: only the holder can release it")
            raise ConflictError(f"{call_id} is not claimed by {coach} (nothing to release)")
        store.audit(coach, "queue.release", f"call:{call_id}")


def handover(store: Any, actor: str, call_id: str, to: str, ttl_minutes: float | None = None) -> dict[str, Any]:
    """Pass a lease to another reviewer (a fresh lease for them). The holder may; so may a QA lead, which the
    audit log records as acting as QA lead."""
    u = require_role(store, actor, *REVIEWERS)
    require_role(store, to, *REVIEWERS)
    ttl, now = _ttl(ttl_minutes), time.time()
    with store.transaction() as conn:
        held = lease(store, call_id)
        if held is None:
            raise ConflictError(f"{call_id} is not claimed: claim it (`qa queue claim {call_id}`) instead")
        as_lead = held["holder"] != actor
        if as_lead and u["role"] != "qa_lead":
            raise ConflictError(f"{call_id} is claimed by {held['holder']}, not by {actor}: only the holder or a"
                                " QA lead can hand it over")
        conn.execute("UPDATE queue_items SET claimed_by=?, claimed_at=?, claim_expires=? WHERE call_id=?",
                     (to, _stamp(now), now + ttl, call_id))
        store.audit(actor, "queue.handover", f"call:{call_id}", {"holder": held["holder"]},
                    {"holder": to, "expires": _stamp(now + ttl), "acting_as": "qa_lead" if as_lead else None})
    return {"call_id": call_id, "holder": to, "expires": _stamp(now + ttl)}


def queue_state(store: Any, call_id: str) -> dict[str, Any] | None:
    """The call's queue item as the call page shows it (status and why it is queued), or None."""
    row = store.conn.execute("SELECT status, reason FROM queue_items WHERE call_id=?", (call_id,)).fetchone()
    return {"status": row[0], "reason": row[1]} if row else None


def agent_ids(store: Any) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT agent_id FROM agents ORDER BY agent_id")]


def queue_facets(store: Any) -> dict[str, list[str]]:
    """Values for the queue's filters: teams, agents and ISO weeks present in the queue."""
    return {
        "teams": [r[0] for r in store.conn.execute("SELECT team FROM teams ORDER BY team")],
        "agents": agent_ids(store),
        "weeks": [r[0] for r in store.conn.execute(
            "SELECT DISTINCT week FROM queue_items WHERE week IS NOT NULL ORDER BY week DESC")],
        "kinds": list(get_args(FindingKind)),
    }
