"""Phones typed by their numbering plan's shape and by the question they answer; numbers whose own words say
they are orders, policies, amounts… stay masked non-findings whatever their shape."""

from __future__ import annotations

import pytest

from qa_pipeline.contracts import Call
from qa_pipeline.stages.pii.checks import plan_shape
from qa_pipeline.stages.pii.detect import detect_pii, masked_numbers
from tests.unit.test_pii import transcript

CALL = Call(call_id="c1", audio_path="c1.wav")


def phones(language: str, *turns: tuple[str, str]) -> list[tuple[str, str | None]]:
    return [(f.details.type, f.details.check) for f in detect_pii(transcript(language, *turns), CALL)]


@pytest.mark.parametrize("digits, language, plan", [
    ("2125550183", "en", "nanp"), ("12125550183", "en", "nanp"),
    ("1125550183", "en", None), ("2121550183", "en", None),  # an area code or an exchange from 0/1: no NANP number
    ("18005550199", "en", None), ("8885550199", "en", None), ("4115550199", "en", None),  # toll-free, N11: no one's line
    ("07700900123", "en", "uk_mobile"), ("447700900123", "en", "uk_mobile"), ("4407700900123", "en", "uk_mobile"),
    ("0770090012", "en", None),  # a UK mobile one digit short: a shape only with a cue or a question
    ("02079460123", "en", "uk_landline"), ("0161496012", "en", "uk_landline"),
    ("13812345678", "zh", "cn_mobile"), ("8613812345678", "en", "cn_mobile"), ("13812345678", "en", "nanp"), ("12812345678", "zh", None),
    ("02079460123", "zh", None), ("2125550183", "zh", None),  # 020… is Guangzhou's area code: cue needed in zh
])
def test_numbering_plan_shapes(digits, language, plan):
    assert plan_shape(digits, language) == plan


def test_a_phone_shaped_number_with_no_cue_is_a_phone():
    assert phones("en", ("caller", "Uh, it's 07700 900123... no wait, that's it, yeah.")) == [("phone", "uk_mobile")]
    assert phones("en", ("caller", "Sure, five one two, five five five, zero one four seven.")) == [("phone", "nanp")]
    assert phones("en", ("caller", "Plus four four, seven seven zero zero, nine zero zero, seven eight one.")) \
        == [("phone", "uk_mobile")]
    # "oh" at the start of a run is dropped as an interjection, but here it is the UK trunk zero.
    assert phones("en", ("caller", "oh seven seven double oh, nine double oh, four five six")) == [("phone", "uk_mobile")]


def test_the_same_length_without_a_plan_shape_or_cue_is_masked_not_found():
    tr = transcript("en", ("caller", "Uh, it's 07700 90012... no wait, that's it, yeah."))
    assert detect_pii(tr, CALL) == [] and [f.details.type for f in masked_numbers(tr, CALL)] == ["digits"]


@pytest.mark.parametrize("question", [
    "Where can we get hold of you if the line drops?",
    "Is there a good number for you?",
    "And what's the best way to contact you?",
])
def test_the_answer_to_a_question_asking_for_a_number_is_a_phone_one_digit_short_included(question):
    # Nine digits, no plan's shape, no cue word in the answer: the question says what it is.
    assert phones("en", ("agent", question), ("caller", "Uh, it's five one two, five five, zero one four seven.")) \
        == [("phone", None)]


def test_the_question_types_the_answer_however_long_the_answer_turn_took_to_reach_it():
    # The question is beyond the 8-second cue window: the answer turn still answers it.
    filler = "yes of course hang on let me just find my diary it is in the kitchen drawer somewhere I think okay"
    assert phones("zh", ("agent", "方便留个联系方式吗？"),
                  ("caller", "好的。" + "嗯" * 20), ("caller", "幺八六零二七三九幺四")) == [("phone", None)]
    assert phones("en", ("agent", "What number can we call you back on?"), ("caller", filler),
                  ("caller", "five one two, five five, zero one four seven")) == [("phone", None)]


def test_a_question_that_is_no_question_or_not_the_turn_before_types_nothing():
    # The agent announced, not asked; the caller then read nine digits with no cue: masked, not found.
    assert phones("en", ("agent", "I'll give you a call back later today."), ("caller", "Okay."),
                  ("agent", "Thanks."), ("caller", "Reference five one two five five zero one four seven.")) == []
    assert phones("en", ("agent", "I'll note that down for you."),
                  ("caller", "It's five one two, five five, zero one four seven.")) == []


