"""A property of the human decisions (issue 16, "Must show"): any sequence of claims, hand-overs, releases,
reviews, re-reviews, disputes, dispute decisions and nightly re-runs by several users leaves every human
decision retrievable, exactly one current review per reviewed call, and the calibration counts equal to the
decisions.

A small model, written from the rules and not from the code, predicts which actions the store must accept and
what it must then hold; the store is driven through its API (the boundary the CLI and the web app call).
Nightly re-runs ingest real results of the same calls under other versions (the real stages on the reference
transcripts with rules put in assist mode) and rebuild the queue. 60 sequences by default (the unit tier's time);
QA_PROPERTY_EXAMPLES=1000 for a longer search."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from tests.conftest import copy_db
from tests.review_helpers import sql, users_db

CALLS = 5
REVIEWERS = ("coach1", "coach2", "lead1")
LEAD = "lead1"


@pytest.fixture(scope="module")
def world(reference_db: Path, reference_reruns: list, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The base database with users, the calls the sequences act on, and two nightly re-runs' results."""
    base = users_db(reference_db, tmp_path_factory.mktemp("property"))
    calls = [r[0] for r in sql(base, "SELECT call_id FROM queue_items ORDER BY priority DESC, call_id LIMIT ?", CALLS)]
    assert {r.call.call_id for run in reference_reruns for r in run} <= set(calls)
    agents = {c: "agent_" + sql(base, "SELECT agent_id FROM calls WHERE call_id=?", c)[0][0] for c in calls}
    return {"base": base, "calls": calls, "reruns": reference_reruns, "agents": agents}


# "holder": whoever holds the call's claim now (coach1 when nobody does), so that sequences often act as the
# rules allow and not only as they refuse.
user = st.sampled_from(REVIEWERS)
actor = st.sampled_from((*REVIEWERS, "holder", "holder", "holder"))
call = st.integers(0, CALLS - 1)
held = st.one_of(call, st.just("held"))  # "held": a call someone holds now (the first one), else the first call
# "reviewed" (disputes): a call that has a review (the first one), else the first call
verdict = st.sampled_from([None, "confirm", "reject"])
claim = st.tuples(st.just("claim"), user, call)
review = st.tuples(st.just("review"), actor, held, st.lists(verdict, min_size=3, max_size=3),
                   st.sampled_from([None, None, "ok", "bad"]), st.sampled_from([True, True, False]),
                   st.sampled_from([False, False, False, True]))
dispute = st.tuples(st.just("dispute"), st.one_of(call, st.just("reviewed")), st.booleans())
resolve = st.tuples(st.just("resolve"), st.integers(0, 3), st.sampled_from(["upheld", "changed"]), st.booleans())
# weighted by repetition: the actions that build decisions come up more often than those that move claims
ops = st.one_of(
    claim, claim, claim, review, review, review, review, dispute, dispute, resolve, resolve, resolve,
    st.tuples(st.just("next"), user),
    st.tuples(st.just("handover"), actor, held, user),
    st.tuples(st.just("release"), actor, held),
    st.tuples(st.just("nightly"), st.integers(0, 1)),
)


class Model:
    """What the rules say the store holds: leases, each call's review versions, disputes."""

    def __init__(self) -> None:
        self.lease: dict[str, str] = {}
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}

    def current(self, call_id: str) -> dict[str, Any] | None:
        return next((v for v in self.versions.get(call_id, []) if v["status"] == "current"), None)

    def add_version(self, call_id: str, record: dict[str, Any], replaced_as: str) -> None:
        cur = self.current(call_id)
        if cur:
            cur["status"] = replaced_as
        self.versions.setdefault(call_id, []).append({**record, "status": "current"})


def flagged_keys(store: Any, call_id: str) -> list[tuple[str, str]]:
    from qa_pipeline.store.queue import is_flagged

    return [(f["finding_key"], f["rule_id"]) for f in store.findings(call_id) if is_flagged(f)][:3]


def first_criterion(store: Any, call_id: str) -> tuple[str, float]:
    from qa_pipeline.store.review import criterion_weights

    return next(iter(criterion_weights(store, call_id).items()))


def note(what: str) -> None:
    if currently_in_test_context():  # --hypothesis-show-statistics lists how often each outcome happened
        event(what)


