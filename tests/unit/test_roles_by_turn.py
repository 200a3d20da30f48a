"""Mono roles per turn, where the voices are too alike to tell apart: each Whisper segment scored agent or caller
by what it says (the pack's examples through e5, and the phrase cues), joined by the turn structure (a pause or a
question usually hands the turn to the other party). Text turns only: no audio, no Whisper."""

from __future__ import annotations

import pytest

from qa_pipeline.config import DiarizeOptions, QAConfig
from qa_pipeline.contracts import Segment, Transcript
from qa_pipeline.stages.diarize import (
    roles_by_turn,
    settle_roles_by_turn,
    switch_probabilities,
    voices_apart,
)
from qa_pipeline.stages.rules.pack import load_rule_pack
from qa_pipeline.stages.rules.roles import said_by_agent


def one_voice(language: str, lines: list[tuple[str, str]], pause: float = 0.8) -> tuple[Transcript, list[str]]:
    """A mono transcript as ``diarize`` leaves it when it hears one voice (every segment the agent's), and the
    truth: consecutive lines ``pause`` seconds apart."""
    segments, t = [], 0.5
    for _, text in lines:
        segments.append(Segment("agent", t, t + 3.0, text))
        t += 3.0 + pause
    info = {"diarization": {"voices": 1, "roles_by": "words", "role_confidence": 1.0}}
    return Transcript(language, "m", info, t, segments), [spk for spk, _ in lines]


def settle(t: Transcript):
    return settle_roles_by_turn(t, said_by_agent(t, load_rule_pack(QAConfig().rule_paths(), t.language)))


CALLS = {
    "zh": [("agent", "您好，这里是畅联宽带客服中心，工号四六一八，很高兴为您服务。"),
           ("caller", "你们这宽带到底还能不能用了？从礼拜六断到现在，三天了！"),
           ("agent", "非常抱歉给您带来不便，我马上帮您查，麻烦报一下宽带账号。"),
           ("caller", "账号我记不住，地址是海淀区清河街道安宁庄西路十八号院。"),
           ("agent", "好的，找到您的账户了，我给您安排师傅明天上午上门维修，您看可以吗？"),
           ("caller", "行吧，那明天上午我在家等着。"),
           ("agent", "感谢您的耐心，还有其他问题我可以帮您的吗？"),
           ("caller", "没有了，谢谢。")],
    "en": [("agent", "Thank you for calling Northline Energy, this is Priya, how can I help you today?"),
           ("caller", "Hi, my name is Tom Becker and my bill this month is twice what it normally is."),
           ("agent", "I'm sorry to hear that. Can I take the account number and the first line of the address?"),
           ("caller", "It's four four one nine two, and it's twelve Station Road."),
           ("agent", "Thank you. Let me check the meter readings on the account for you."),
           ("caller", "Okay, I need this sorted before the direct debit goes out."),
           ("agent", "Is there anything else I can help you with today?"),
           ("caller", "No, that's all, thanks.")],
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_one_voice_call_is_split_turn_by_turn_by_what_is_said(language: str) -> None:
    transcript, truth = one_voice(language, CALLS[language])
    labelled, roles = settle(transcript)
    assert [s.speaker for s in labelled.segments] == truth
    assert roles.source == "turns" and labelled.settings["diarization"]["roles_by"] == "turns"
    # Decided per turn, never sure: the queue says the roles are uncertain, though the text is plain here.
    assert 0.6 < roles.confidence < DiarizeOptions().min_role_confidence and roles.uncertain


def test_the_text_outweighs_the_alternation_where_one_party_speaks_twice() -> None:
    # The caller speaks twice running after a pause: the structure alone would alternate, what is said does not.
    lines = [CALLS["en"][0], CALLS["en"][1],
             ("caller", "I'm calling because I have a complaint about the engineer who came out last week."),
             *CALLS["en"][2:]]
    transcript, truth = one_voice("en", lines)
    labelled, _ = settle(transcript)
    assert [s.speaker for s in labelled.segments] == truth


def test_nothing_said_to_go_on_is_uncertain() -> None:
    # Segments that run on without a pause, none saying who speaks: the first leans agent, then a coin toss.
    transcript, _ = one_voice("en", [("agent", "Okay.")] * 6, pause=0.0)
    labelled, roles = settle(transcript)
    assert roles.uncertain and roles.confidence < 0.6


def test_the_structure_alone_alternates_after_pauses_and_questions() -> None:
    segs = [Segment("agent", 0.0, 2.0, "Right."), Segment("agent", 3.0, 5.0, "Okay."),
            Segment("agent", 5.05, 7.0, "And then?"), Segment("agent", 7.1, 9.0, "Fine.")]
    switch = switch_probabilities(segs)
    assert switch[0] > 0.5 > switch[1]  # a pause before the second; the third runs on from it
    assert switch[2] > switch[0]  # a question: the other party answers
    turns = roles_by_turn(segs, [0.0] * 4)
    assert turns.speakers == ["agent", "caller", "caller", "agent"]


def test_strong_text_against_a_weak_prior_wins() -> None:
    segs = [Segment("agent", 0.0, 2.0, "Hello?"), Segment("agent", 3.0, 6.0, "Good morning.")]
    assert roles_by_turn(segs, [-4.0, 4.0]).speakers == ["caller", "agent"]


def test_a_weak_voice_lean_joins_the_text_whichever_group_is_the_agent() -> None:
    # Text that says nothing; the windows lean one way on the agent's turns and the other on the caller's.
    segs = [Segment("agent", i * 2.0, i * 2.0 + 1.5, "Okay.") for i in range(6)]
    lean = [0.2, 0.2, -0.2, 0.2, -0.2, -0.2]
    truth = ["agent", "agent", "caller", "agent", "caller", "caller"]
    assert roles_by_turn(segs, [0.0] * 6, lean).speakers == truth
    assert roles_by_turn(segs, [0.0] * 6, [-x for x in lean]).speakers == truth  # group 1 the agent's


def test_roles_are_decided_per_turn_only_where_one_voice_was_heard() -> None:
    def info(d: dict) -> Transcript:
        return Transcript("en", "m", {"diarization": d}, 1.0, [])

    assert voices_apart(info({"voices": 2, "roles_by": "words"}))
    assert voices_apart(info({"voices": 1, "roles_by": "voice_sample"}))
    assert not voices_apart(info({"voices": 1, "roles_by": "words"}))
