"""Which alert events a stored call fires, and the message each one sends (docs/guide/qa-lead.md#alerts).

Pure: a CallResult and the configured events in, ``Fired`` events and their JSON body out; delivery (retries,
threads, the run log) is alert_delivery.py. The body names ids, seconds and scores only, never transcript
text: a webhook leaves the building, and customer data must not (DESIGN.md, privacy).

Events (validated at config load by ``qa_pipeline.config.options.event_problem``):
- ``auto_fail``: the score is an auto-fail; ``rule`` is the form's first auto-fail item, ``rules`` all of them;
- ``rule:<rule id>``: a finding of that rule that counts (a script step only when it failed);
- ``criterion:<criterion id>``: that criterion of the form failed;
- ``score_below:<n>``: the total is under n;
- ``escalation_emotional_agent``: an escalation in a call where the agent is flagged emotional (emotional_agent).
Findings and criteria in assist mode fire nothing: assist means "shown to coaches, not acted on yet".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from qa_pipeline.contracts import CallResult, Evidence, Finding

SIGNATURE_HEADER = "X-QA-Signature"


@dataclass
class Fired:
    event: str  # as configured: auto_fail, rule:greeting, score_below:60, …
    rule: str | None  # the rule, auto-fail item or criterion that fired it (None for a score bar)
    rules: list[str] = field(default_factory=list)  # every one that did
    start: float | None = None  # seconds into the call of the first evidence: the link opens the player there


def _counts(f: Finding) -> bool:
    if getattr(f.details, "assist", False):
        return False
    return f.kind != "script_step" or f.status == "fail"


def _first(starts: Iterable[float]) -> float | None:
    return min(starts, default=None)


def _evidence_start(evidence: Iterable[Evidence]) -> float | None:
    return _first(e.start for e in evidence)


def fire(result: CallResult, event: str) -> Fired | None:
    """``event`` for ``result`` if it fires, else None."""
    score = result.score
    if event == "auto_fail":
        if not score.auto_fail:
            return None
        ids = [r.id for r in score.auto_fail_reasons]
        return Fired(event, ids[0] if ids else None, ids,
                     _evidence_start(e for r in score.auto_fail_reasons for e in r.evidence))
    if event == "escalation_emotional_agent":
        counted = [f for f in result.findings if _counts(f)]
        escalations = [f for f in counted if f.kind == "escalation"]
        emotional = [f for f in counted if f.kind == "tone" and f.rule_id == "emotional_agent"]
        if not escalations or not emotional:
            return None
        ids = list(dict.fromkeys(f.rule_id for f in escalations))
        return Fired(event, ids[0], [*ids, "emotional_agent"], _first(f.start for f in escalations + emotional))
    kind, _, arg = event.partition(":")
    arg = arg.strip()
    if kind == "rule":
        hits = [f for f in result.findings if f.rule_id == arg and _counts(f)]
        return Fired(event, arg, [arg], _first(f.start for f in hits)) if hits else None
    if kind == "criterion":
        criterion = score.criterion(arg)
        if criterion is None or criterion.status != "fail" or criterion.assist:
            return None
        return Fired(event, arg, [arg], _evidence_start(criterion.evidence))
    if kind == "score_below":
        return Fired(event, None) if score.total is not None and score.total < float(arg) else None
    raise ValueError(f"not an alert event: {event!r}")  # config load refuses these: a programming error


def fired_events(result: CallResult, events: Iterable[str]) -> list[Fired]:
    """The configured events that ``result`` fires, in their configured order, each once."""
    return [f for f in (fire(result, e) for e in dict.fromkeys(events)) if f is not None]


def call_link(base_url: str, call_id: str, start: float | None = None) -> str:
    """The call's page in the web app (a path alone when ``alerts.base_url`` is not set)."""
    link = f"{base_url.rstrip('/')}/calls/{quote(call_id, safe='')}"
    return link + (f"#t={start:.1f}" if start is not None else "")


def message(result: CallResult, fired: Fired, base_url: str, run_id: str) -> dict[str, Any]:
    """The JSON body of one alert (also the content of its e-mail)."""
    call, score = result.call, result.score
    return {
        "event": fired.event, "call_id": call.call_id, "agent_id": call.agent_id, "team": call.team,
        "started_at": call.started_at, "rule": fired.rule, "rules": fired.rules, "start": fired.start,
        "score": score.total, "passed": score.passed, "auto_fail": score.auto_fail,
        "url": call_link(base_url, call.call_id, fired.start), "run_id": run_id,
    }


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes that are sent and signed."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """The X-QA-Signature header: ``sha256=`` and the hex HMAC-SHA256 of the body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """What a receiver does (docs/guide/qa-lead.md#alerts): a constant-time comparison."""
    return hmac.compare_digest(sign(body, secret), header)
