"""The review queue: risk-ranked flagged calls, an unbiased random sample of the
rest, and exemplary calls for training (案例教学).

Rebuilding never disturbs an item a coach has claimed or finished; claiming is
one UPDATE … RETURNING inside BEGIN IMMEDIATE, so two coaches (or processes)
never get the same item.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any, get_args

from qa_pipeline.config import QueueConfig
from qa_pipeline.contracts import FindingKind

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
    return round(score, 2), reasons


def _stable_rank(seed: str, *parts: str) -> float:
    digest = hashlib.sha256("|".join((seed, *parts)).encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


def rebuild_queue(store: Any, config: QueueConfig | None = None) -> int:
    cfg = config or QueueConfig()
    conn = store.conn
    rows = [dict(r) for r in store.db.query(
        "SELECT c.call_id, c.agent_id, c.team, c.week, c.current_result_id AS result_id, s.total, s.passed,"
        " s.auto_fail, s.agitation_agent, s.agitation_caller, s.asr_confidence"
        " FROM calls c JOIN scores s ON s.result_id = c.current_result_id")]
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
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
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


def list_queue(store: Any, status: str = "open", team: str | None = None, agent: str | None = None,
               kind: str | None = None, week: str | None = None, limit: int = 50,
               day: str | None = None) -> list[dict[str, Any]]:
    """Queue items by priority. ``day``: YYYY-MM-DD, calls started that day."""
    sql = "SELECT q.* FROM queue_items q WHERE q.status = ?"
    params: list[Any] = [status]
    for col, value in (("team", team), ("agent_id", agent), ("week", week)):
        if value:
            sql += f" AND q.{col} = ?"
            params.append(value)
    if kind:
        sql += " AND EXISTS (SELECT 1 FROM findings f WHERE f.result_id = q.result_id AND f.kind = ?)"
        params.append(kind)
    if day:

        start = dt.date.fromisoformat(day)
        sql += " AND q.call_id IN (SELECT call_id FROM calls WHERE started_at >= ? AND started_at < ?)"
        params += [start.isoformat(), (start + dt.timedelta(days=1)).isoformat()]
    sql += " ORDER BY q.priority DESC, q.call_id LIMIT ?"
    params.append(limit)
    return list(store.db.query(sql, params))


def claim(store: Any, coach: str, call_id: str | None = None, ttl_minutes: float | None = None) -> dict[str, Any] | None:
    """Atomically claim the top open item (or ``call_id``). None when nothing is claimable."""
    ttl = (ttl_minutes if ttl_minutes is not None else QueueConfig().claim_ttl_minutes) * 60
    now = time.time()
    pick = ("SELECT call_id FROM queue_items WHERE status='open' AND (claimed_by IS NULL OR claim_expires < ?)"
            + (" AND call_id = ?" if call_id else "") + " ORDER BY priority DESC, call_id LIMIT 1")
    params: list[Any] = [now] + ([call_id] if call_id else [])
    with store.transaction() as conn:
        row = conn.execute(
            f"UPDATE queue_items SET claimed_by=?, claimed_at=?, claim_expires=? WHERE call_id = ({pick})"
            " RETURNING call_id, priority, reason", [coach, time.strftime("%Y-%m-%dT%H:%M:%S"), now + ttl, *params],
        ).fetchone()
        if row:
            store.audit(coach, "queue.claim", f"call:{row[0]}", None, {"expires_in_s": ttl})
    return {"call_id": row[0], "priority": row[1], "reason": row[2]} if row else None


def release(store: Any, coach: str, call_id: str) -> bool:
    with store.transaction() as conn:
        cur = conn.execute("UPDATE queue_items SET claimed_by=NULL, claimed_at=NULL, claim_expires=NULL"
                           " WHERE call_id=? AND claimed_by=? AND status='open'", (call_id, coach))
        if cur.rowcount:
            store.audit(coach, "queue.release", f"call:{call_id}")
    return bool(cur.rowcount)


def queue_facets(store: Any) -> dict[str, list[str]]:
    """Values for the queue's filters: teams, agents and ISO weeks present in the queue."""
    return {
        "teams": [r[0] for r in store.conn.execute("SELECT team FROM teams ORDER BY team")],
        "agents": [r[0] for r in store.conn.execute("SELECT agent_id FROM agents ORDER BY agent_id")],
        "weeks": [r[0] for r in store.conn.execute(
            "SELECT DISTINCT week FROM queue_items WHERE week IS NOT NULL ORDER BY week DESC")],
        "kinds": list(get_args(FindingKind)),
    }
