"""Personal-data detection and redaction: detectors, spoken digits, masking, redacted text and audio."""


from __future__ import annotations

import re

import numpy as np
import pytest

from qa_pipeline.base.audio import Audio
from qa_pipeline.config import ConfigError, PrivacyConfig, load_config
from qa_pipeline.contracts import Call, Segment, Transcript, Word
from qa_pipeline.stages.pii.checks import classify_digits, cn_id_valid, luhn_valid, phone_kind
from qa_pipeline.stages.pii.detect import detect_pii, masked_numbers
from qa_pipeline.stages.pii.redact import redact_audio, redact_transcript


def transcript(language: str, *turns: tuple[str, str]) -> Transcript:
    """Word-timed transcript: English words split on spaces, Chinese per character, 0.35 s each."""
    segments, t = [], 0.0
    for speaker, text in turns:
        tokens = text.split(" ") if language == "en" else list(text)
        words = []
        for tok in tokens:
            words.append(Word(round(t, 3), round(t + 0.3, 3), tok, 0.9))
            t += 0.35
        segments.append(Segment(speaker, words[0].start, words[-1].end, text, text, words=words))  # type: ignore[arg-type]
        t += 0.5
    return Transcript(language, "test", {}, t, segments)


def types(findings):
    return [f.details.type for f in findings]


CALL = Call(call_id="c1", audio_path="c1.wav")


def _audio(n_channels: int) -> Audio:
    rng = np.random.default_rng(0)
    chans = [rng.normal(0, 0.1, 16000 * 4).astype(np.float32) for _ in range(n_channels)]
    return Audio("x.wav", "0", 16000, n_channels, "wav", 4.0, chans, "stereo" if n_channels == 2 else "mono")


# Real Whisper base output on espeak Mandarin read-outs (`qa eval pii`, pii_synth_zh.wav):
# 幺九九，七五四三，二三幺九 and 幺八八，七五七四，九幺幺八.
ASR_PHONE_1 = "我的手机熬码是要求求,起屋是三,二三要求。"


ASR_PHONE_2 = "我的手机熬码是要爬爬起屋起屋,起屋要爬。"


# One look-alike character per digit (the sounds Whisper wrote for them in the evaluation).
LOOK_ALIKE = dict(zip("0123456789", "灵要而山是屋流起爬求"))


def sounded(digits: str) -> str:
    return "".join(LOOK_ALIKE[d] for d in digits)


ORDINARY_ZH = [
    "我是要去机场接我爸爸。", "这是我一时记起来的事情，就是要求你们尽快处理。", "请您稍等一下，我帮您查询一下。",
    "您好，这里是东方银行信用卡中心，请问有什么可以帮您？", "实际上几十几个人都已经起来了。",
    "你们的服务实在是太差了，我要求马上退款！", "一起吃饭吧，就是四五个人，时间是七点。",
]


@pytest.mark.parametrize("number,ok", [("4111111111111111", True), ("4532015112830366", True),
                                       ("6222021234567894", True), ("4111111111111112", False),
                                       ("378282246310005", True), ("1234567890123", False)])
def test_luhn(number, ok):
    assert luhn_valid(number) is ok


@pytest.mark.parametrize("value,ok", [("11010519491231002X", True), ("110105198503120020", True),
                                      ("110105198503120021", False), ("11010519491231002x", True),
                                      ("110105194913310021", False), ("11010519491231002", False)])
def test_cn_id_check_digit(value, ok):
    assert cn_id_valid(value) is ok


@pytest.mark.parametrize("digits,kind", [("13812345678", "cn_mobile"), ("8613812345678", "cn_mobile"),
                                         ("02112345678", "cn_landline"), ("4155552671", "us"),
                                         ("12125552671", "us"), ("12812345678", "us"), ("11812345678", None), ("0123456", None),
                                         ("1155552671", None)])
def test_phone_kinds(digits, kind):
    assert phone_kind(digits) == kind


def test_classify_prefers_check_digits_and_ignores_short_numbers():
    assert classify_digits("110105198503120020") == ("cn_id", "gb11643")
    assert classify_digits("4532015112830366") == ("bank_card", "luhn")
    assert classify_digits("13812345678") == ("phone", "cn_mobile")
    assert classify_digits("73829104") == ("digits", None)
    assert classify_digits("2018") is None
    assert classify_digits("1030") is None


