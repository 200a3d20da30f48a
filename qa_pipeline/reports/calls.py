"""A call as the reports count it, with the human decisions applied first.

- the call's current review counts (one per call: a re-review or a dispute decision replaces it);
- a finding the review rejected is dropped and the call is scored again with the form
  (a rejected script-step result is flipped: "greeting missing" rejected = the greeting was there);
- the review's human points per criterion replace the machine's, re-totalled by the form's rule;
- counts (banned phrases, auto-fails, emotional-agent flags, escalations, script steps) leave out
  rejected findings and say how many a coach confirmed.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from qa_pipeline.contracts import Evidence, Finding, Score, score_from_dict
from qa_pipeline.stages.scoring import load_form, score_call
from qa_pipeline.store.db import Store, finding_key


def call_url(call_id: str) -> str:
    return f"/calls/{call_id}"


@dataclass
class CallLine:
    """One call as the report counts it."""

    call_id: str
    agent_id: str
    team: str
    week: str
    started_at: str
    duration: float
    machine_score: float | None
    score: float | None  # after human decisions
    passed: bool
    auto_fail: bool
    reviewed: bool  # a coach's review exists
    score_source: str  # machine | human (a review re-scored it: rejected findings or human points)
    review_id: str | None
    human_criteria: list[str]  # criteria whose points a human set
    confirmed: int  # findings a coach confirmed
    rejected: int  # findings a coach rejected (left out of every count)
    banned: dict[str, int]  # agent's banned phrases by category
    banned_confirmed: int
    steps: dict[str, str]  # script step -> pass | fail (n/a left out)
    emotional_agent: bool
    emotional_agent_confirmed: bool
    escalated: bool  # the caller escalated (escalation phrase or emotional caller)
    calmed: bool  # ... and the caller's agitation fell over the call
    auto_fail_confirmed: bool
    flags: dict[str, int]  # finding kind -> count (script steps: failures only)
    notes: list[str] = field(default_factory=list)
    url: str = ""


def current_reviews(store: Store, call_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The current review of each call that has one, with its verdicts."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(call_ids):
        marks = ",".join("?" * len(chunk))
        for r in store.db.query(
            f"SELECT review_id, call_id, human_scores FROM reviews WHERE call_id IN ({marks}) AND status = 'current'",
                chunk):
            out[r["call_id"]] = {"review_id": r["review_id"], "human_scores": json.loads(r["human_scores"] or "{}"),
                                 "verdicts": {}}
    ids = [r["review_id"] for r in out.values()]
    by_review = {r["review_id"]: r for r in out.values()}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for v in store.db.query(f"SELECT review_id, finding_key, verdict FROM finding_verdicts WHERE review_id IN ({marks})",
                                chunk):
            by_review[v["review_id"]]["verdicts"][v["finding_key"]] = v["verdict"]
    return out


def chunks(items: list[str], n: int = 500) -> list[list[str]]:
    return [items[i:i + n] for i in range(0, len(items), n)]


def score_total(score: Score) -> tuple[float, bool]:
    """Total and pass of a score breakdown, by the form's rule (scoring.score_call)."""
    rows = [c for c in score.criteria if c.status != "na" and not c.assist]
    applicable = sum(c.weight for c in rows)
    earned = sum(c.points for c in rows)
    raw = 100.0 * earned / applicable if applicable else 100.0
    raw = min(100.0, raw + sum(b.points for b in score.bonus))
    auto = bool(score.auto_fail_reasons)
    total = 0.0 if auto else round(raw, 2)
    return total, (not auto and total >= score.pass_mark)


def apply_human_scores(score: Score, human: dict[str, float]) -> tuple[Score, list[str]]:
    """A copy of ``score`` with a coach's points per criterion in place of the machine's."""
    criteria, applied = [], []
    for c in score.criteria:
        if c.id in human:
            points = max(0.0, min(c.weight, float(human[c.id])))
            c = dataclasses.replace(c, points=points, status="pass" if points >= c.weight else "fail", assist=False,
                                    human=True)
            applied.append(c.id)
        criteria.append(c)
    score = dataclasses.replace(score, criteria=criteria)
    total, passed = score_total(score)
    return dataclasses.replace(score, total=total, passed=passed), applied


def _rescore_rejections(store: Store, call_id: str, verdicts: dict[str, str], form: Any,
                        stored: Score) -> Score | None:
    """Score the call again without the findings a coach rejected (rejected step results flip)."""

    result = store.current_result(call_id)
    if result is None:
        return None
    findings = []
    for f in result.findings:
        verdict = verdicts.get(finding_key(call_id, f))
        if verdict == "reject":
            if f.kind != "script_step":
                continue
            if f.status in ("pass", "fail"):
                f = dataclasses.replace(f, details=dataclasses.replace(
                    f.details, status="fail" if f.status == "pass" else "pass"))
        findings.append(f)
    assist = {c.id for c in stored.criteria if c.assist}
    assist |= set(filter(None, result.versions.get("assist", "").split(",")))
    return score_call(result.call, result.transcript, findings, form, frozenset(assist))


