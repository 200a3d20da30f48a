"""Calibration: how far coaches agree with the machine.

- per-rule precision: confirmed / (confirmed + rejected) over coach verdicts;
- per-criterion agreement: Cohen's κ between the machine's pass/fail and the coach's
  (a human score equal to the criterion's weight is a pass, anything lower a fail).
A rule or criterion under the bar can be put in assist mode (shown, not scored).
"""

from __future__ import annotations

import json
from collections import Counter
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


def calibration_report(store: Any, min_precision: float = 0.8, min_kappa: float = 0.6, min_n: int = 5) -> dict[str, Any]:
    rules = []
    for row in store.db.query(
        "SELECT rule_id, SUM(verdict='confirm') AS confirmed, SUM(verdict='reject') AS rejected"
        " FROM finding_verdicts GROUP BY rule_id ORDER BY rule_id"
    ):
        n = row["confirmed"] + row["rejected"]
        precision = row["confirmed"] / n if n else None
        rules.append({"rule_id": row["rule_id"], "confirmed": row["confirmed"], "rejected": row["rejected"],
                      "precision": None if precision is None else round(precision, 3),
                      "below_bar": bool(n >= min_n and precision is not None and precision < min_precision)})
    pairs: dict[str, list[tuple[str, str]]] = {}
    for review in store.db.query(
        "SELECT r.human_scores, s.breakdown FROM reviews r JOIN scores s ON s.result_id = r.result_id"
        " WHERE r.human_scores IS NOT NULL AND r.human_scores != '{}'"
    ):
        human = json.loads(review["human_scores"])
        machine = {c["id"]: c for c in json.loads(review["breakdown"] or "{}").get("criteria", [])}
        for cid, value in human.items():
            if cid in machine and machine[cid]["status"] != "na":
                h = "pass" if float(value) >= machine[cid]["weight"] else "fail"
                pairs.setdefault(cid, []).append((machine[cid]["status"], h))
    criteria = []
    for cid, items in sorted(pairs.items()):
        kappa = cohens_kappa(items)
        agree = sum(a == b for a, b in items) / len(items)
        criteria.append({"criterion": cid, "n": len(items), "agreement": round(agree, 3),
                         "kappa": None if kappa is None else round(kappa, 3),
                         "below_bar": bool(len(items) >= min_n and kappa is not None and kappa < min_kappa)})
    return {"rules": rules, "criteria": criteria, "assist_mode": sorted(store.assist_targets()),
            "bars": {"min_precision": min_precision, "min_kappa": min_kappa, "min_n": min_n}}