def test_english_spoken_phone_across_segments_of_one_speaker():
    t = transcript("en", ("caller", "my number is four one five,"), ("agent", "uh-huh"),
                   ("caller", "five five five, two six seven one."))
    f = detect_pii(t, CALL)
    assert types(f) == ["phone"]
    assert f[0].speaker == "caller"
    assert f[0].start == t.segments[0].words[3].start and f[0].end == t.segments[2].words[-1].end
    assert "4155552671" not in f[0].evidence and f[0].details.masked == "******2671"


def test_english_double_triple_and_oh():
    t = transcript("en", ("caller", "it is double five, triple seven, oh one two three"))
    f = masked_numbers(t, CALL)
    assert len(f) == 1 and f[0].details.n_digits == 9
    assert detect_pii(t, CALL) == []  # nine digits of no established type: masked, not personal data


def test_written_phone_and_card_and_agent_readback():
    t = transcript("en", ("caller", "call me on 415-555-2671 please"),
                   ("agent", "so the card is 4532 0151 1283 0366 correct?"))
    f = detect_pii(t, CALL)
    assert types(f) == ["phone", "bank_card"]
    assert f[1].rule_id == "pii_readback_card" and f[1].severity == "critical"
    assert f[0].rule_id == "pii_phone" and f[0].severity == "minor"


def test_caller_card_is_not_a_readback():
    f = detect_pii(transcript("en", ("caller", "four five three two zero one five one one two eight three zero three six six")), CALL)
    assert [x.rule_id for x in f] == ["pii_bank_card"]


def test_spoken_email():
    f = detect_pii(transcript("en", ("caller", "my email is emily dot davis at example dot com thanks")), CALL)
    assert types(f) == ["email"] and f[0].details.masked == "e***@example.com"
    f = detect_pii(transcript("en", ("caller", "send it to john.smith@example.org please")), CALL)
    assert types(f) == ["email"]
    f = detect_pii(transcript("en", ("caller", "email me at mark dot jones at example dot com")), CALL)
    assert f[0].details.masked == "m***@example.com"
    red = redact_transcript(transcript("en", ("caller", "email me at mark dot jones at example dot com")), f)
    assert red.segments[0].text == "email me at [EMAIL]"


def test_mandarin_spoken_digits_with_yao_and_id_check_character():
    f = detect_pii(transcript("zh", ("caller", "新号码是幺三八，幺二三四，五六七八。")), CALL)
    assert types(f) == ["phone"] and f[0].details.masked == "*******5678"
    f = detect_pii(transcript("zh", ("caller", "身份证号码是一一零一零五一九四九一二三一零零二叉")), CALL)
    assert types(f) == ["cn_id"]
    f = detect_pii(transcript("zh", ("caller", "卡号是六二二二零二一二三四五六七八九四")), CALL)
    assert types(f) == ["bank_card"]
    f = detect_pii(transcript("zh", ("caller", "我的手机号是13812345678")), CALL)
    assert types(f) == ["phone"]


@pytest.mark.parametrize("language,text", [
    ("en", "the total was $1,250.00 and we open at 10:30 on the 2018 model"),
    ("en", "Oh, hello. I have one or two questions, we are open nine to five"),
    ("en", "it costs two hundred and fifty dollars"),
    ("zh", "我们一起去两个地方，三点见，一共两百五十元"),
    ("zh", "身份证后四位是九零三一"),
])
def test_ordinary_numbers_are_not_personal_data(language, text):
    assert detect_pii(transcript(language, ("caller", text)), CALL) == []


def test_redacted_transcript_keeps_no_digits():
    t = transcript("en", ("caller", "my number is four one five, five five five, two six seven one. ok"),
                   ("agent", "and your card 4532 0151 1283 0366 right"))
    red = redact_transcript(t, detect_pii(t, CALL))
    assert red.segments[0].text == "my number is [PHONE] ok"
    assert red.segments[1].text == "and your card [CARD] right"
    for seg in red.segments:
        assert not re.search(r"\d|four|five|six|seven|two", seg.text + seg.raw_text + " ".join(w.text for w in seg.words))
    # the placeholder word covers the redacted words' time
    placeholder = red.segments[0].words[3]
    assert placeholder.text == "[PHONE]" and placeholder.end == t.segments[0].words[-2].end