@pytest.mark.parametrize("language, turns", [
    ("en", [("caller", "My order number is 212 555 0183.")]),
    ("en", [("caller", "It's 212 555 0183, the order number.")]),
    ("en", [("caller", "Policy 07700 900123, it renews next month.")]),
    ("en", [("agent", "What's your account number?"), ("caller", "212 555 0183")]),
    ("en", [("agent", "Can I take the tracking number?"), ("caller", "Filler words here to fill up the line " * 4),
            ("caller", "02079460123")]),
    ("en", [("agent", "The balance is 212 555 0183 points, believe it or not.")]),
    ("zh", [("agent", "您的订单号是多少？"), ("caller", "13812345678")]),
])
def test_numbers_whose_own_words_say_order_policy_account_amount_stay_non_findings(language, turns):
    tr = transcript(language, *turns)
    assert detect_pii(tr, CALL) == []
    assert [f.details.type for f in masked_numbers(tr, CALL)] == ["digits"]


def test_a_phone_with_words_after_it_that_are_no_identifier_stays_a_phone():
    assert phones("en", ("caller", "Call me on 212 555 0183 any time.")) == [("phone", "nanp")]
    assert phones("en", ("caller", "My number is 212 555 0183, and my order number is 4 8 2 7 1 9 3 3.")) \
        == [("phone", "nanp")]


def test_a_code_with_letters_glued_to_its_digits_is_no_phone():
    # 44 1709 26631 has a UK number's shape after +44, but "OD" makes it an order's code (as Whisper wrote it).
    tr = transcript("en", ("agent", "Can you tell me the order it please? It starts with OD."),
                    ("caller", "Yes, OD4417-092-6631"))
    assert detect_pii(tr, CALL) == [] and [f.details.type for f in masked_numbers(tr, CALL)] == ["digits"]
    # The question alone names what it asks for ("the order ID", heard "order it"), however the code was written.
    assert phones("en", ("agent", "Can you tell me the order it please?"), ("caller", "Yes, 4417-092-6631")) == []
    assert phones("en", ("caller", "Yes, 4417-092-6631")) == [("phone", "uk_landline")]


def test_on_a_mono_call_the_question_and_the_answer_come_from_the_diarized_turns():
    mono = Call(call_id="m", audio_path="m.wav", layout="mono")
    tr = transcript("en", ("agent", "Where can we get hold of you if the line drops?"),
                    ("caller", "Uh, it's five one two, five five, zero one four seven."))
    [f] = detect_pii(tr, mono)
    assert (f.details.type, f.speaker) == ("phone", "caller")
    tr = transcript("en", ("agent", "Can I take the tracking number?"),
                    ("caller", "Sure, it's two one two, five five five, zero one eight three."))
    assert detect_pii(tr, mono) == []


def test_a_measure_or_identifier_word_in_a_question_about_a_phone_does_not_untype_the_phone():
    # "date" and 日期 after the phone cue, "time" in the answer: the number is still the phone asked for.
    assert phones("en", ("agent", "Can I take your phone number and date of birth?"),
                  ("caller", "Yeah, any time. It's 07700 900123.")) == [("phone", "uk_mobile")]
    assert phones("zh", ("agent", "请问您的手机号和出生日期？"), ("caller", "13812345678。")) == [("phone", "cn_mobile")]
    # The account is what the number is on, not what the number is.
    assert phones("en", ("agent", "The number we have on the account is 07700 900123, is that right?")) \
        == [("phone", "uk_mobile")]


def test_a_cue_after_a_number_that_introduces_the_next_number_is_the_next_numbers():
    found = phones("en", ("agent", "Where can we get hold of you?"),
                   ("caller", "It's 07700 900123, and my account number is 4827 1933."))
    assert found == [("phone", "uk_mobile")]
    assert phones("en", ("caller", "2125550183 is the order number.")) == []


def test_a_question_for_a_number_a_noun_names_is_not_a_question_for_a_phone():
    assert phones("en", ("agent", "What's the receipt number?"), ("caller", "Five one two, five five, zero one four seven.")) == []
