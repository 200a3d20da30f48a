"""Personal data as typed findings: a number is a finding only when its check digit or the words around it say
what it is; every other long number is masked, not found; names, addresses, dates of birth and security codes
are found. Lines are written the way agents and callers say them (and the way Whisper writes them)."""

from __future__ import annotations

import pytest

from qa_pipeline.contracts import Call
from qa_pipeline.stages.pii.detect import detect_pii, masked_numbers
from qa_pipeline.stages.pii.redact import redact_transcript
from tests.unit.test_pii import transcript

CALL = Call(call_id="c1", audio_path="c1.wav")


def found(language: str, *turns: tuple[str, str]) -> list[str]:
    return sorted({f.details.type for f in detect_pii(transcript(language, *turns), CALL)})


# --- context types a number whose check digit one misheard or dropped digit broke ---------------------------

def test_a_bare_card_cue_types_a_card_length_number_that_fails_luhn():
    # Whisper dropped one digit of 4539 1488 0343 6467: 15 digits, Luhn fails; "by card" says what it is.
    assert found("en", ("caller", "Can I just get the refund? I paid by card."),
                 ("caller", "It's 4539-148-0343-6467 if you need it.")) == ["bank_card"]
    assert found("en", ("agent", "Okay, so card 4539-148-0343-6467, noted.")) == ["bank_card"]
    assert found("zh", ("caller", "还有赔款的那张卡，你们问都没问过我。"), ("caller", "621-0028-3511-9075。")) == ["bank_card"]


def test_the_other_partys_question_types_the_answer():
    assert found("zh", ("agent", "麻烦报一下您登记的手机号。"), ("caller", "186-0273-9145对")) == ["phone"]
    # One digit misheard in an ID: the check character fails, the question still says what it is.
    assert found("zh", ("agent", "麻烦报一下被保险人身份证号。"), ("caller", "310104198806273421。")) == ["cn_id"]


@pytest.mark.parametrize("said, digits", [("123-45-678", 8), ("123-45-6789", 9), ("123-45-67891", 10)])
def test_one_digit_dropped_or_added_keeps_a_cued_ssn(said, digits):
    turns = (("agent", "Can I get your full Social Security number?"), ("caller", f"Uh, {said}, I think."))
    [f] = detect_pii(transcript("en", *turns), CALL)
    assert f.details.type == "ssn" and f.details.n_digits == digits


def test_a_cued_number_far_from_the_types_length_is_not_typed():
    # Twelve digits after 卡号 is no card with one slip (cards are 14-19 digits): masked, not found.
    tr = transcript("zh", ("caller", "我的银行卡号是六二二二零二一二七八九四"))
    assert detect_pii(tr, CALL) == [] and [f.details.type for f in masked_numbers(tr, CALL)] == ["digits"]


# --- checksums -----------------------------------------------------------------------------------------------

def test_check_digits_type_a_number_without_any_cue():
    assert found("en", ("caller", "Right, 4111 1111 1111 1111, that one.")) == ["bank_card"]
    assert found("zh", ("caller", "就是110105199003074528。")) == ["cn_id"]
    # The same length without a valid check digit and without a cue is just a long number.
    tr = transcript("en", ("caller", "Right, 4111 1111 1111 1112, that one."))
    assert detect_pii(tr, CALL) == [] and len(masked_numbers(tr, CALL)) == 1


# --- numbers that are not personal data: masked, never findings ----------------------------------------------

@pytest.mark.parametrize("language, turns", [
    ("en", [("agent", "Your order number is 4 8 2 7 1 9 3 3, you'll get an email shortly.")]),
    ("en", [("agent", "Could I take the policy number please?"), ("caller", "Yeah, it's 7 7 0 1 4 4 2 8 9.")]),
    ("en", [("caller", "The tracking number is 330815274, it says delivered.")]),
    ("zh", [("agent", "您的工单号是幺零二四零八八三，有进展会短信通知您。")]),
    ("zh", [("caller", "会员卡号是6222 0212 3456 7890。")]),  # a membership card's number, not a bank card's
    ("zh", [("agent", "保单号和手机号都报一下。"), ("caller", "保单号是PDA2026，3101487。")]),
])
def test_order_policy_account_reference_numbers_are_masked_but_not_findings(language, turns):
    tr = transcript(language, *turns)
    assert detect_pii(tr, CALL) == []
    masked = masked_numbers(tr, CALL)
    assert masked and all(f.details.type == "digits" for f in masked)
    text = "".join(s.text for s in redact_transcript(tr, []).segments)
    assert "[NUMBER]" in text and not any(ch.isdigit() for ch in text.replace("PDA2026", ""))


def test_english_cues_are_whole_words():
    # "spinning" holds "pin", "cancelling" holds "cell": neither types the error code that follows.
    assert found("en", ("caller", "The drum keeps spinning and it shows error 448812.")) == []
    assert found("en", ("caller", "I'm cancelling, the code on the letter was 448812.")) == ["security_code"]


# --- security codes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("language, turns", [
    ("en", [("agent", "And the three digits on the back?"), ("caller", "Four one seven.")]),
    ("en", [("caller", "The verification code they texted me is 839 201.")]),
    ("zh", [("agent", "请把收到的验证码告诉我。"), ("caller", "八三六二九一。")]),
    ("zh", [("caller", "密码是六个八，我一直没改过。")]),  # 六个八 is 888888
])
def test_security_codes_are_found(language, turns):
    assert found(language, *turns) == ["security_code"]


