"""Coaching sessions in the weekly scorecard: each agent's sessions as they stood at the end of the week, which
were overdue, and a before/after of the coached criteria on the agent's calls.

- A session is on an agent's week when it was opened before the week ended and not closed before it began.
  Its status is the one it had when the week ended (open, acknowledged, closed); it is overdue when it was not
  closed by then and its due date had passed (by the end of the week, or today for the running week).
- Before/after, per coached criterion: the mean share of the criterion's points (points / weight, 0–100) on
  the agent's calls taken in the ``BEFORE_DAYS`` days before the session was opened, and on the calls taken
  from its opening to the end of the week. Points are the machine's, with a coach's points from the call's
  current review in their place; calls where the criterion did not apply are left out.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from typing import Any

from qa_pipeline.store import clock
from qa_pipeline.store.db import Store

BEFORE_DAYS = 28


def _criterion_shares(store: Store, agent_id: str, start: str, end: str) -> dict[str, list[float]]:
    """Criterion id -> the share of its points (0–100) on each of the agent's calls started in [start, end)."""
    shares: dict[str, list[float]] = {}
    for row in store.db.query(
            "SELECT s.breakdown, r.human_scores FROM calls c JOIN scores s ON s.result_id = c.current_result_id"
            " LEFT JOIN reviews r ON r.call_id = c.call_id AND r.status = 'current'"
            " WHERE c.agent_id = ? AND c.started_at >= ? AND c.started_at < ?", [agent_id, start, end]):
        human = json.loads(row["human_scores"] or "{}")
        for c in json.loads(row["breakdown"] or "{}").get("criteria", []):
            if c.get("status") == "na" or not c.get("weight"):
                continue
            points = float(human.get(c["id"], c["points"]))
            shares.setdefault(c["id"], []).append(100.0 * points / float(c["weight"]))
    return shares


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _status_at(s: dict[str, Any], end: str) -> str:
    if s["closed_at"] and s["closed_at"] < end:
        return "closed"
    return "acknowledged" if s["acknowledged_at"] and s["acknowledged_at"] < end else "open"


def before_after(store: Store, agent_id: str, opened_at: str, criteria: list[str], end: str) -> dict[str, Any]:
    """Per criterion: mean share before the session (``BEFORE_DAYS`` days) and after it (up to ``end``)."""
    start = (dt.datetime.fromisoformat(opened_at) - dt.timedelta(days=BEFORE_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
    before = _criterion_shares(store, agent_id, start, opened_at)
    after = _criterion_shares(store, agent_id, opened_at, end) if opened_at < end else {}
    out = {}
    for cid in criteria:
        b, a = before.get(cid, []), after.get(cid, [])
        mb, ma = _mean(b), _mean(a)
        out[cid] = {"before": mb, "before_calls": len(b), "after": ma, "after_calls": len(a),
                    "change": None if mb is None or ma is None else round(ma - mb, 1)}
    return out


def coaching_by_agent(store: Store, week_monday: dt.date, agents: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Agent -> their sessions on the week (see the module's docstring), oldest first."""
    start = week_monday.isoformat()
    end = (week_monday + dt.timedelta(days=7)).isoformat()
    today = clock.now()[:10]
    due_by = min(today, end)
    out: dict[str, list[dict[str, Any]]] = {a: [] for a in agents}
    if not agents:
        return out
    marks = ",".join("?" * len(agents))
    for s in store.db.query(
            f"SELECT * FROM coaching_sessions WHERE agent_id IN ({marks}) AND created_at < ?"
            " AND (closed_at IS NULL OR closed_at >= ?) ORDER BY created_at, session_id", [*agents, end, start]):
        status = _status_at(s, end)
        criteria = json.loads(s["criteria"] or "[]")
        out[s["agent_id"]].append({
            "session_id": s["session_id"], "coach": s["coach"], "opened_at": s["created_at"],
            "due_date": s["due_date"], "status": status, "overdue": status != "closed" and s["due_date"] < due_by,
            "acknowledged": bool(s["acknowledged_at"] and s["acknowledged_at"] < end),
            "outcome": s["outcome"] if status == "closed" else None, "goals": s["goals"], "criteria": criteria,
            "before_after": before_after(store, s["agent_id"], s["created_at"], criteria, end)})
    return out