def test_redacted_mandarin_transcript():
    t = transcript("zh", ("caller", "新号码是幺三八幺二三四五六七八好的"))
    red = redact_transcript(t, detect_pii(t, CALL))
    assert red.segments[0].text == "新号码是[PHONE]好的"


def test_redact_audio_tone_on_the_speakers_channel_only():
    audio = _audio(2)
    t = transcript("en", ("caller", "four one five five five five two six seven one"))
    f = masked_numbers(t, CALL)  # every long number is covered in the audio, personal data or not
    out = redact_audio(audio, f, "tone", pad=0.0)
    a, b = int(f[0].start * 16000), int(f[0].end * 16000)
    np.testing.assert_array_equal(out[0], audio.channels[0])  # agent channel untouched
    span = out[1][a + 200 : b - 200]
    spectrum = np.abs(np.fft.rfft(span))
    assert np.argmax(spectrum) * 16000 / len(span) == pytest.approx(1000, abs=5)
    np.testing.assert_array_equal(out[1][b + 10 :], audio.channels[1][b + 10 :])
    silent = redact_audio(audio, f, "silence", pad=0.1)
    assert not np.any(silent[1][a:b])
    with pytest.raises(ValueError, match="tone"):
        redact_audio(audio, f, "beep")


def test_redact_audio_mono_uses_the_one_channel():
    audio = _audio(1)
    f = masked_numbers(transcript("en", ("agent", "four one five five five five two six seven one")), CALL)
    out = redact_audio(audio, f, "silence", pad=0.0)
    assert not np.any(out[0][int(f[0].start * 16000) : int(f[0].end * 16000)])


def test_privacy_config(tmp_path):
    good = tmp_path / "qa.yaml"
    good.write_text("privacy:\n  coach_view: raw\n  audio_mode: silence\n", encoding="utf-8")
    cfg = load_config(good)
    assert cfg.privacy.coach_view == "raw" and cfg.privacy.audio_mode == "silence"
    assert load_config(None).privacy.coach_view == "redacted"
    bad = tmp_path / "bad.yaml"
    bad.write_text("privacy:\n  coach_view: everything\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2: privacy.coach_view"):
        load_config(bad)


def test_digit_sound_folds():
    from qa_pipeline.stages.pii.spoken_digits import digit_key, sound_digit, sound_digits

    assert digit_key("shi") == "si" and digit_key("qiu") == "jiu" and digit_key("pa") == "ba"
    assert [sound_digit(s) for s in ("yao", "qiu", "pa", "shi", "wu", "ji", "liang")] == list("1984572")
    # n/l and -n/-ng are not folded: 您 (nin), 年 (nian), 林 (lin), 牛 (niu) are not digits
    assert [sound_digit(s) for s in ("nin", "nian", "lin", "niu", "xi", "can")] == [None] * 6
    assert sound_digits("要求求起屋") == list("19975")
    assert sound_digits("我的") == [None, None]


@pytest.mark.parametrize("text,last4", [(ASR_PHONE_1, "2319"), (ASR_PHONE_2, "7518")])
def test_real_asr_phone_read_by_sound(text, last4):
    found = detect_pii(transcript("zh", ("caller", text)), CALL)
    assert types(found) == ["phone"]
    f = found[0]
    assert f.details.read_by == "sound" and f.details.check == "cn_mobile"
    assert f.details.masked.endswith(last4) and "read by sound" in f.evidence
    assert f.confidence < 0.85  # lower than a phone number written in digits
    # the stray 是 before the number is dropped: the finding starts at 要 (the 8th character)
    assert f.start == pytest.approx(7 * 0.35)
    red = redact_transcript(transcript("zh", ("caller", text)), found)
    assert red.segments[0].text.startswith("我的手机熬码是[PHONE]")
    assert "要" not in red.segments[0].text and "起屋" not in red.segments[0].text