def step(store: Any, model: Model, world: dict[str, Any], op: tuple) -> None:  # noqa: C901 - one branch per action
    from qa_pipeline.errors import ReviewError
    from qa_pipeline.store import disputes, queue, release, review

    calls = world["calls"]

    def attempt(expected: bool, fn: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """(accepted, what fn returned); the store must accept exactly what the model expects."""
        try:
            out = fn(*args, **kwargs)
        except ReviewError as exc:
            assert not expected, (op, str(exc))
            note(f"{op[0]} refused")
            return False, None
        assert expected, (op, "accepted", out)
        note(f"{op[0]} accepted")
        return True, out

    kind = op[0]
    if len(op) > 2 and op[2] == "held":
        op = (kind, op[1], next((i for i, c in enumerate(calls) if c in model.lease), 0), *op[3:])
    if len(op) > 2 and op[1] == "holder":
        op = (kind, model.lease.get(calls[op[2]], "coach1"), *op[2:])
    if kind == "claim":
        _, who, ci = op
        c = calls[ci]
        if attempt(model.lease.get(c) in (None, who), queue.claim, store, who, c)[0]:
            model.lease[c] = who
    elif kind == "next":
        who = op[1]
        queued = {r[0] for r in store.conn.execute("SELECT call_id FROM queue_items")}
        free = {c for c in queued if c not in model.versions and c not in model.lease}
        got = queue.claim(store, who)
        assert (got is None) == (not free), (op, got, free)
        note(f"next {'claimed' if got else 'empty'}")
        if got:
            assert got["call_id"] in free, (op, got)
            model.lease[got["call_id"]] = who
    elif kind == "review":
        _, who, ci, choices, score, reason, as_lead = op
        c = calls[ci]
        keys = flagged_keys(store, c)
        verdicts = {k: v for (k, _), v in zip(keys, choices) if v}
        scores = {}
        if score:
            cid, weight = first_criterion(store, c)
            scores = {cid: weight if score == "ok" else weight + 1}
        cur = model.current(c)
        override = model.lease.get(c) != who
        ok = (not (as_lead and who != LEAD) and score != "bad" and not (override and not as_lead)
              and not (cur and (any(d["review_id"] == cur["id"] and d["status"] == "open" for d in model.disputes.values())
                                or not reason)))
        text = f"{who} on {c}"
        accepted, rid = attempt(ok, review.submit_review, store, who, c, verdicts, scores, text, f"coach {who}",
                      "again" if reason else "", as_lead)
        if accepted:
            rules = dict(keys)
            model.add_version(c, {"id": rid, "reviewer": who, "verdicts": {k: (rules[k], v) for k, v in verdicts.items()},
                                  "scores": scores, "notes": text, "coaching": f"coach {who}", "dispute": None},
                              "superseded")
            model.lease.pop(c, None)
    elif kind == "handover":
        _, who, ci, to = op
        c = calls[ci]
        ok = c in model.lease and (model.lease[c] == who or who == LEAD)
        if attempt(ok, queue.handover, store, who, c, to)[0]:
            model.lease[c] = to
    elif kind == "release":
        _, who, ci = op
        c = calls[ci]
        if attempt(model.lease.get(c) == who, queue.release, store, who, c)[0]:
            model.lease.pop(c)
    elif kind == "dispute":
        _, ci, old = op
        c = next((c for c in calls if c in model.versions), calls[0]) if ci == "reviewed" else calls[ci]
        versions = model.versions.get(c, [])
        if not versions:
            return
        target = versions[0] if old and len(versions) > 1 else model.current(c)
        ok = target["status"] == "current" and not any(d["review_id"] == target["id"] for d in model.disputes.values())
        if target["status"] == "current" and not release.current_release(store, target["id"]):
            release.release_review(store, LEAD, target["id"])  # an agent disputes only what was released to them
        accepted, did = attempt(ok, disputes.open_dispute, store, world["agents"][c], target["id"], "I disagree")
        if accepted:
            model.disputes[did] = {"review_id": target["id"], "call": c, "status": "open"}
    elif kind == "resolve":
        _, di, decision, flip = op
        open_ = [d for d, v in model.disputes.items() if v["status"] == "open"]
        if not open_:
            return
        did = sorted(open_)[di % len(open_)]
        d = model.disputes[did]
        cur = model.current(d["call"])
        change: dict[str, str] = {}
        if decision == "changed" and flip:
            key, rule = flagged_keys(store, d["call"])[0]
            change = {key: "confirm" if cur["verdicts"].get(key, (rule, "reject"))[1] == "reject" else "reject"}
        ok = decision == "upheld" or bool(change)
        accepted, new_id = attempt(ok, disputes.resolve_dispute, store, LEAD, did, decision, "decided", change)
        if accepted:
            d["status"] = decision
        if accepted and decision == "changed":
            assert new_id
            rules = dict(flagged_keys(store, d["call"]))
            merged = {**cur["verdicts"], **{k: (rules[k], v) for k, v in change.items()}}
            model.add_version(d["call"], {**cur, "id": new_id, "reviewer": LEAD, "verdicts": merged, "dispute": did},
                              "overturned")
    elif kind == "nightly":
        for result in world["reruns"][op[1]]:
            store.ingest_result(result)
        store.rebuild_queue()
    # after every action: exactly one current review for each reviewed call, none for the others
    current = dict(store.conn.execute("SELECT call_id, count(*) FROM reviews WHERE status='current' GROUP BY call_id"))
    assert current == {c: 1 for c in model.versions}, (op, current)


def check(store: Any, model: Model) -> None:
    from qa_pipeline.reports.calls import current_reviews
    from qa_pipeline.store.calibration import calibration_report
    from qa_pipeline.store.review import review_history

    for c, versions in model.versions.items():
        stored = review_history(store, c)
        assert [(v["review_id"], v["version"], v["status"], v["reviewer"], v["notes"], v["coaching_action"],
                 v["dispute_id"]) for v in stored] == [
            (m["id"], i + 1, m["status"], m["reviewer"], m["notes"], m["coaching"], m["dispute"])
            for i, m in enumerate(versions)]
        for v, m in zip(stored, versions):  # every decision, as it was taken
            assert v["verdicts"] == {k: verdict for k, (_, verdict) in m["verdicts"].items()}
            assert v["human_scores"] == m["scores"]
    got = {r[0]: (r[1], r[2]) for r in store.conn.execute("SELECT dispute_id, review_id, status FROM disputes")}
    assert got == {d: (v["review_id"], v["status"]) for d, v in model.disputes.items()}
    currents = {c: model.current(c) for c in model.versions}
    assert {c: r["review_id"] for c, r in current_reviews(store, list(currents)).items()} == {
        c: m["id"] for c, m in currents.items()}
    # calibration counts are the current decisions, one verdict per finding
    expected: dict[str, list[int]] = {}
    for m in currents.values():
        for rule, verdict in m["verdicts"].values():
            expected.setdefault(rule, [0, 0])[verdict == "reject"] += 1
    report = calibration_report(store, min_n=1)
    assert {r["rule_id"]: [r["confirmed"], r["rejected"]] for r in report["rules"]} == expected
    # coach vs coach: each reviewer's latest standing version of a call, pairs on the findings both judged
    pairs = 0
    for versions in model.versions.values():
        latest = {m["reviewer"]: m for m in versions if m["status"] != "overturned" and not m["dispute"]}
        names = sorted(latest)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                pairs += len(set(latest[a]["verdicts"]) & set(latest[b]["verdicts"]))
    assert report["coaches"]["verdicts"]["n"] == pairs


@settings(max_examples=int(os.environ.get("QA_PROPERTY_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(ops, min_size=15, max_size=50))
def test_any_sequence_of_human_actions_keeps_every_decision(world: dict[str, Any], actions: list[tuple]) -> None:
    from qa_pipeline.store.db import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(copy_db(world["base"], Path(tmp)))
        model = Model()
        try:
            for op in actions:
                step(store, model, world, op)
            check(store, model)
        finally:
            store.close()


def test_the_model_is_not_vacuous(world: dict[str, Any]) -> None:
    """One scripted sequence that passes through every kind of action, with the outcomes it must have."""
    from qa_pipeline.store.db import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(copy_db(world["base"], Path(tmp)))
        model = Model()
        script = [("claim", "coach1", 0), ("review", "coach2", 0, ["confirm"] * 3, None, False, False),
                  ("review", "coach1", 0, ["confirm", "reject", None], "ok", False, False), ("nightly", 0),
                  ("claim", "coach2", 0), ("review", "coach2", 0, ["reject"] * 3, None, True, False),
                  ("dispute", 0, False), ("dispute", 0, False), ("resolve", 0, "changed", True), ("nightly", 1),
                  ("claim", "coach1", 1), ("handover", "coach1", 1, "coach2"), ("release", "coach1", 1),
                  ("review", "lead1", 1, ["confirm"] * 3, None, False, True), ("next", "coach1")]
        for op in script:
            step(store, model, world, op)
        check(store, model)
        first, second = (model.versions[world["calls"][i]] for i in (0, 1))
        assert [(v["reviewer"], v["status"]) for v in first] == [
            ("coach1", "superseded"), ("coach2", "overturned"), ("lead1", "current")]
        assert [(v["reviewer"], v["status"]) for v in second] == [("lead1", "current")]
        assert [d["status"] for d in model.disputes.values()] == ["changed"]
        assert list(model.lease.values()) == ["coach1"]  # the last "next" claim; the lead's review ended the other
        store.close()
