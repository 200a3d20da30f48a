"""Mono roles: what each voice says settles who is the agent; a role confidence goes with every result and an
uncertain one is said in the queue; a coach's swap of agent and caller is a human decision with a history, the
call re-scored from its stored transcript, and kept when the call is processed again."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Roles, Segment, Transcript
from tests.review_helpers import qa, sql, users_db

MONO = "en_missing_greeting_mono"


def diarized(language: str, lines: list[tuple[str, str]]) -> Transcript:
    """A two-voice mono transcript as ``diarize`` leaves it (roles from the phrase cues and the first voice)."""
    segments = [Segment(spk, i * 5.0 + 1, i * 5.0 + 4, text) for i, (spk, text) in enumerate(lines)]
    return Transcript(language, "m", {"diarization": {"voices": 2, "roles_by": "words"}}, 5.0 * len(lines), segments)


def settle(t: Transcript) -> tuple[Transcript, Roles]:
    from qa_pipeline.stages.diarize import settle_roles
    from qa_pipeline.stages.rules.pack import load_rule_pack
    from qa_pipeline.stages.rules.roles import said_by_agent

    return settle_roles(t, said_by_agent(t, load_rule_pack(QAConfig().rule_paths(), t.language)))


@pytest.mark.parametrize("language, lines", [
    ("en", [("caller", "Thanks for calling Rosa's Auto, this is Mike speaking."),
            ("agent", "Hello, my name is Jo Park and I bought a car from you last month."),
            ("caller", "Got it. So the warning light came back on after the service, is that right?"),
            ("agent", "Yes, right after I drove off.")]),
    # No phrase cue at all: the meaning alone (a delivery checked and rebooked, against a complaint about it).
    ("en", [("caller", "Right, I can see the delivery was attempted at ten past two this afternoon."),
            ("agent", "Nobody knocked, I was home the whole day waiting for it."),
            ("caller", "I've rebooked it for tomorrow morning and added a note for the driver."),
            ("agent", "Fine, but this is the second time it has happened.")]),
    ("zh", [("caller", "我这边查到您的包裹昨天下午已经到了站点。"), ("agent", "可是我一直在家，根本没人给我打电话。"),
            ("caller", "已经给您安排明天上午重新派送，并备注了。"), ("agent", "这已经是第二次了，太耽误事了。")]),
])
def test_what_each_voice_says_settles_who_is_the_agent(language: str, lines: list[tuple[str, str]]) -> None:
    settled, roles = settle(diarized(language, lines))
    assert roles.swapped and roles.source == "voices"
    assert [s.speaker for s in settled.segments] == ["agent", "caller", "agent", "caller"]
    assert roles.meaning > 0 and roles.confidence >= 0.8 and not roles.uncertain
    assert settled.settings["diarization"]["role_confidence"] == roles.confidence
    json.dumps(dataclasses.asdict(roles))  # plain JSON, stored with the result


def test_one_voice_heard_on_a_call_is_uncertain() -> None:
    t = diarized("en", [("agent", "Thanks for calling, how can I help?"), ("agent", "My boiler is broken.")])
    t.settings["diarization"]["voices"] = 1
    _, roles = settle(t)
    assert roles.confidence == 0.5 and roles.uncertain


@pytest.fixture()
def db(reference_db: Path, tmp_path: Path) -> Path:
    return users_db(reference_db, tmp_path)


def speakers(store, call_id: str) -> list[str]:
    return [s.speaker for s in store.current_result(call_id).transcript.segments]


def test_a_swap_rescores_the_stored_transcript_as_a_human_decision(db: Path) -> None:
    import qa_pipeline as qa
    from qa_pipeline.errors import ConflictError
    from qa_pipeline.store.queue import claim
    from qa_pipeline.store.roles import current_decision, decision_history, result_roles

    store = qa.Store(db)
    before = speakers(store, MONO)
    machine_id = store.call(MONO)["current_result_id"]
    with pytest.raises(ConflictError):  # a coach swaps only a call they hold
        qa.swap_roles(store, "coach1", MONO, QAConfig())
    claim(store, "coach1", MONO)
    with pytest.raises(ConflictError):
        qa.swap_roles(store, "coach2", MONO, QAConfig())
    done = qa.swap_roles(store, "coach1", MONO, QAConfig(), reason="the greeting is the agent's")
    swapped = {"agent": "caller", "caller": "agent"}
    assert speakers(store, MONO) == [swapped[s] for s in before]
    result = store.current_result(MONO)
    assert result.roles.source == "coach" and result.roles.decided_by == "coach1"
    assert result.transcript.model_id == "reference"  # the stored transcript, not a new transcription
    assert {f.speaker for f in result.findings if f.kind == "script_step"} <= {"agent"}
    assert sql(db, "SELECT count(*) FROM results WHERE result_id=?", machine_id) == [(1,)]  # machine result kept
    assert result_roles(store, MONO)["source"] == "coach"
    d = current_decision(store, MONO)
    assert (d["decided_by"], d["version"], d["from_result_id"], d["reason"]) == (
        "coach1", 1, machine_id, "the greeting is the agent's")
    assert d["result_id"] == done["result_id"] == store.call(MONO)["current_result_id"]
    audit = sql(db, "SELECT actor, action, after FROM audit_log WHERE action='roles.swap'")
    assert audit[0][:2] == ("coach1", "roles.swap") and json.loads(audit[0][2])["decision_id"] == d["decision_id"]
    # swapping back is a second version; the first is kept, superseded
    qa.swap_roles(store, "coach1", MONO, QAConfig(), reason="listened again")
    assert speakers(store, MONO) == before
    history = decision_history(store, MONO)
    assert [(h["version"], h["status"]) for h in history] == [(2, "current"), (1, "superseded")]
    assert history[1]["replaced_by"] == history[0]["decision_id"]


def test_a_rerun_keeps_the_coachs_roles(db: Path) -> None:
    """A later run under other versions (here a rule put in assist mode) makes a new machine result with the
    machine's roles; the nightly writer aligns it to the coach's and makes that the current result."""
    import qa_pipeline as qa
    from qa_pipeline.batch.roles import apply_role_decision
    from qa_pipeline.store.queue import claim
    from tests.reference_db import reference_results

    store = qa.Store(db)
    machine = speakers(store, MONO)
    claim(store, "coach1", MONO)
    qa.swap_roles(store, "coach1", MONO, QAConfig())
    coach = speakers(store, MONO)
    config = dataclasses.replace(QAConfig(), assist=("greeting",))
    (rerun,) = reference_results(config, [MONO])
    assert [s.speaker for s in rerun.transcript.segments] == machine
    store.ingest_result(rerun)
    assert speakers(store, MONO) == machine  # what the run stored first: the machine's roles
    kept = apply_role_decision(store, rerun, config)
    assert speakers(store, MONO) == coach and kept.roles.source == "coach" and kept.roles.swapped
    assert kept.versions["assist"] == "greeting"  # scored under the new run's versions
    assert store.current_result(MONO).roles.decision_id
    # the same run again changes nothing
    store.ingest_result(rerun)
    apply_role_decision(store, rerun, config)
    assert speakers(store, MONO) == coach


def test_uncertain_roles_are_said_in_the_queue(db: Path) -> None:
    import qa_pipeline as qa

    store = qa.Store(db)
    result = store.current_result(MONO)
    unsure = dataclasses.replace(result, roles=Roles(source="voices", confidence=0.61, uncertain=True),
                                 versions={**result.versions, "test": "uncertain"})
    store.ingest_result(unsure)
    store.rebuild_queue()
    (reason,) = sql(db, "SELECT reason FROM queue_items WHERE call_id=?", MONO)[0]
    assert "roles uncertain (0.61)" in reason
    out = qa_list(db)
    assert "roles uncertain (0.61)" in out


def qa_list(db: Path) -> str:
    return qa("queue", "list", "--db", db, "--limit", "100").output


def test_swap_roles_from_the_cli(db: Path) -> None:
    qa("queue", "claim", MONO, "--db", db, "--user", "coach1")
    out = qa("review", "swap-roles", MONO, "--db", db, "--user", "coach1", "--reason", "wrong way round", "--json")
    assert json.loads(out.output)["version"] == 1
    qa("review", "swap-roles", MONO, "--db", db, "--user", "coach2", code=2)  # not their claim
    assert sql(db, "SELECT decided_by, reason FROM role_decisions") == [("coach1", "wrong way round")]