def test_sound_reader_needs_a_valid_number():
    valid_id = "440305198112126086"
    assert cn_id_valid(valid_id)
    assert types(detect_pii(transcript("zh", ("caller", "号码" + sounded(valid_id) + "。")), CALL)) == ["cn_id"]
    bad_id = valid_id[:-1] + "7"  # wrong check digit, and no window of it passes Luhn or is a mobile
    assert not cn_id_valid(bad_id)
    assert detect_pii(transcript("zh", ("caller", "号码" + sounded(bad_id) + "。")), CALL) == []
    # 11 digit sounds that are not a Chinese mobile (12…) and a card that fails Luhn
    assert detect_pii(transcript("zh", ("caller", "号码" + sounded("12975432319") + "。")), CALL) == []
    assert not luhn_valid("6222021234567895")
    assert detect_pii(transcript("zh", ("caller", "卡号" + sounded("6222021234567895") + "。")), CALL) == []
    assert types(detect_pii(transcript("zh", ("caller", "卡号" + sounded("6222021234567894") + "。")), CALL)) \
        == ["bank_card"]


def test_sound_reader_takes_16_and_19_digit_cards_only():
    card17 = "62220212345678903"  # passes Luhn; neither 16-digit window inside it does
    assert luhn_valid(card17) and not luhn_valid(card17[:16]) and not luhn_valid(card17[1:])
    assert detect_pii(transcript("zh", ("caller", "卡号" + sounded(card17) + "。")), CALL) == []
    card19 = "6222021234567890128"
    assert luhn_valid(card19)
    assert types(detect_pii(transcript("zh", ("caller", "卡号" + sounded(card19) + "。")), CALL)) == ["bank_card"]


def test_sound_reader_runs_break_on_other_characters():
    # the same mobile with one ordinary character (的) in the middle is no longer one run
    text = "号码" + sounded("19975") + "的" + sounded("432319")
    assert detect_pii(transcript("zh", ("caller", text)), CALL) == []


def test_sound_reader_can_be_switched_off():

    assert detect_pii(transcript("zh", ("caller", ASR_PHONE_1)), CALL, PrivacyConfig(sound_digits=False)) == []


def test_written_digits_are_not_retyped_by_a_stray_sound():
    # real ASR (zh_pii_update): the ID came back as 17 written digits after 是 (shi ~ si = 4); adding that
    # one 是 makes 18 digits that happen to pass Luhn. The written-digit finding must stay as it was.
    found = masked_numbers(transcript("zh", ("caller", "我的深圳套马是11105195102202010")), CALL)
    assert types(found) == ["digits"] and found[0].details.read_by == ""
    # 15 written digits that fail Luhn; with 是 (4) in front they are a Luhn-valid 16-digit string
    assert luhn_valid("4622202123456784") and not luhn_valid("622202123456784")
    found = detect_pii(transcript("zh", ("caller", "卡号是622202123456784")), CALL)
    # …and 卡号 before them says what they are: a card with a digit missed, not a sound-read 16-digit one
    assert types(found) == ["bank_card"] and found[0].details.read_by == "" and found[0].details.n_digits == 15


@pytest.mark.parametrize("text", ORDINARY_ZH)
def test_ordinary_mandarin_not_flagged(text):
    assert detect_pii(transcript("zh", ("caller", text)), CALL) == []


def test_sentiment_sentences_not_flagged_by_sound():
    import csv
    from pathlib import Path

    sentences = []
    for path in sorted(Path(__file__).parents[2].joinpath("evalsets", "sentiment").glob("sentiment_zh_*.csv")):
        with path.open(encoding="utf-8") as fh:
            sentences += [row["text"] for row in csv.DictReader(fh)]
    assert len(sentences) > 200
    flagged = [s for s in sentences for f in detect_pii(transcript("zh", ("caller", s)), CALL)
               if f.details.read_by == "sound"]
    assert flagged == []