def evaluate_calls(store: Store, where: str, params: list[Any], form_path: str | None = None,
                   detail: bool = True) -> list[CallLine]:
    """Every call matching ``where`` (SQL over calls c) with the human decisions applied.

    ``form_path``: the form rejected findings are re-scored with (None: the packaged form).
    ``detail=False`` (trend weeks): scores only; findings are not read and counts stay empty."""

    form = load_form(form_path)
    reviewed = "EXISTS (SELECT 1 FROM reviews rv WHERE rv.call_id = c.call_id)"
    rows = [dict(r) for r in store.db.query(
        "SELECT c.call_id, c.agent_id, c.team, c.week, c.started_at, c.duration, c.current_result_id,"
        f" s.total, s.passed, s.auto_fail, {'s.breakdown' if detail else f'CASE WHEN {reviewed} THEN s.breakdown END'}"
        " AS breakdown, "
        + ("(SELECT json_extract(r.result_json, '$.tone.speakers.caller.trend.direction') FROM results r"
           " WHERE r.result_id = c.current_result_id)" if detail else "NULL") + " AS caller_trend"
        " FROM calls c JOIN scores s ON s.result_id = c.current_result_id"
        f" WHERE {where} ORDER BY c.started_at, c.call_id", params)]
    ids = [r["call_id"] for r in rows]
    findings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(ids) if detail else []:
        marks = ",".join("?" * len(chunk))
        for f in store.db.query(
            "SELECT f.call_id, f.finding_key, f.kind, f.rule_id, f.speaker, f.category, f.status, f.details"
            f" FROM findings f JOIN calls c ON c.current_result_id = f.result_id WHERE c.call_id IN ({marks})", chunk):
            findings[f["call_id"]].append(dict(f))
    reviews = current_reviews(store, ids)
    out = []
    for r in rows:
        cid = r["call_id"]
        review = reviews.get(cid)
        verdicts = review["verdicts"] if review else {}
        stored = score_from_dict(json.loads(r["breakdown"] or "{}"))
        score, notes, human_criteria = stored, [], []
        if any(v == "reject" for v in verdicts.values()):
            if stored.form_id == form.id and stored.form_version == form.version:
                score = _rescore_rejections(store, cid, verdicts, form, stored) or stored
            else:
                notes.append(f"form {stored.form_id}@{stored.form_version} is not the current form; "
                             "rejected findings not re-scored")
        if review and review["human_scores"]:
            score, human_criteria = apply_human_scores(score, review["human_scores"])
            unknown = sorted(set(review["human_scores"]) - set(human_criteria))
            if unknown:
                notes.append(f"human scores for unknown criteria ignored: {', '.join(unknown)}")
        total = score.total if score.form_id else r["total"]
        changed = score is not stored
        line = _count_findings(cid, findings.get(cid, []), verdicts, r["caller_trend"])
        auto_fail = bool(score.auto_fail_reasons) if changed else bool(r["auto_fail"])
        out.append(CallLine(
            call_id=cid, agent_id=r["agent_id"] or "", team=r["team"] or "", week=r["week"] or "",
            started_at=r["started_at"] or "", duration=float(r["duration"] or 0.0),
            machine_score=r["total"], score=None if total is None else float(total),
            passed=score.passed if changed else bool(r["passed"]), auto_fail=auto_fail,
            reviewed=review is not None, score_source="human" if changed else "machine",
            review_id=review["review_id"] if review else None, human_criteria=human_criteria,
            confirmed=sum(v == "confirm" for v in verdicts.values()),
            rejected=sum(v == "reject" for v in verdicts.values()),
            auto_fail_confirmed=auto_fail and _auto_fail_confirmed(cid, score, verdicts),
            notes=notes, url=call_url(cid), **line))
    return out


def _auto_fail_confirmed(call_id: str, score: Score, verdicts: dict[str, str]) -> bool:
    for reason in score.auto_fail_reasons:
        for ev in reason.evidence:
            key = _evidence_key(call_id, ev)
            if verdicts.get(key) == "confirm":
                return True
    return False


def _evidence_key(call_id: str, ev: Evidence) -> str:
    return finding_key(call_id, Finding(call_id, ev.kind, ev.rule_id, "", ev.speaker, ev.start, ev.end,  # type: ignore[arg-type]
                                        "", 0.0))


def _count_findings(call_id: str, rows: list[dict[str, Any]], verdicts: dict[str, str],
                    caller_trend: str | None) -> dict[str, Any]:
    banned: Counter[str] = Counter()
    banned_confirmed = 0
    steps: dict[str, str] = {}
    flags: Counter[str] = Counter()
    emotional = emotional_confirmed = escalated = False
    for f in rows:
        verdict = verdicts.get(f["finding_key"])
        status = f["status"]
        if f["kind"] == "script_step":
            details = json.loads(f["details"] or "{}")
            if verdict == "reject" and status in ("pass", "fail"):
                status = "fail" if status == "pass" else "pass"
            if status == "fail":
                flags["script_step"] += 1
            if not details.get("order_violation") and status in ("pass", "fail"):
                step = details.get("step") or f["rule_id"]
                # a step found twice counts once: failed if any of its results failed
                steps[step] = "fail" if "fail" in (steps.get(step), status) else "pass"
            continue
        if verdict == "reject":
            continue
        flags[f["kind"]] += 1
        if f["kind"] == "banned_phrase" and f["speaker"] == "agent":
            banned[f["category"] or "other"] += 1
            banned_confirmed += verdict == "confirm"
        elif f["kind"] == "tone" and f["rule_id"] == "emotional_agent":
            emotional = True
            emotional_confirmed = emotional_confirmed or verdict == "confirm"
        elif (f["kind"] == "escalation" and f["speaker"] == "caller") or (
                f["kind"] == "tone" and f["rule_id"] == "emotional_caller"):
            escalated = True
    return {"banned": dict(banned), "banned_confirmed": banned_confirmed, "steps": steps, "flags": dict(flags),
            "emotional_agent": emotional, "emotional_agent_confirmed": emotional_confirmed,
            "escalated": escalated, "calmed": escalated and caller_trend == "calmer"}
