"""Calibration from decisions: how far coaches agree with the machine, and with each other.

What counts is a decision, not a save: one verdict per finding per review version, and only each call's
*current* review (a superseded or overturned version no longer stands for anyone's judgement).

- per-rule precision: confirmed / (confirmed + rejected) over the current reviews' verdicts;
- per-criterion agreement, machine vs coach: Cohen's κ between the machine's pass/fail and the coach's
  (a human score equal to the criterion's weight is a pass, anything lower a fail);
- coach vs coach: on calls that two or more reviewers reviewed, κ between each pair's verdicts on the same
  findings and their pass/fail on the same criteria. Each reviewer's own latest version of the call counts
  (a reviewer's re-review replaces their own earlier judgement, while a colleague's later version does not);
  overturned versions and QA leads' dispute decisions are left out.
A rule or criterion under the bar can be put in assist mode (shown, not scored).
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from typing import Any


def cohens_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """κ for two raters over nominal labels; None when undefined (no pairs)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left = Counter(a for a, _ in pairs)
    right = Counter(b for _, b in pairs)
    expected = sum(left[k] * right[k] for k in set(left) | set(right)) / (n * n)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def _agreement(pairs: list[tuple[str, str]], min_n: int, min_kappa: float) -> dict[str, Any]:
    kappa = cohens_kappa(pairs)
    return {"n": len(pairs), "agreement": round(sum(a == b for a, b in pairs) / len(pairs), 3) if pairs else None,
            "kappa": None if kappa is None else round(kappa, 3),
            "below_bar": bool(len(pairs) >= min_n and kappa is not None and kappa < min_kappa)}


def _pass_fail(value: Any, weight: float) -> str:
    return "pass" if float(value) >= weight else "fail"


def rejections(store: Any) -> dict[str, list[dict[str, Any]]]:
    """rule_id -> why coaches rejected its findings (current reviews, newest first): call, reviewer, reason."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in store.db.query(
        "SELECT v.rule_id, v.call_id, v.finding_key, r.reviewer, v.note AS reason, r.created_at FROM finding_verdicts v"
        " JOIN reviews r ON r.review_id = v.review_id WHERE r.status = 'current' AND v.verdict = 'reject'"
        " AND v.note IS NOT NULL AND v.note != '' ORDER BY r.created_at DESC, v.call_id"
    ):
        out.setdefault(row["rule_id"], []).append(dict(row))
    return out


def rule_precision(store: Any, min_precision: float, min_n: int) -> list[dict[str, Any]]:
    why = rejections(store)
    rules = []
    for row in store.db.query(
        "SELECT v.rule_id, SUM(v.verdict='confirm') AS confirmed, SUM(v.verdict='reject') AS rejected"
        " FROM finding_verdicts v JOIN reviews r ON r.review_id = v.review_id WHERE r.status = 'current'"
        " GROUP BY v.rule_id ORDER BY v.rule_id"
    ):
        n = row["confirmed"] + row["rejected"]
        precision = row["confirmed"] / n if n else None
        rules.append({"rule_id": row["rule_id"], "confirmed": row["confirmed"], "rejected": row["rejected"],
                      "precision": None if precision is None else round(precision, 3),
                      "below_bar": bool(n >= min_n and precision is not None and precision < min_precision),
                      "reject_reasons": why.get(row["rule_id"], [])})
    return rules


def machine_vs_coach(store: Any, min_kappa: float, min_n: int) -> list[dict[str, Any]]:
    pairs: dict[str, list[tuple[str, str]]] = {}
    for review in store.db.query(
        "SELECT r.human_scores, s.breakdown FROM reviews r JOIN scores s ON s.result_id = r.result_id"
        " WHERE r.status = 'current' AND r.human_scores IS NOT NULL AND r.human_scores != '{}'"
    ):
        machine = {c["id"]: c for c in json.loads(review["breakdown"] or "{}").get("criteria", [])}
        for cid, value in json.loads(review["human_scores"]).items():
            if cid in machine and machine[cid]["status"] != "na":
                pairs.setdefault(cid, []).append((machine[cid]["status"], _pass_fail(value, machine[cid]["weight"])))
    return [{"criterion": cid, **_agreement(items, min_n, min_kappa)} for cid, items in sorted(pairs.items())]


def coach_vs_coach(store: Any, min_kappa: float, min_n: int) -> dict[str, Any]:
    """Agreement between reviewers who reviewed the same call (see the module's docstring for what counts)."""
    latest: dict[str, dict[str, dict[str, Any]]] = {}  # call -> reviewer -> their latest standing version
    for r in store.db.query(
        "SELECT review_id, call_id, reviewer, human_scores, result_id FROM reviews"
        " WHERE status != 'overturned' AND dispute_id IS NULL ORDER BY call_id, version"
    ):
        latest.setdefault(r["call_id"], {})[r["reviewer"]] = dict(r)
    multi = {cid: by for cid, by in latest.items() if len(by) >= 2}
    ids = [v["review_id"] for by in multi.values() for v in by.values()]
    verdicts: dict[str, dict[str, str]] = {i: {} for i in ids}
    for v in store.db.query(f"SELECT review_id, finding_key, verdict FROM finding_verdicts WHERE review_id IN"
                            f" ({','.join('?' * len(ids))})", ids) if ids else []:
        verdicts[v["review_id"]][v["finding_key"]] = v["verdict"]
    weights: dict[str, dict[str, float]] = {}
    verdict_pairs: list[tuple[str, str]] = []
    criterion_pairs: dict[str, list[tuple[str, str]]] = {}
    by_pair: dict[str, list[tuple[str, str]]] = {}
    for by in multi.values():
        for a, b in combinations(sorted(by), 2):
            va, vb = verdicts[by[a]["review_id"]], verdicts[by[b]["review_id"]]
            found = [(va[k], vb[k]) for k in sorted(set(va) & set(vb))]
            verdict_pairs += found
            by_pair.setdefault(f"{a} vs {b}", []).extend(found)
            ha, hb = json.loads(by[a]["human_scores"] or "{}"), json.loads(by[b]["human_scores"] or "{}")
            w = weights.setdefault(by[a]["result_id"], _weights(store, by[a]["result_id"]))
            for cid in sorted(set(ha) & set(hb) & set(w)):
                criterion_pairs.setdefault(cid, []).append((_pass_fail(ha[cid], w[cid]), _pass_fail(hb[cid], w[cid])))
    return {"calls": len(multi), "verdicts": _agreement(verdict_pairs, min_n, min_kappa),
            "criteria": [{"criterion": c, **_agreement(p, min_n, min_kappa)} for c, p in sorted(criterion_pairs.items())],
            "pairs": [{"coaches": k, **_agreement(p, min_n, min_kappa)} for k, p in sorted(by_pair.items())]}


def _weights(store: Any, result_id: str) -> dict[str, float]:
    row = store.conn.execute("SELECT breakdown FROM scores WHERE result_id=?", (result_id,)).fetchone()
    return {c["id"]: float(c["weight"]) for c in json.loads((row[0] if row else None) or "{}").get("criteria", [])}


def calibration_report(store: Any, min_precision: float = 0.8, min_kappa: float = 0.6, min_n: int = 5) -> dict[str, Any]:
    return {"rules": rule_precision(store, min_precision, min_n), "criteria": machine_vs_coach(store, min_kappa, min_n),
            "coaches": coach_vs_coach(store, min_kappa, min_n), "assist_mode": sorted(store.assist_targets()),
            "bars": {"min_precision": min_precision, "min_kappa": min_kappa, "min_n": min_n}}
