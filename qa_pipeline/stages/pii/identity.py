"""Personal data that is not a number: a date of birth, a street address, a customer's full name.

Each is found in the words of one segment, by its shape and the cue that introduces it (a date is a date of
birth only after "date of birth" / 出生日期 was said, by either party, shortly before or in the same turn; a
name only when a caller gives theirs or the name on the account is read). Agents' own names in a greeting
are not customers' personal data.
"""

from __future__ import annotations

import re
import unicodedata

from qa_pipeline.contracts import Finding, PIIMatch, Segment, Transcript
from qa_pipeline.stages.pii.checks import RULE_VERSION

CUE_SECONDS = 10.0

DOB_CUES = re.compile(r"(date of birth|birth ?date|born on|\bborn\b|birthday|\bd\.?o\.?b\b|出生日期|出生年月|生日|出生于|出生|生的)", re.I)
_MONTH = r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?|nov(ember)?|dec(ember)?)"
_DAY = r"(\d{1,2}(st|nd|rd|th)?|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|" \
       r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty[- ]\w+|thirtieth|thirty[- ]first)"
_TENS = r"(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
_YEAR = rf"(\d{{4}}|(nineteen )?{_TENS}[- ]\w+|nineteen[- ]\w+([- ]\w+)?|two thousand( and)?[- ]\w+|'?\d{{2}})"
DATE_EN = re.compile(rf"\b({_DAY}( of)? {_MONTH},? {_YEAR}|{_MONTH} (the )?{_DAY},? {_YEAR}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|"
                     rf"\d{{4}}-\d{{2}}-\d{{2}})\b", re.I)
_ZH_NUM = "0-9零〇一二三四五六七八九十两"
DATE_ZH = re.compile(rf"([{_ZH_NUM}]{{2,4}} ?年 ?[{_ZH_NUM}]{{1,3}} ?月( ?[{_ZH_NUM}]{{1,3}} ?[日号])?|[{_ZH_NUM}]{{1,3}} ?月 ?[{_ZH_NUM}]{{1,3}} ?[日号]|"
                     rf"民[國国][{_ZH_NUM}]{{1,4}}年)")

_STREET = r"(street|st|road|rd|avenue|ave|lane|ln|drive|dr|court|ct|way|close|crescent|cres|place|pl|boulevard|blvd|" \
          r"terrace|grove|parade|highway|hwy|square|gardens|mews|row|walk)"
# A house number is a token that starts with a digit ("22", "221B"; the ASR writes "forty-one" as "4K1").
# A house number is a token that starts with a digit ("22", "221B"; the ASR writes "forty-one" as "4K1"), or a
# number in words followed by a capitalised street name ("twelve Oak Street"; "two appointments in a row" is none).
_HOUSE = r"\d[0-9a-z]{0,4}"
_UNITS = r"(one|two|three|four|five|six|seven|eight|nine)"
_HOUSE_WORDS = rf"({_UNITS}|ten|eleven|twelve|\w+teen|(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)" \
               rf"([- ]{_UNITS})?|{_UNITS} hundred( and)?( \w+)?)"
ADDRESS_EN = re.compile(rf"\b(?i:{_HOUSE}|flat \d+|unit \d+|apartment \d+)[, ]+(?i:[a-z0-9][a-z0-9'-]* ){{1,3}}(?i:{_STREET})\b|"
                        rf"\b(?i:{_HOUSE_WORDS})[, ]+([A-Z][a-z'-]* ){{1,3}}(?i:{_STREET})\b")
# After the address was asked for or announced, a house number and the capitalised words after it are one,
# even when the street's kind was lost ("1812 Juniperlin" for "1812 Juniper Lane").
ADDRESS_CUES = re.compile(r"\b(address|live at|living at|lives at|deliver(ed)? (it )?to|send (it|them) to|"
                          r"ship (it )?to|post ?code|zip)\b|地址|住在|住址|寄到|送到", re.I)
ADDRESS_ANSWER_EN = re.compile(rf"\b(?i:{_HOUSE}|flat \d+|unit \d+|apartment \d+),? (?:[A-Z][a-z'-]+,? ?){{1,3}}")
POSTCODE_UK = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
ZIP_US = re.compile(r"\b(zip( code)?|[A-Z]{2})[ ,]+\d{5}(-\d{4})?\b")
_ZH_STRONG = "路街巷弄号栋幢室村"
_ZH_PLACE = "省市区县镇乡"
ADDRESS_ZH = re.compile(rf"[\u4e00-\u9fff{_ZH_NUM}][\u4e00-\u9fff{_ZH_NUM} ]{{1,40}}[\u4e00-\u9fff{_ZH_NUM}]")