def test_six_eights_is_six_digits_and_three_months_is_no_number():
    [f] = detect_pii(transcript("zh", ("caller", "密码是六个八，我一直没改过。")), CALL)
    assert f.details.n_digits == 6  # 「我一直」 after it is not a misheard digit of the code
    assert masked_numbers(transcript("zh", ("agent", "这个套餐要连续用三个月，八折优惠。")), CALL) == []


# --- addresses, names, dates of birth ------------------------------------------------------------------------

@pytest.mark.parametrize("turns", [
    [("agent", "Can I get the account number and the service address?"), ("caller", "1812 Juniperlin, in Bend.")],
    [("caller", "It's 4K1 Kelvin Drive, Glasgow, G20.")],
    [("caller", "Twelve Oak Street, Springfield.")],
    [("caller", "It's flat 3, 22 Aldridge Road, Ealing.")],
])
def test_english_addresses_as_people_say_them_and_as_whisper_writes_them(turns):
    assert "address" in found("en", *turns) and "person_name" not in found("en", *turns)


def test_everyday_talk_is_no_address():
    assert found("en", ("agent", "Well, that's what happens when you miss two appointments in a row.")) == []
    assert found("en", ("agent", "It takes 3 to 5 working days, then you drive it back.")) == []


def test_mandarin_address_read_out():
    assert found("zh", ("agent", "麻烦说一下装机地址。"), ("caller", "海淀区清河街道安宁庄西路十八号院，七号楼三单元四零一。")) == ["address"]


def test_a_spelled_name_and_the_name_it_spells():
    tr = transcript("en", ("caller", "Siobhán Kavanagh, that's S-I-O-B-H-A-N."))
    names = [f for f in detect_pii(tr, CALL) if f.details.type == "person_name"]
    assert names
    text = redact_transcript(tr, names).segments[0].text
    assert "Siobh" not in text and "S-I-O" not in text
    # Letters that spell nothing said, with no question about a name, are no name.
    assert found("en", ("agent", "It's the A B C package, the cheapest one.")) == []


def test_a_name_spelled_after_a_question_about_the_name_on_a_booking_but_not_a_spelled_reference():
    # Whisper's spelling of "Okafor" as heard on a voiced call; the question asks for the name "on the booking".
    turns = (("agent", "Could I take the file reference from the desk and the name on the booking?"),
             ("caller", "The reference is L-H-R-S-K-48137, and it's under T-D-O-K-F-R."))
    tr = transcript("en", *turns)
    [name] = [f for f in detect_pii(tr, CALL) if f.details.type == "person_name"]
    text = redact_transcript(tr, [name]).segments[1].text
    assert "T-D-O" not in text and "L-H-R-S-K" in text  # the reference's letters run into its digits: no name
    assert found("en", ("agent", "And the reference?"), ("caller", "It's L-H-R-S-K-48137.")) == []


def test_mandarin_name_given_after_a_name_question():
    assert found("zh", ("agent", "先麻烦您报一下户主的姓名。"), ("caller", "好的，户主是我爸，叫陈建国。")) == ["person_name"]
    # Without a question about a name, 叫 is just a verb: 「叫车」「叫王师傅来修」.
    assert found("zh", ("caller", "我一会儿叫王师傅过来看看。")) == []


def test_an_agents_own_name_in_the_greeting_is_not_personal_data():
    assert found("en", ("agent", "Thanks for calling Rosa's Auto, this is Mike Brown, how can I help?")) == []
    assert found("zh", ("agent", "您好，这里是客服中心，我是工号四六一八的小王。")) == []


def test_a_date_is_a_date_of_birth_only_after_its_cue():
    assert found("en", ("agent", "Can you confirm the date of birth on the account?"), ("caller", "March 3rd, 1991.")) == ["dob"]
    assert found("zh", ("agent", "请问您的出生日期？"), ("caller", "一九八八年六月二十七号。")) == ["dob"]
    assert found("en", ("agent", "It was delivered on March 3rd, 2024, to the front desk.")) == []


def test_the_eval_scores_each_type_apart_and_counts_non_personal_numbers():
    from qa_pipeline.eval.pii import PIIReport, score_findings

    tr = transcript("en", ("agent", "Your order number is 4 8 2 7 1 9 3 3."), ("caller", "My card is 4111 1111 1111 1111."))
    findings = detect_pii(tr, CALL)
    card = next(f for f in findings if f.details.type == "bank_card")
    events = [{"kind": "non_pii", "type": "order_number", "start": 0.0, "end": tr.segments[0].end},
              {"kind": "pii", "type": "bank_card", "speaker": "caller", "start": card.start, "end": card.end},
              {"kind": "pii", "type": "address", "speaker": "caller", "start": 100.0, "end": 101.0}]
    report = PIIReport()
    score_findings(findings, events, report, "t")
    assert (report.per_type["bank_card"].tp, report.per_type["address"].fn) == (1, 1)
    assert (report.non_pii_numbers, report.non_pii_raised, report.false_positives) == (1, 0, 0)