@pytest.mark.parametrize("text,masked", [
    ("You can email me at mark.johns.ample.com", "m***@ample.com"),  # real ASR of "mark dot jones at example dot com"
    ("send it to lisa dot mailbox dot org please", "l***@mailbox.org"),
    ("my email is john.smith.example.co.uk", "j***@example.co.uk"),
])
def test_email_without_at_after_a_cue(text, masked):
    found = detect_pii(transcript("en", ("caller", text)), CALL)
    assert types(found) == ["email"]
    assert found[0].details.masked == masked and found[0].details.read_by == "shape_no_at"
    assert found[0].confidence < 0.9


@pytest.mark.parametrize("text", [
    "I can send it to example.co.uk", "send it to john.com", "Please visit www.example.com for details",
    "I will send it to the main office.", "Can you email me the form at home?", "The total is 12.50 dot com",
])
def test_email_without_at_needs_cue_and_name(text):
    assert [f for f in detect_pii(transcript("en", ("caller", text)), CALL) if f.details.type == "email"] == []


def test_sound_reading_completes_a_partly_written_number():
    # the first five digits heard as look-alikes, the last six written: one phone number, covering both parts
    t = transcript("zh", ("caller", "号码要爬爬起屋757518。"))
    assert types(masked_numbers(t, CALL, PrivacyConfig(sound_digits=False))) == ["digits"]
    found = detect_pii(t, CALL)
    assert types(found) == ["phone"] and found[0].details.read_by == "sound"
    assert found[0].start == pytest.approx(2 * 0.35) and found[0].details.masked.endswith("7518")
    assert redact_transcript(t, found).segments[0].text.replace(" ", "") == "号码[PHONE]。"


def test_merged_sound_finding_redacts_each_word_once():
    # Whisper writes the written part as one word; the sound window ends one digit before the word does
    # (12 digits: the mobile is the first 11), the "digits" finding covers the whole word: one edit per word.
    words = [Word(0.0, 0.3, "号码", 0.9)] + [Word(0.3 + 0.3 * i, 0.6 + 0.3 * i, c, 0.9) for i, c in enumerate("要爬爬起屋")]
    words.append(Word(1.8, 2.6, "7575189", 0.9))
    seg = Segment("caller", 0.0, 2.6, "号码要爬爬起屋7575189", "号码要爬爬起屋7575189", words=words)
    t = Transcript("zh", "test", {}, 2.6, [seg])
    found = detect_pii(t, CALL)
    assert types(found) == ["phone"] and found[0].details.read_by == "sound"
    assert [s for s in found[0].details.spans if s[1] == 6] == [[0, 6, 0, 7]]
    assert redact_transcript(t, found).segments[0].text.replace(" ", "") == "号码[PHONE]"


def test_a_number_split_between_speakers_on_a_mono_call_is_found_whole():
    """Diarization gave 0.4 s of the caller's card number to the agent (seen on pii_synth_zh): on a mono call the
    whole number is one finding, the caller's; on a stereo call the channels are the truth and stay apart."""
    tr = transcript("zh", ("caller", "我的银行卡号是六二二二零二一二"), ("agent", "三四五六"), ("caller", "七八九四"))
    mono = detect_pii(tr, Call(call_id="m", audio_path="m.wav", layout="mono"))
    assert [(f.speaker, f.details.n_digits, f.details.type) for f in mono] == [("caller", 16, "bank_card")]
    stereo = detect_pii(tr, Call(call_id="s", audio_path="s.wav", layout="stereo"))
    # Stereo: the agent's 4 digits are the agent's; the caller's 8 + 4 make a 12-digit string, not a card.
    # (no card: masked as a number, not a finding)
    masked = masked_numbers(tr, Call(call_id="s", audio_path="s.wav", layout="stereo"))
    assert stereo == [] and [(f.speaker, f.details.n_digits, f.details.type) for f in masked] == [("caller", 12, "digits")]


def test_one_misheard_word_inside_a_long_number_does_not_end_it():
    tr = transcript("zh", ("caller", "卡号是六二二一四七零四九七分，六五零九"))
    [f] = detect_pii(tr, CALL)
    assert f.details.n_digits == 14 and f.end == tr.segments[0].words[-1].end
    # Short digit strings around a word stay apart: 三点 … 二百五 is a time and an amount.
    assert detect_pii(transcript("zh", ("agent", "我们下午三点见，一共是二五零元")), CALL) == []
