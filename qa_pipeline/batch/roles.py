"""A coach's role swap, end to end: re-score the call's stored transcript with agent and caller exchanged
(no new transcription), store the result and the decision together; and keep the decision when ``qa nightly``
processes the call again.

The decision holds the result re-scored with the coach's roles. A later run of the same call (new rule packs,
a new form, ``--reprocess``) makes a new machine result; its roles are aligned to the coach's by the words'
times (``role_agreement``): swapped where most words disagree, kept where the new run already agrees (a better
diarizer, voices that came out the other way round). That result, with roles from the coach, becomes the
call's current one; the machine result stays stored beside it."""

from __future__ import annotations

import dataclasses
from typing import Any

from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import CallResult, Roles
from qa_pipeline.errors import NotFoundError
from qa_pipeline.pipeline import analyze_call
from qa_pipeline.stages.diarize import role_agreement, swap_speakers
from qa_pipeline.store import roles as role_store
from qa_pipeline.store.db import Store


def swap_roles(store: Store, actor: str, call_id: str, config: QAConfig, reason: str = "",
               as_lead: bool = False) -> dict[str, Any]:
    """Swap agent and caller on the call's current result, as ``actor`` (who holds its claim, or a QA lead with
    ``as_lead``); returns the decision (id, version, the new result's id and score). Raises ReviewError
    subclasses for who may not, AudioError when the recording is gone (the tone stage reads it)."""
    u = role_store.check_may_decide(store, actor, call_id, as_lead)
    current = store.current_result(call_id)
    if current is None:
        raise NotFoundError(f"call {call_id!r} has no result to swap")
    decision_id = role_store.new_decision_id()
    roles = Roles(source="coach", confidence=1.0, swapped=True, decided_by=actor, decision_id=decision_id)
    config = dataclasses.replace(config, assist=tuple(sorted(store.assist_targets())))
    result = _with_coach_roles(analyze_call(current.call, config, transcript=swap_speakers(current.transcript),
                                            roles=roles), decision_id)
    from_id = store.call(call_id)["current_result_id"]
    acting_as = "qa_lead" if as_lead and u["role"] == "qa_lead" else None
    with store.transaction():
        result_id = store.ingest_result(result)
        version = role_store.record_decision(store, decision_id, actor, call_id, from_id, result_id, reason, acting_as)
    return {"decision_id": decision_id, "version": version, "result_id": result_id, "score": result.score.total}


def apply_role_decision(store: Store, result: CallResult, config: QAConfig, run_id: str | None = None) -> CallResult:
    """After a run ingested ``result`` (a machine result), the coach's roles for its call, if any: the result
    aligned to them is ingested as the call's current one and returned; else ``result`` itself."""
    decision = role_store.current_decision(store, result.call.call_id)
    if decision is None or result.roles.source == "coach":
        return result
    row = store.conn.execute("SELECT result_json FROM results WHERE result_id=?", (decision["result_id"],)).fetchone()
    if row is None:
        return result
    reference = _stored(row[0])
    roles = Roles(source="coach", confidence=1.0, decided_by=decision["decided_by"],
                  decision_id=decision["decision_id"])
    if role_agreement(result.transcript, reference.transcript) < 0.5:
        transcript = swap_speakers(result.transcript)
        aligned = analyze_call(result.call, config, transcript=transcript,
                               roles=dataclasses.replace(roles, swapped=True))
    else:
        aligned = dataclasses.replace(result, roles=roles)
    aligned = _with_coach_roles(aligned, decision["decision_id"])
    store.ingest_result(aligned, run_id)
    return aligned


def _with_coach_roles(result: CallResult, decision_id: str) -> CallResult:
    # Part of the result's versions, so it is stored as a result of its own beside the machine one.
    return dataclasses.replace(result, versions={**result.versions, "roles": f"coach:{decision_id}"})


def _stored(blob: str) -> CallResult:
    import json

    from qa_pipeline.contracts import call_result_from_dict

    return call_result_from_dict(json.loads(blob))
