"""Weekly agent scorecards (HR) and the daily team report (QA leads), over the store.

Every number is about the calls *taken* in the period (``calls.week`` / the date of
``calls.started_at``), with the human decisions recorded when the report runs:

- a call's score is the machine's, re-scored when its current review rejects findings
  (the rejected finding is dropped; a rejected script-step result is flipped) and with
  the review's human points per criterion replacing the machine's;
- counts (banned phrases, auto-fails, emotional-agent flags, escalations) leave out
  findings a coach rejected and say how many a coach confirmed.

How one call is counted lives in ``report_calls.py``; CSV / XLSX / HTML / JSON in ``report_render.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from qa_pipeline.config import ReportConfig
from qa_pipeline.reports.calls import (
    CallLine,
    apply_human_scores,
    call_url,
    chunks,
    current_reviews,
    evaluate_calls,
    score_total,
)
from qa_pipeline.reports.coaching import coaching_by_agent
from qa_pipeline.store import clock, validate
from qa_pipeline.store.db import Store

__all__ = ["AgentWeek", "CallLine", "DailyReport", "ReportConfig", "Scorecard", "apply_human_scores", "call_url",
           "daily_report", "evaluate_calls", "score_total", "weekly_scorecard"]

FLAG_KINDS_SKIP_STATUS = ("pass", "na")  # script-step results that are not flags


# ----------------------------------------------------------------------------- configuration
# ----------------------------------------------------------------------------- weeks
def parse_week(week: str) -> dt.date:
    """Monday of an ISO week ``YYYY-Www`` that exists; ValidationError (a ValueError) for anything else."""
    return validate.week_monday(week)


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_back(week: str, n: int) -> list[str]:
    """The ``n`` weeks ending with ``week``, oldest first."""
    monday = parse_week(week)
    return [week_of(monday - dt.timedelta(weeks=k)) for k in range(n - 1, -1, -1)]


# ----------------------------------------------------------------------------- statistics
def mean_ci(values: list[float], level: float = 0.95) -> tuple[float | None, float | None, float | None]:
    """Mean and two-sided Student-t interval; no interval for fewer than 2 values. Clipped to 0..100."""
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return round(mean, 2), None, None
    from scipy.stats import t

    half = float(t.ppf((1 + level) / 2, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return round(mean, 2), round(max(0.0, mean - half), 2), round(min(100.0, mean + half), 2)


# ----------------------------------------------------------------------------- the weekly scorecard
@dataclass
class TrendPoint:
    week: str
    calls: int
    mean_score: float | None


@dataclass
class AgentWeek:
    agent_id: str
    agent_name: str
    team: str
    week: str
    status: str  # ranked | insufficient data
    rank: int | None  # within the team, by mean score; None when not ranked
    tier: str | None
    calls: int
    audio_hours: float
    mean_score: float | None
    ci_low: float | None
    ci_high: float | None
    pass_rate: float | None  # 0..1
    auto_fails: int  # calls auto-failed
    auto_fails_confirmed: int
    banned: dict[str, int]  # category -> agent's banned phrases
    banned_total: int
    banned_confirmed: int
    adherence: dict[str, float | None]  # script step -> share of applicable calls where it passed
    adherence_n: dict[str, int]  # script step -> calls where it applied
    emotional_agent_calls: int
    emotional_agent_confirmed: int
    escalated_calls: int
    calmed_calls: int
    reviewed_calls: int
    reviewed_share: float | None
    human_scored_calls: int  # calls whose score a review changed (rejections or human points)
    disputes_opened: int
    disputes_upheld: int  # the QA lead let the review stand
    disputes_changed: int  # the QA lead changed the review
    disputes_open: int
    prev_mean_score: float | None
    delta_score: float | None
    prev_tier: str | None
    trend: list[TrendPoint]
    call_ids: dict[str, list[str]]  # metric -> calls behind it (drill-down)
    calls_detail: list[CallLine]
    # coaching sessions as they stood at the end of the week (reports/coaching.py)
    coaching_open: int = 0  # not closed (open or acknowledged)
    coaching_overdue: int = 0  # not closed and past the due date
    coaching_closed: int = 0  # closed during the week
    coaching_sessions: list[str] = field(default_factory=list)  # their ids
    coaching: list[dict[str, Any]] = field(default_factory=list)  # each with its before/after


@dataclass
class Scorecard:
    week: str
    team: str | None
    agent: str | None
    generated_at: str
    config: dict[str, Any]
    teams: list[str]
    categories: list[str]  # banned-phrase categories seen, for columns
    steps: list[str]  # script steps seen, for columns
    weeks: list[str]  # the trend's weeks, oldest first
    rows: list[AgentWeek]
    notes: list[str] = field(default_factory=list)


def _filters(team: str | None, agent: str | None) -> tuple[str, list[Any]]:
    sql, params = "", []
    if team:
        sql += " AND c.team = ?"
        params.append(team)
    if agent:
        sql += " AND c.agent_id = ?"
        params.append(agent)
    return sql, params


def weekly_scorecard(store: Store, week: str, team: str | None = None, agent: str | None = None,
                     config: ReportConfig | None = None) -> Scorecard:
    """One row per agent with calls in ``week`` (ISO ``YYYY-Www``), optionally one team or agent."""
    config = config or ReportConfig()
    weeks = weeks_back(week, max(2, config.trend_weeks))
    extra, params = _filters(team, agent)
    marks = ",".join("?" * (len(weeks) - 1))
    lines = evaluate_calls(store, f"c.week = ?{extra}", [week, *params], config.form)
    lines += evaluate_calls(store, f"c.week IN ({marks}){extra}", [*weeks[:-1], *params], config.form,
                            detail=False)
    by_agent_week: dict[tuple[str, str], list[CallLine]] = defaultdict(list)
    for line in lines:
        by_agent_week[(line.agent_id, line.week)].append(line)
    names = {r["agent_id"]: r["name"] for r in store.db.query("SELECT agent_id, name FROM agents")}
    disputes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in store.db.query("SELECT d.dispute_id, d.call_id, d.status, c.agent_id FROM disputes d"
                            f" JOIN calls c ON c.call_id = d.call_id WHERE c.week = ?{extra} ORDER BY d.created_at",
                            [week, *params]):
        disputes[d["agent_id"]].append(dict(d))
    prev_week = weeks[-2]
    agents = sorted({a for a, w in by_agent_week if w == week})
    rows = []
    for agent_id in agents:
        calls = by_agent_week[(agent_id, week)]
        prev = by_agent_week.get((agent_id, prev_week), [])
        rows.append(_agent_week(agent_id, names.get(agent_id) or agent_id, week, calls, prev, disputes[agent_id],
                                [TrendPoint(w, len(by_agent_week.get((agent_id, w), [])),
                                            _mean([c.score for c in by_agent_week.get((agent_id, w), [])]))
                                 for w in weeks[-config.trend_weeks:]], config))
    _rank(rows)
    coached = coaching_by_agent(store, parse_week(week), [r.agent_id for r in rows])
    for r in rows:
        r.coaching = coached[r.agent_id]
        r.coaching_sessions = [c["session_id"] for c in r.coaching]
        r.coaching_open = sum(c["status"] != "closed" for c in r.coaching)
        r.coaching_overdue = sum(c["overdue"] for c in r.coaching)
        r.coaching_closed = sum(c["status"] == "closed" for c in r.coaching)
    rows.sort(key=lambda r: (r.team, r.rank is None, r.rank or 0, r.agent_id))
    notes = sorted({f"{c.call_id}: {n}" for r in rows for c in r.calls_detail for n in c.notes})
    return Scorecard(
        week=week, team=team, agent=agent, generated_at=clock.now(),
        config=dataclasses.asdict(config), teams=sorted({r.team for r in rows}),
        categories=sorted({k for r in rows for k in r.banned}), steps=sorted({k for r in rows for k in r.adherence}),
        weeks=weeks[-config.trend_weeks:], rows=rows, notes=notes)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.fmean(vals), 2) if vals else None


def _agent_week(agent_id: str, name: str, week: str, calls: list[CallLine], prev: list[CallLine],
                disputes: list[dict[str, Any]], trend: list[TrendPoint], config: ReportConfig) -> AgentWeek:
    scores = [c.score for c in calls if c.score is not None]
    mean, low, high = mean_ci(scores, config.confidence)
    enough = len(calls) >= config.min_calls
    prev_mean = _mean([c.score for c in prev])
    banned: Counter[str] = Counter()
    for c in calls:
        banned.update(c.banned)
    step_pass: Counter[str] = Counter()
    step_n: Counter[str] = Counter()
    for c in calls:
        for step, status in c.steps.items():
            step_n[step] += 1
            step_pass[step] += status == "pass"
    team = Counter(c.team for c in calls).most_common(1)[0][0]
    ids = {
        "calls": [c.call_id for c in calls],
        "failed": [c.call_id for c in calls if not c.passed],
        "auto_fails": [c.call_id for c in calls if c.auto_fail],
        "banned": [c.call_id for c in calls if c.banned],
        "emotional_agent": [c.call_id for c in calls if c.emotional_agent],
        "escalated": [c.call_id for c in calls if c.escalated],
        "calmed": [c.call_id for c in calls if c.calmed],
        "reviewed": [c.call_id for c in calls if c.reviewed],
        "human_scored": [c.call_id for c in calls if c.score_source == "human"],
        "disputes": sorted({d["call_id"] for d in disputes}),
    }
    for step in step_n:
        ids[f"step_fail:{step}"] = [c.call_id for c in calls if c.steps.get(step) == "fail"]
    for cat in banned:
        ids[f"banned:{cat}"] = [c.call_id for c in calls if c.banned.get(cat)]
    return AgentWeek(
        agent_id=agent_id, agent_name=name, team=team, week=week,
        status="ranked" if enough else "insufficient data", rank=None,
        tier=config.tier_of(mean) if enough else None,
        calls=len(calls), audio_hours=round(sum(c.duration for c in calls) / 3600, 3),
        mean_score=mean, ci_low=low, ci_high=high,
        pass_rate=round(sum(c.passed for c in calls) / len(calls), 3),
        auto_fails=sum(c.auto_fail for c in calls), auto_fails_confirmed=sum(c.auto_fail_confirmed for c in calls),
        banned=dict(sorted(banned.items())), banned_total=sum(banned.values()),
        banned_confirmed=sum(c.banned_confirmed for c in calls),
        adherence={s: round(step_pass[s] / step_n[s], 3) for s in sorted(step_n)},
        adherence_n=dict(sorted(step_n.items())),
        emotional_agent_calls=sum(c.emotional_agent for c in calls),
        emotional_agent_confirmed=sum(c.emotional_agent_confirmed for c in calls),
        escalated_calls=sum(c.escalated for c in calls), calmed_calls=sum(c.calmed for c in calls),
        reviewed_calls=sum(c.reviewed for c in calls), reviewed_share=round(sum(c.reviewed for c in calls) / len(calls), 3),
        human_scored_calls=sum(c.score_source == "human" for c in calls),
        disputes_opened=len(disputes), disputes_upheld=sum(d["status"] == "upheld" for d in disputes),
        disputes_changed=sum(d["status"] == "changed" for d in disputes),
        disputes_open=sum(d["status"] == "open" for d in disputes),
        prev_mean_score=prev_mean,
        delta_score=None if prev_mean is None or mean is None else round(mean - prev_mean, 2),
        prev_tier=config.tier_of(prev_mean) if len(prev) >= config.min_calls else None,
        trend=trend, call_ids=ids, calls_detail=calls)


def _rank(rows: list[AgentWeek]) -> None:
    """Competition ranking (1, 1, 3) within each team; insufficient data is never ranked."""
    by_team: dict[str, list[AgentWeek]] = defaultdict(list)
    for r in rows:
        if r.status == "ranked" and r.mean_score is not None:
            by_team[r.team].append(r)
    for members in by_team.values():
        members.sort(key=lambda r: -(r.mean_score or 0.0))
        for r in members:
            r.rank = 1 + sum((m.mean_score or 0.0) > (r.mean_score or 0.0) for m in members)


# ----------------------------------------------------------------------------- the daily team report
@dataclass
class DailyReport:
    date: str
    generated_at: str
    calls: int
    audio_hours: float
    calls_by_team: dict[str, int]
    mean_score: float | None
    pass_rate: float | None
    flags_by_kind: dict[str, int]  # findings a coach has not rejected; script steps: failures
    flag_calls: dict[str, list[str]]  # kind -> calls
    auto_fail_calls: list[str]
    reviewed_calls: int
    runs: list[dict[str, Any]]  # nightly runs started on the date
    backlog: dict[str, Any]  # the review queue now (not as of the date: the queue keeps no history)
    top_findings: list[dict[str, Any]]  # recurring over the window ending on the date
    window: list[str]  # first and last day of that window
    exemplary: list[dict[str, Any]]  # clean calls of the day for training (案例教学)
    call_ids: list[str]
    calls_detail: list[CallLine]


def daily_report(store: Store, date: str, config: ReportConfig | None = None) -> DailyReport:
    """Calls taken on ``date`` (YYYY-MM-DD), what was flagged, the queue, recurring findings, training examples."""
    config = config or ReportConfig()
    day = dt.date.fromisoformat(date)
    first = day - dt.timedelta(days=config.recurring_days - 1)
    window = evaluate_calls(store, "substr(c.started_at, 1, 10) BETWEEN ? AND ?", [first.isoformat(), date],
                            config.form)
    calls = [c for c in window if c.started_at[:10] == date]
    flags: Counter[str] = Counter()
    flag_calls: dict[str, list[str]] = defaultdict(list)
    for c in calls:
        for kind, n in c.flags.items():
            flags[kind] += n
            flag_calls[kind].append(c.call_id)
    top = _recurring(store, window, config.top_findings)
    queue_exemplary = {r["call_id"] for r in store.db.query("SELECT call_id FROM queue_items WHERE exemplary = 1")}
    exemplary = [
        {"call_id": c.call_id, "agent_id": c.agent_id, "team": c.team, "score": c.score, "score_source": c.score_source,
         "reason": "marked exemplary in the review queue" if c.call_id in queue_exemplary
         else f"score ≥ {config.exemplary_min_score:g} with no flag", "url": c.url}
        for c in calls
        if c.call_id in queue_exemplary or (c.score is not None and c.score >= config.exemplary_min_score
                                            and not c.flags and not c.auto_fail)]
    exemplary.sort(key=lambda e: -(e["score"] or 0))
    runs = [{k: r[k] for k in ("run_id", "started_at", "finished_at", "status")}
            | {"summary": json.loads(r["summary"] or "{}")}
            for r in store.db.query("SELECT * FROM runs WHERE substr(started_at, 1, 10) = ? ORDER BY started_at", [date])]
    return DailyReport(
        date=date, generated_at=clock.now(), calls=len(calls),
        audio_hours=round(sum(c.duration for c in calls) / 3600, 3),
        calls_by_team=dict(sorted(Counter(c.team for c in calls).items())),
        mean_score=_mean([c.score for c in calls]),
        pass_rate=round(sum(c.passed for c in calls) / len(calls), 3) if calls else None,
        flags_by_kind=dict(sorted(flags.items())), flag_calls=dict(sorted(flag_calls.items())),
        auto_fail_calls=[c.call_id for c in calls if c.auto_fail], reviewed_calls=sum(c.reviewed for c in calls),
        runs=runs, backlog=_backlog(store), top_findings=top, window=[first.isoformat(), date],
        exemplary=exemplary, call_ids=[c.call_id for c in calls], calls_detail=calls)


def _recurring(store: Store, window: list[CallLine], limit: int) -> list[dict[str, Any]]:
    """Rules that fired (and were not rejected) in the most calls of the window; script steps: failures."""
    ids = [c.call_id for c in window]
    reviews = current_reviews(store, ids)
    hits: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    counts: Counter[tuple[str, str, str]] = Counter()
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for f in store.db.query(
            "SELECT f.call_id, f.finding_key, f.kind, f.rule_id, f.category, f.status FROM findings f"
            f" JOIN calls c ON c.current_result_id = f.result_id WHERE c.call_id IN ({marks})"
            " ORDER BY c.started_at", chunk):
            verdict = (reviews.get(f["call_id"]) or {}).get("verdicts", {}).get(f["finding_key"])
            status = f["status"]
            if f["kind"] == "script_step":
                if verdict == "reject" and status in ("pass", "fail"):
                    status = "fail" if status == "pass" else "pass"
                if status != "fail":
                    continue
            elif verdict == "reject":
                continue
            key = (f["kind"], f["rule_id"], f["category"] or "")
            counts[key] += 1
            if f["call_id"] not in hits[key]:
                hits[key].append(f["call_id"])
    ranked = sorted(counts, key=lambda k: (-len(hits[k]), -counts[k], k))
    return [{"kind": k[0], "rule_id": k[1], "category": k[2] or None, "findings": counts[k], "calls": len(hits[k]),
             "call_ids": hits[k]} for k in ranked[:limit]]


def _backlog(store: Store) -> dict[str, Any]:
    rows = list(store.db.query("SELECT call_id, source, claimed_by, week FROM queue_items WHERE status = 'open'"
                               " ORDER BY priority DESC, call_id"))
    return {"open": len(rows), "claimed": sum(1 for r in rows if r["claimed_by"]),
            "by_source": dict(sorted(Counter(r["source"] for r in rows).items())),
            "oldest_week": min((r["week"] for r in rows if r["week"]), default=None),
            "call_ids": [r["call_id"] for r in rows]}
