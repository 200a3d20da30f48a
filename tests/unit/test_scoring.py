"""The scorecard form: validation with file/line/field, n/a, auto-fail, assist mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.contracts import Call, Finding, PhraseMatch, PIIMatch, StepResult, Transcript
from qa_pipeline.stages.scoring import FormError, load_form, score_call

CALL = Call(call_id="c1", audio_path="c1.wav")
EMPTY = Transcript(language="zh", model_id="m", settings={}, duration=60.0)


def step(name: str, status: str) -> Finding:
    return Finding("c1", "script_step", f"zh.{name}", "v", "agent", 1.0, 2.0, "", 0.9, details=StepResult(step=name, status=status))


def banned(category: str, auto_fail: bool = False) -> Finding:
    return Finding("c1", "banned_phrase", f"zh.{category}", "v", "agent", 5.0, 6.0, "…", 0.9, "major",
                   details=PhraseMatch(category=category, auto_fail=auto_fail))


ALL_PASS = [step(s, "pass") for s in ("greeting", "verification", "empathy", "recap", "closing")]


def test_default_form_weights_sum_to_100_and_a_clean_call_scores_100() -> None:
    form = load_form()
    assert sum(c.weight for c in form.criteria) == 100
    score = score_call(CALL, EMPTY, ALL_PASS, form)
    assert score.total == 100 and score.passed and not score.auto_fail
    assert score.form_version == form.version


def test_not_applicable_steps_leave_the_total() -> None:
    findings = [f for f in ALL_PASS if f.details.step != "empathy"] + [step("empathy", "na")]
    score = score_call(CALL, EMPTY, findings, load_form())
    assert score.total == 100
    row = next(c for c in score.criteria if c.id == "empathy")
    assert row.status == "na"


def test_violations_cost_their_weight_with_evidence() -> None:
    score = score_call(CALL, EMPTY, [*ALL_PASS, banned("refusal")], load_form())
    assert score.total == 90 and score.passed
    row = next(c for c in score.criteria if c.id == "no_refusal")
    assert row.status == "fail" and row.evidence[0].start == 5.0
    missing_greeting = [step("greeting", "fail"), *ALL_PASS[1:]]
    assert score_call(CALL, EMPTY, missing_greeting, load_form()).total == 85


def test_auto_fail_zeroes_the_call_and_assist_mode_does_not_score() -> None:
    form = load_form()
    score = score_call(CALL, EMPTY, [*ALL_PASS, banned("provocation", auto_fail=True)], form)
    assert score.total == 0 and score.auto_fail and not score.passed
    assert {r.id for r in score.auto_fail_reasons} >= {"vulgar_or_provocation"}
    assisted = score_call(CALL, EMPTY, [*ALL_PASS, banned("provocation", auto_fail=True)], form,
                          frozenset({"zh.provocation"}))
    assert assisted.total == 100


def test_pii_readback_is_an_auto_fail() -> None:
    leak = Finding("c1", "pii", "pii_readback_card", "v", "agent", 3, 9, "6222 **** **** 1234", 0.9, "critical",
                   details=PIIMatch(type="bank_card"))
    assert score_call(CALL, EMPTY, [*ALL_PASS, leak], load_form()).auto_fail


@pytest.mark.parametrize(
    "body, field, line",
    [
        ("id: f\nversion: '1'\nsections:\n  - id: s\n    criteria:\n      - id: a\n        weight: 60\n"
         "        forbid: {kind: silence}\n      - id: b\n        weight: 30\n        forbid: {kind: overtalk}\n",
         "sections", None),
        ("id: f\nversion: '1'\nsections:\n  - id: s\n    criteria:\n      - id: a\n        weight: -5\n"
         "        forbid: {kind: silence}\n", "sections[0].criteria[0].weight", 7),
        ("id: f\nversion: '1'\nsections:\n  - id: s\n    criteria:\n      - id: a\n        weight: 100\n"
         "        forbid: {kind: silence, colour: red}\n", "sections[0].criteria[0].forbid.colour", 8),
        ("id: f\nversion: '1'\nsections: [\n", "<yaml>", None),
    ],
)
def test_broken_form_names_file_field_and_line(tmp_path: Path, body: str, field: str, line: int | None) -> None:
    path = tmp_path / "form.yaml"
    path.write_text(body)
    with pytest.raises(FormError) as exc:
        load_form(path)
    assert exc.value.field == field and str(path) in str(exc.value)
    if line:
        assert exc.value.line == line