_CAPS = r"([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){1,2})"
NAME_EN = re.compile(rf"\b(?i:my name is|my name's|name's|this is|it's|speaking with|name on the account is|account holder is|"
                     rf"in the name of|'s name is|name is)\s+((?i:mr|mrs|ms|miss|dr)\.?\s+)?{_CAPS}")
# A name answering a question about one ("请问您的姓名？" — "欧阳明轩。"): its first words, if they look like one.
# A question about a holder's name asks it of whatever is held: "the name on the booking / for the reservation /
# under the policy", "what name is it under", "whose name is it in", as well as "your name".
NAME_QUESTION = re.compile(r"(姓名|名字|怎么称呼|贵姓|叫什么|your name|full name|who am i speaking|"
                           r"\bname (on|for|under) (the|your|this) \w+|\b(what|which|whose) name\b|"
                           r"spell (it|that|your)|\w+'s name)", re.I)
NAME_LEAD_EN = re.compile(rf"^(?:(?:it's|it is|yes|yeah|sure|um|uh)[, ]+)*((?i:mr|mrs|ms|miss|dr)\.?\s+)?{_CAPS}\b")
_ROLES_ZH = "被保险人|投保人|机主|户主|持卡人|收件人|联系人|患者|病人|学员|孩子|客户|老人|乘客|住客|业主"
NAME_ZH = re.compile(rf"(我叫|我的名字是|名字是|名字叫|姓名是|名叫|叫做|(?:{_ROLES_ZH})(?:叫|是|姓名是|的名字是)?)"
                     r"([\u4e00-\u9fff]{2,4}?)(?=[，,。.、 ；;！!？?]|$|我|是|，)")
NAME_LEAD_ZH = re.compile(r"^(?:嗯|呃|好的|对|是)?[，, ]*([\u4e00-\u9fff]{2,4}?)(?=[，,。.、 ；;]|$)")
# Answering a question about a name, 叫 introduces it anywhere in the turn: 「户主是我爸，叫陈建国。」
NAME_ASKED_ZH = re.compile(r"叫([\u4e00-\u9fff]{2,3}?)(?=[，,。.、 ；;！!？?]|$)")
# A name spelled out letter by letter ("S-I-O-B-H-A-N", "O K A F O R").
SPELLED = re.compile(r"(?<![\w'-])[A-Za-z](?:(?:-|\.? )[A-Za-z](?![\w'])){2,}\.?")
_NAME_RUN = re.compile(r"[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){0,2}")
# The first character of a Chinese name is a surname: the common ones and the two-character ones.
SURNAMES_ZH = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
                  "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄"
                  "聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
                  "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙"
                  "荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
SURNAMES_ZH2 = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐")


def identity_findings(transcript: Transcript, call_id: str) -> list[Finding]:
    out: list[Finding] = []
    for i, seg in enumerate(transcript.segments):
        text = seg.text
        cued = _cue_before(transcript, i, DOB_CUES)
        if cued:
            for m in (DATE_ZH if transcript.language == "zh" else DATE_EN).finditer(text):
                out.append(_finding(call_id, i, seg, "dob", m.span(), "date of birth"))
        addresses = _addresses(text, transcript.language, _cue_before(transcript, i, ADDRESS_CUES))
        for span in addresses:
            out.append(_finding(call_id, i, seg, "address", span, "address"))
        if seg.speaker != "agent" or re.search(r"name on the account|account holder|in the name of|speaking with|"
                                               r"机主|户主|持卡人|被保险人|投保人", text, re.I):
            asked = _cue_before(transcript, i, NAME_QUESTION, others_only=True)
            names = {span for span in _names(text, transcript.language, asked)
                     if not any(a < span[1] and span[0] < b for a, b in addresses)}  # "Twelve Oak Street" is a place
            for span in sorted(names):
                out.append(_finding(call_id, i, seg, "person_name", span, "name"))
    return out


def _cue_before(transcript: Transcript, i: int, cue: re.Pattern[str], others_only: bool = False) -> bool:
    """Was ``cue`` said in the CUE_SECONDS before segment ``i`` (or in it, unless ``others_only``)?"""
    seg = transcript.segments[i]
    return any(cue.search(s.text) for k, s in enumerate(transcript.segments[: i + 1])
               if s.end >= seg.start - CUE_SECONDS and not (others_only and (k == i or s.speaker == seg.speaker)))


def _addresses(text: str, language: str, cued: bool = False) -> list[tuple[int, int]]:
    if language != "zh":
        spans = [m.span() for m in ADDRESS_EN.finditer(text)]
        if cued:
            spans += [m.span() for m in ADDRESS_ANSWER_EN.finditer(text)
                      if not any(a < m.end() and m.start() < b for a, b in spans)]
        spans += [m.span() for m in POSTCODE_UK.finditer(text)]
        spans += [m.span() for m in ZIP_US.finditer(text)]
        return spans
    spans = []
    for m in ADDRESS_ZH.finditer(text):
        chunk = m.group()
        strong = sum(ch in _ZH_STRONG for ch in chunk)
        place = sum(ch in _ZH_PLACE for ch in chunk)
        numbered = re.search(rf"[{_ZH_NUM}]+ ?[号栋幢室楼]", chunk)
        if numbered and strong + place >= 2:
            spans.append(m.span())
    return spans


def _names(text: str, language: str, asked: bool = False) -> list[tuple[int, int]]:
    """Spans of customers' names: after a cue in the same sentence, or leading an answer to a question about a
    name (``asked``). A Mandarin name must start with a surname."""
    if language != "zh":
        spans = [m.span(2) for m in NAME_EN.finditer(text)]
        lead = NAME_LEAD_EN.match(text.strip()) if asked else None
        if lead and not spans:
            offset = len(text) - len(text.lstrip())
            spans.append((lead.start(2) + offset, lead.end(2) + offset))
        return spans + _spelled_names(text, asked)
    found = [(m.group(2), m.span(2)) for m in NAME_ZH.finditer(text)]
    if asked:
        found += [(m.group(1), m.span(1)) for m in NAME_ASKED_ZH.finditer(text)]
    lead = NAME_LEAD_ZH.match(text.strip()) if asked else None
    if lead:
        offset = len(text) - len(text.lstrip())
        found.append((lead.group(1), (lead.start(1) + offset, lead.end(1) + offset)))
    return [span for name, span in found if _surname(name)]


def _spelled_names(text: str, asked: bool) -> list[tuple[int, int]]:
    """A spelling and the name it spells: the capitalised words holding a word with the spelled letters (accents
    aside: "Siobhán" is spelled S-I-O-B-H-A-N). After a question about a name the spelling alone is one."""
    spans = []
    for m in SPELLED.finditer(text):
        if re.match(r"[-. ]?\d", text[m.end():]) or re.search(r"\d[-. ]?$", text[:m.start()]):
            continue  # letters run on into digits: a reference read out ("L-H-R-S-K-48137"), not a name
        letters = _plain(m.group())
        runs = [r for r in _NAME_RUN.finditer(text) if r.end() <= m.start() or r.start() >= m.end()]
        named = [r.span() for r in runs if any(_plain(w) == letters for w in r.group().split())]
        if named or asked:
            spans += [m.span(), *named]
    return spans


def _plain(word: str) -> str:
    """Lower-case letters only, accents dropped."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if "a" <= c <= "z")


def _surname(name: str) -> bool:
    return len(name) >= 2 and (name[0] in SURNAMES_ZH or name.startswith(SURNAMES_ZH2))


def _finding(call_id: str, seg_index: int, seg: Segment, kind: str, span: tuple[int, int], label: str) -> Finding:
    """A finding over the words of segment ``seg_index`` that hold the characters ``span`` of its text."""
    pos, hit = 0, []
    for wi, w in enumerate(seg.words):
        word = w.text.strip()
        found = seg.text.find(word, pos) if word else -1
        if found < 0:
            continue
        end = found + len(word)
        lead = len(w.text) - len(w.text.lstrip())
        if found < span[1] and end > span[0]:
            hit.append((wi, w, lead + max(span[0], found) - found, lead + min(span[1], end) - found))
        pos = end
    start = hit[0][1].start if hit else seg.start
    end = hit[-1][1].end if hit else seg.end
    spans = [[seg_index, wi, a, b] for wi, _, a, b in hit] or [[seg_index, -1, span[0], span[1]]]
    return Finding(call_id=call_id, kind="pii", rule_id=f"pii_{kind}", rule_version=RULE_VERSION,
                   speaker=seg.speaker, start=round(start, 3), end=round(end, 3), evidence=f"{label}: [masked]",
                   confidence=0.7, severity="minor", details=PIIMatch(type=kind, masked="[masked]", spans=spans))
