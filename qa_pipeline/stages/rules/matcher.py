"""Banned phrases and escalation phrases: find a pack's phrasings in a transcript, tolerant of ASR errors.

Each speaker's segments are joined into one token stream (a Mandarin character or an English word per
token, with times from Whisper's word timestamps), so a phrase that Whisper cut across two segments still
matches. Every token has two codes, one character each: its surface (normalised text) and its sound key
(tone-less pinyin with the usual z/zh, n/l, -n/-ng merges for Mandarin; the lower-case word for English).
A phrase is then a short code string, and the tiers are:

- exact: the phrase's surface codes occur in the stream (``str.find``); regexes run on the normalised text;
- fuzzy: its sound codes occur (homophones written with the wrong characters match), or occur with a few
  token edits (near-homophones, ASR word slips), verified by a weighted edit distance whose substitution
  cost is the spelling distance of the two sounds. Candidates come from exact hits of pieces of the phrase
  (with k edits one of k+1 pieces is intact), so a long transcript is scanned with ``str.find`` only.

The transcript's tokens and pinyin are computed once per call and shared by every rule.

Protected words (``asr.vocabulary``: the company's, its products' and plans' names) are found in each stream
as they are spelled, spaces aside ("ShopKart" is also "Shop Kart"); a match that takes part of a name heard
there is dropped unless the phrase spells the whole name itself: a product that sounds like a banned phrase
is no banned phrase, and a brand stays one unit that no phrase cuts."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz

from qa_pipeline.base import phonetics
from qa_pipeline.base.phonetics import folded_pinyin, sound_letters, token_keys
from qa_pipeline.base.textnorm import (
    digits_to_zh,
    half_width,
    has_cjk,
    normalize_for_match,
    strip_punctuation,
    to_simplified,
)
from qa_pipeline.contracts import Segment, Transcript, Word
from qa_pipeline.stages.rules.pack import TIER_RANK, Cue, Rule

MAX_JOIN_GAP = 3.0  # seconds: a speaker's segments closer than this form one stream (phrases may span them)


SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
# A period that ends an abbreviation (8 a.m., U.S., Dr. Lee) ends no sentence.
_ABBREVIATION = re.compile(r"(?:[a-z]\.){2,}|(?:mr|mrs|ms|dr|st|jr|sr|vs|etc|approx)\.", re.I)
CLAUSE_END = (*SENTENCE_END, ",", "，", "、", ";", "；", ":", "：", "—")
CLAUSE_PAUSE = 0.5  # seconds of silence between two words that end a clause where no comma was written


_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+")


_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


BOUNDARY = "\x00"  # code of the token put between distant segments: never part of a phrase


# Negations never match fuzzily: "这是我们的责任" is not "不是我们的责任", "I do know" is not "I don't know".
NEGATIONS = frozenset({"bu", "mei", "bie", "not", "no", "dont", "didnt", "doesnt", "never", "cant",
                       "cannot", "wont", "isnt", "arent", "wasnt", "havent", "nothing", "nobody"})
# Words that carry grammar, not content (normalised tokens: English words without apostrophes, Mandarin
# characters). The content-word guard and restatement look past them.
FUNCTION_WORDS = frozenset("""
a an the and or but if so then than that this these those there here it its is are was were be been being am
do does did doing have has had having will would shall should can could may might must i me my mine we us our
ours you your yours he him his she her hers they them their theirs what which who whom whose when where why how
to of in on at by for with from up down out over under again further once about into through during before after
above below off just also very too only own same such more most other some any each few all both no not nor
im ive id ill youre youve youd youll hes shes its were theyre theyve weve thats whats theres lets dont doesnt didnt
cant cannot wont isnt arent wasnt werent havent hasnt hadnt wouldnt shouldnt couldnt oh um uh er ah okay ok yeah yes
well right sure please thank thanks sir madam mr mrs ms miss like get got go going gonna want really actually
的 了 吗 呢 吧 啊 呀 哦 嗯 呃 么 嘛 哈 啦 是 在 有 和 与 及 或 也 都 就 还 又 再 才 很 太 更 最 不 没 别 这 那 哪 此 些 个 们 我 你 您 他 她 它
将 把 被 让 给 对 向 从 到 于 为 以 而 且 但 却 如 若 要 会 能 可 以 之 其 所 得 地 着 过 一 下 上 里 中 好 请 谢
""".split())



_codes: dict[str, str] = {}


def _code(s: str) -> str:
    """One private-use character per distinct surface/key, so token sequences are plain strings."""
    c = _codes.get(s)
    if c is None:
        c = _codes[s] = chr(0xF0000 + len(_codes))
    return c


# English sound key: Metaphone (jellyfish), used by the fuzzy tier's near matches of phrases of at least
# PHONETIC_MIN_WORDS words, scored as the better of spelling and sound. One- and two-word phrases never
# match by sound: "calm down" / "come down", "no idea" / "know a…" are ordinary English.
PHONETIC_MIN_WORDS = 3


# Which kinds of rule use the sound key by default (measured with `qa eval rules`, see README).
PHONETIC_KINDS: dict[str, bool] = {"banned_phrase": False, "escalation": False, "cue": False, "script_step": False}


def normalize_tokens(text: str, simplified: bool = False, mandarin: bool = False) -> list[str]:
    """Normalised tokens of a text: Mandarin characters and English words (apostrophes dropped).
    ``simplified``: the text is already Simplified Chinese (skips OpenCC, the slow part).
    ``mandarin``: the text is part of Mandarin speech, so digits are read as Chinese even when this
    piece holds no character (Whisper writes 您好 as "0号" in two words: "0" alone is still 零)."""
    text = text.replace("'", "").replace("’", "")
    if simplified:
        text = strip_punctuation(half_width(text).lower())
    else:
        text = normalize_for_match(text)
    if mandarin or has_cjk(text):
        text = digits_to_zh(text)
    return _TOKEN.findall(text)


@contextmanager
def sound_keys(on: bool = True) -> Iterator[None]:
    """Within: the sound keys that are off by default are on (aspiration fold for Mandarin, Metaphone for
    every kind of English rule), for measuring them (`qa eval rules`, variant ``sound``). Not thread-safe."""
    saved = (phonetics.ASPIRATION_FOLD, dict(PHONETIC_KINDS))

    def apply(aspiration: bool, kinds: dict[str, bool]) -> None:
        phonetics.ASPIRATION_FOLD = aspiration
        PHONETIC_KINDS.update(kinds)
        folded_pinyin.cache_clear()
        compile_phrase.cache_clear()

    apply(on, {k: on for k in PHONETIC_KINDS})
    try:
        yield
    finally:
        apply(*saved)


@dataclass
class Token:
    surface: str
    key: str
    start: float
    end: float
    sentence_end: bool = False
    clause_end: bool = False


@dataclass
class Stream:
    """One speaker's tokens over the call, as surface codes, sound codes and normalised text."""

    speaker: str
    tokens: list[Token]
    surf: str = ""
    keys: str = ""
    text: str = ""
    offsets: list[int] = field(default_factory=list)
    letters: str = ""  # sound keys spelled out, one space after each token (the fuzzy tier aligns these)
    letter_offsets: list[int] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)  # display text of each token with its separator
    protected: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end token, name) heard

    def __post_init__(self) -> None:
        pos = 0
        for t in self.tokens:
            self.letter_offsets.append(pos)
            pos += len(t.key) + 1
        self.letter_offsets.append(pos)
        self.letters = "".join(t.key + " " for t in self.tokens)
        self.surf = "".join(BOUNDARY if t.surface == BOUNDARY else _code(t.surface) for t in self.tokens)
        self.keys = "".join(BOUNDARY if t.surface == BOUNDARY else _code(t.key) for t in self.tokens)
        parts, pos, prev = [], 0, ""
        for t in self.tokens:
            sep = "" if not parts or (_CJK_CHAR.fullmatch(t.surface) and _CJK_CHAR.fullmatch(prev)) else " "
            if t.surface == BOUNDARY or prev == BOUNDARY:
                sep = "\n" if t.surface == BOUNDARY else ""
            piece = "" if t.surface == BOUNDARY else t.surface
            pos += len(sep)
            self.offsets.append(pos)
            parts.append(sep + piece)
            self.pieces.append(" … " if t.surface == BOUNDARY else sep + piece)
            pos += len(piece)
            prev = t.surface
        self.text = "".join(parts)

    def display(self, i: int, j: int) -> str:
        return "".join(self.pieces[max(0, i) : j]).strip(" …")

    def token_at(self, char_offset: int) -> int:
        return max(0, bisect_right(self.offsets, char_offset) - 1)


def _ends_sentence(word: str) -> bool:
    word = word.strip()
    return word.endswith(SENTENCE_END) and not _ABBREVIATION.fullmatch(word.strip("\"'()[]"))


def _segment_tokens(seg: Segment) -> list[Token]:
    words = seg.words or [Word(seg.start, seg.end, seg.text, 1.0)]
    surfaces: list[str] = []
    times: list[tuple[float, float]] = []
    ends: list[bool] = []
    clauses: list[bool] = []
    texts = [w.text.replace("\x1f", " ") for w in words]
    simplified = to_simplified("\x1f".join(texts)).split("\x1f")  # one OpenCC call per segment
    if len(simplified) != len(texts):
        simplified = [to_simplified(t) for t in texts]
    word_spans: list[tuple[int, int]] = []
    mandarin = has_cjk(seg.text)
    for w, text in zip(words, simplified):
        toks = normalize_tokens(text, simplified=True, mandarin=mandarin)
        if toks:
            word_spans.append((len(surfaces), len(surfaces) + len(toks)))
        if not toks:
            if surfaces and w.text.strip().endswith(SENTENCE_END):
                ends[-1] = True
            if surfaces and w.text.strip().endswith(CLAUSE_END):
                clauses[-1] = True
            continue
        if times and w.start - times[-1][1] >= CLAUSE_PAUSE:
            clauses[-1] = True
        step = (w.end - w.start) / len(toks)
        for k, tok in enumerate(toks):
            surfaces.append(tok)
            times.append((w.start + k * step, w.start + (k + 1) * step))
            ends.append(False)
            clauses.append(False)
        ends[-1] = _ends_sentence(w.text)
        clauses[-1] = ends[-1] or w.text.strip().endswith(CLAUSE_END[len(SENTENCE_END):])
    if clauses:
        clauses[-1] = True
    keys = [key for w0, w1 in word_spans for key in token_keys(surfaces[w0:w1])]  # pinyin per word: cached
    return [Token(s, k, round(a, 3), round(b, 3), e, c)
            for s, k, (a, b), e, c in zip(surfaces, keys, times, ends, clauses)]


def build_streams(transcript: Transcript, vocabulary: Sequence[str] = ()) -> dict[str, Stream]:
    """One stream per speaker; distant segments are separated by a boundary token. ``vocabulary``: the
    protected words of the transcript's language."""
    by_speaker: dict[str, list[Token]] = {}
    last_end: dict[str, float] = {}
    for seg in sorted(transcript.segments, key=lambda s: (s.start, s.end)):
        toks = _segment_tokens(seg)
        if not toks:
            continue
        stream = by_speaker.setdefault(seg.speaker, [])
        if stream and seg.start - last_end[seg.speaker] > MAX_JOIN_GAP:
            stream.append(Token(BOUNDARY, BOUNDARY, seg.start, seg.start, True, True))
        elif stream:
            stream[-1].sentence_end = True  # a segment end is a sentence end for the semantic tier
        stream.extend(toks)
        last_end[seg.speaker] = seg.end
    streams = {spk: Stream(spk, toks) for spk, toks in by_speaker.items()}
    names = protected_names(tuple(vocabulary))
    for stream in streams.values():
        stream.protected = find_protected(stream.tokens, names)
    return streams


@lru_cache(maxsize=64)
def protected_names(vocabulary: tuple[str, ...]) -> dict[str, list[str]]:
    """Each name's normalised tokens joined without spaces, by its first character (the candidates a token
    may start)."""
    out: dict[str, list[str]] = {}
    for term in vocabulary:
        joined = "".join(normalize_tokens(term))
        if joined and joined not in out.get(joined[0], []):
            out.setdefault(joined[0], []).append(joined)
    return out


def find_protected(tokens: list[Token], names: dict[str, list[str]]) -> list[tuple[int, int, str]]:
    """(start, end, name) of every name heard: consecutive tokens that spell it, however Whisper spaced it."""
    found = []
    for i, tok in enumerate(tokens):
        for name in names.get(tok.surface[:1], ()):
            spelled, j = "", i
            while j < len(tokens) and tokens[j].surface != BOUNDARY and len(spelled) < len(name):
                spelled += tokens[j].surface
                j += 1
                if not (name.startswith(spelled) or spelled.startswith(name)):
                    break
            # An English name may end inside its last word: "ShopKart's" (apostrophes dropped), "IronWorks".
            if spelled == name or (name.isascii() and spelled.startswith(name) and len(spelled) - len(name) <= 2):
                found.append((i, j, name))
    return found


def respects_names(mt: Match, stream: Stream) -> bool:
    """Whether a match leaves the protected names heard in the stream whole: it touches none, or it covers a
    name that its own phrase spells (a greeting that says the company's name)."""
    for a, b, name in stream.protected:
        if mt.start < b and a < mt.end and not (
                mt.start <= a and b <= mt.end and (mt.tier == "regex" or name in "".join(normalize_tokens(mt.phrase)))):
            return False
    return True


@dataclass
class Phrase:
    text: str
    surf: str
    keys: str
    pieces: list[tuple[int, str]]  # (offset, sound codes) for candidate search
    key_list: list[str]
    letters: str
    negations: tuple[str, ...]
    fine_pieces: list[tuple[int, str]]  # single-token pieces (English), used when no piece occurs
    sound: str = ""  # Metaphone keys spelled out (English phrases of PHONETIC_MIN_WORDS words or more)
    min_near: int = 3  # MIN_NEAR_TOKENS of the phrase's language
    content: tuple[str, ...] = ()  # sound keys of its content words (not FUNCTION_WORDS)


@lru_cache(maxsize=20000)
def compile_phrase(text: str, threshold: float = 0.8) -> Phrase | None:
    tokens = normalize_tokens(text)
    if not tokens:
        return None
    keys = token_keys(tokens)
    m = len(tokens)
    surf = "".join(_code(t) for t in tokens)
    key_codes = "".join(_code(k) for k in keys)
    # Candidates come from exact hits of pieces: with k token edits one of k+1 pieces is intact.
    # Pieces of two tokens are rare in a transcript (few candidates to verify); single tokens survive
    # more edits and are the fallback when no two-token piece occurs at all. A lone pinyin syllable
    # is too common to be a piece except in 3-syllable phrases.
    def split(n: int) -> list[tuple[int, str]]:
        bounds = [round(i * m / n) for i in range(n + 1)]
        return [(a, key_codes[a:b]) for a, b in zip(bounds, bounds[1:])]

    pieces = split(m // 2) if m >= 4 else split(m) if m == 3 else split(1)
    fine = split(m) if m >= 4 and not has_cjk(text) else []
    letters = "".join(k + " " for k in keys)
    sound = sound_letters(keys) if m >= PHONETIC_MIN_WORDS and not has_cjk(text) else ""
    content = tuple(k for tok, k in zip(tokens, keys) if tok not in FUNCTION_WORDS)
    return Phrase(text, surf, key_codes, pieces, keys, letters, tuple(sorted(k for k in keys if k in NEGATIONS)),
                  fine, sound, MIN_NEAR_TOKENS["zh" if has_cjk(text) else "en"], content)


def _find_all(haystack: str, needle: str) -> list[int]:
    out, pos = [], haystack.find(needle)
    while pos >= 0:
        out.append(pos)
        pos = haystack.find(needle, pos + 1)
    return out


@dataclass
class Match:
    start: int  # token index
    end: int  # token index, exclusive
    confidence: float
    tier: str
    phrase: str


# Near matches (sounds with edits) of rules need phrases of this many tokens; shorter ones match only as
# homophones (the same sound keys). A Mandarin token is a syllable, and a three-syllable phrase one syllable
# off is too often an everyday word (不足道 ~ 不知道, 差什么 ~ 吵什么): over 120k characters of random
# dictionary words the fuzzy hits drop from 34 to 7 with 4 (scripts/rules_false_alarms.py), and no labelled
# event of the sample calls was found that way. An English token is a word and its edits are scored on
# letters, so a near match of three words is an inflection or a spelling slip ("not my problems"); with the
# Metaphone key it would not be ("i dont hear" ~ "i dont care" on phone_en), which is one reason that key is off.
MIN_NEAR_TOKENS = {"zh": 4, "en": 3}


def find_phrase(phrase: Phrase, stream: Stream, tier: str, threshold: float, min_sound: int = 3,
                phonetic: bool = False, min_near: int | None = None, content_guard: bool = False) -> list[Match]:
    """Every occurrence of one phrase in a stream, by the given tier (and the tiers below it).

    Phrases shorter than ``min_sound`` tokens match by their written form only: one or two syllables
    have too many homophones (该死 ~ 盖是) to accuse an agent on their sound; script steps, which give
    credit rather than blame, use 2 (您好 heard as 零号). ``phonetic``: English near matches also score
    the Metaphone keys (phrases of PHONETIC_MIN_WORDS words or more) and keep the better score."""
    m = len(phrase.surf)
    out: dict[int, Match] = {}
    for i in _find_all(stream.surf, phrase.surf):
        out[i] = Match(i, i + m, 1.0, "exact", phrase.text)
    if TIER_RANK[tier] < TIER_RANK["fuzzy"] or m < max(2, min_sound):
        return list(out.values())
    for i in _find_all(stream.keys, phrase.keys):
        if i not in out:
            out[i] = Match(i, i + m, 0.95, "fuzzy", phrase.text)  # homophone
    if len(phrase.pieces) < 2 or threshold >= 1.0 or m < (phrase.min_near if min_near is None else min_near):
        return list(out.values())
    # Near matches: around each exact hit of a piece, align the phrase's spelled-out sounds with the
    # stream's (rapidfuzz partial_ratio: Indel similarity of the best-matching substring).
    covered = set()
    for mt in out.values():
        covered.update(range(mt.start, mt.end))
    slack = max(1, m // 3)
    tried: set[int] = set()
    n_tokens = len(stream.tokens)
    cutoff = threshold * 100
    # With k token edits at least n-k pieces are intact, so any k+1 pieces hold an intact one:
    # search only the k+1 rarest in this stream (common words such as "you" produce no candidates).
    k = max(1, math.ceil(m * (1.0 - threshold) - 1e-9))
    # A piece found nowhere is broken in every candidate and uses up one of the k edits.
    counted = sorted((stream.keys.count(p[1]), p) for p in phrase.pieces)
    if not any(n for n, _ in counted) and phrase.fine_pieces:
        counted = sorted((stream.keys.count(p[1]), p) for p in phrase.fine_pieces)
    absent = sum(1 for n, _ in counted if not n)
    # A piece as common as "i" or "的" (over 1 % of the stream) is no anchor: if only such pieces are
    # left, the near match would rest on stop words alone and is not looked for.
    common = max(20, len(stream.tokens) // 100)
    pieces = [p for n, p in counted if 0 < n <= common][: max(1, k + 1 - absent)]
    sound = phonetic and bool(phrase.sound)

    def similarity(x: int, y: int) -> float:
        spelled = fuzz.ratio(phrase.letters, stream.letters[stream.letter_offsets[x] : stream.letter_offsets[y]])
        if not sound:
            return spelled
        return max(spelled, fuzz.ratio(phrase.sound, sound_letters([t.key for t in stream.tokens[x:y]])))

    for offset, piece in pieces:
        for pos in _find_all(stream.keys, piece):
            guess = pos - offset
            if guess in tried or guess in covered:
                continue
            tried.add(guess)
            lo, hi = max(0, guess - slack), min(n_tokens, guess + m + slack)
            lo = max(lo, stream.keys.rfind(BOUNDARY, lo, pos) + 1)  # stay between long pauses
            cut = stream.keys.find(BOUNDARY, pos, hi)
            hi = hi if cut < 0 else cut
            base = stream.letter_offsets[lo]
            window = stream.letters[base : stream.letter_offsets[hi]]
            al = fuzz.partial_ratio_alignment(phrase.letters, window, score_cutoff=0 if sound else cutoff)
            if al is None:
                continue
            first, last = al.dest_start, max(al.dest_start, al.dest_end - 1)
            while first < last and window[first] == " ":
                first += 1
            while last > first and window[last] == " ":
                last -= 1
            a = bisect_right(stream.letter_offsets, base + first) - 1
            b = min(max(bisect_right(stream.letter_offsets, base + last), a + 1), hi)
            # partial_ratio aligns a window as long as the phrase (and the shorter string inside the
            # longer): score whole-token spans around it and keep the best.
            spans = [(x, y) for x in (a, a + 1) for y in (b - 1, b)
                     if y > x and BOUNDARY not in stream.keys[x:y]]  # never across a long pause
            if not spans:
                continue
            score, a, b = max((similarity(x, y), x, y) for x, y in spans)
            if score < cutoff or b - a < m - m // 4 or any(k in covered for k in range(a, b)):
                continue  # (a whole word or syllable may go missing only from phrases of 4 and more)
            span_keys = [stream.tokens[k].key for k in range(a, b)]
            if tuple(sorted(k for k in span_keys if k in NEGATIONS)) != phrase.negations:
                continue  # a negation must be heard as in the phrase
            if content_guard and not _same_content(phrase.content, span_keys):
                continue  # near in sound but not in what it is about ("how much do you want to pay" ~ "... earn")
            covered.update(range(a, b))
            out[a] = Match(a, b, round(score / 100 * 0.95, 3), "fuzzy", phrase.text)
    return list(out.values())


def _same_content(content: tuple[str, ...], span_keys: list[str]) -> bool:
    """Every content word of the phrase is heard in the span: by its sound key (Mandarin pinyin), or for an
    English word also as an inflection of it (problem / problems, charge / charged)."""
    keys = set(span_keys)
    return all(k in keys or (k.isascii() and any(fuzz.ratio(k, s) >= 80 for s in keys)) for k in content)


def find_any(phrases: list[str], patterns: list[str], stream: Stream, tier: str, threshold: float,
             min_sound: int = 3, phonetic: bool = False, min_near: int | None = None,
             content_guard: bool = False) -> list[Match]:
    matches: list[Match] = []
    for text in phrases:
        phrase = compile_phrase(text, threshold)
        if phrase is not None:
            matches += find_phrase(phrase, stream, tier, threshold, min_sound, phonetic, min_near, content_guard)
    if TIER_RANK[tier] >= TIER_RANK["regex"]:
        for pattern in patterns:
            for mo in _regex(pattern).finditer(stream.text):
                if mo.end() > mo.start():
                    a, b = stream.token_at(mo.start()), stream.token_at(mo.end() - 1) + 1
                    matches.append(Match(a, b, 1.0, "regex", pattern))
    return matches


@lru_cache(maxsize=5000)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def merge_matches(matches: list[Match]) -> list[Match]:
    """Overlapping matches of one rule become one, keeping the most confident."""
    out: list[Match] = []
    for mt in sorted(matches, key=lambda x: (x.start, -x.confidence)):
        if out and mt.start < out[-1].end:
            last = out[-1]
            best = last if last.confidence >= mt.confidence else mt
            out[-1] = Match(last.start, max(last.end, mt.end), best.confidence, best.tier, best.phrase)
        else:
            out.append(mt)
    return out


def _excepted(mt: Match, exceptions: list[Match], window: int) -> bool:
    return any(ex.start < mt.end + window and mt.start - window < ex.end for ex in exceptions)


def streams_for(streams: dict[str, Stream], speaker: str) -> list[tuple[Stream, bool]]:
    """Streams a rule of this speaker scope reads; (stream, speaker_assumed) — mono calls have 'unknown'."""
    if speaker == "any":
        return [(s, False) for s in streams.values()]
    out = [(streams[speaker], False)] if speaker in streams else []
    if "unknown" in streams:
        out.append((streams["unknown"], True))
    return out


def rule_matches(rule: Rule | Cue, stream: Stream, max_tier: str = "semantic", semantic: list[Match] = ()) -> list[Match]:
    """The rule's lexical matches in the stream, with ``semantic`` ones (sentences the semantic tier gave the
    rule) merged in; the rule's exceptions apply to both."""
    tier = rule.tier if TIER_RANK[rule.tier] <= TIER_RANK[max_tier] else max_tier
    patterns = getattr(rule, "patterns", [])
    phonetic = PHONETIC_KINDS.get(getattr(rule, "kind", "cue"), False)
    # Blame needs the content words heard: a near match on function words alone is no evidence against an agent.
    lexical = find_any(rule.phrases, patterns, stream, tier, rule.threshold, phonetic=phonetic,
                       content_guard=getattr(rule, "kind", "") == "banned_phrase")
    if stream.protected:
        lexical = [mt for mt in lexical if respects_names(mt, stream)]
    # A sentence already matched by its words keeps that (more exact) match.
    semantic = [s for s in semantic if not any(m.start < s.end and s.start < m.end for m in lexical)]
    matches = merge_matches(lexical + list(semantic))
    if getattr(rule, "standalone", False):
        matches = [mt for mt in matches if mt.tier == "semantic" or not _clause_goes_on(stream, mt.end)]
    if getattr(rule, "kind", "") == "banned_phrase":
        matches = [mt for mt in matches if mt.tier == "semantic" or not _negated_before(stream, mt)]
    exceptions = getattr(rule, "exceptions", [])
    if matches and exceptions:
        # Exceptions often extend the banned phrase by a word (不知道您): they must be heard nearly whole.
        ex = find_any(exceptions, [], stream, tier, max(rule.threshold, 0.95))
        matches = [mt for mt in matches if not _excepted(mt, ex, getattr(rule, "exception_window", 8))]
    return matches


# Between a negation and the phrase it denies: "I'm not ever going to hang up", "我不会挂你电话".
_NEGATION_BRIDGE = frozenset({"ever", "really", "just", "even", "actually", "gonna", "hui", "yao", "neng",
                              "xiang", "gan", "yong", "shi"})


def _negated_before(stream: Stream, mt: Match) -> bool:
    """Whether a phrase heard without a negation is denied by one just before it: "I'm not going to hang
    up on you" reassures, "going to hang up" threatens. Only the word before (or the one before a bridging
    word such as 会 / ever), so that "if you don't stop, I'll hang up" still counts."""
    if any(stream.tokens[k].key in NEGATIONS for k in range(mt.start, mt.end)):
        return False  # the phrase carries its own negation, matched as written
    k = mt.start - 1
    if k >= 0 and stream.tokens[k].key in _NEGATION_BRIDGE and not stream.tokens[k].clause_end:
        k -= 1
    return k >= 0 and stream.tokens[k].key in NEGATIONS and not stream.tokens[k].clause_end


def _clause_goes_on(stream: Stream, end: int) -> bool:
    """Whether words with content follow token ``end - 1`` in its clause."""
    rest: list[str] = []
    if not stream.tokens[end - 1].clause_end:
        for tok in stream.tokens[end:]:
            if tok.surface == BOUNDARY:
                break
            rest.append(tok.surface)
            if tok.clause_end:
                break
    return bool(content_units(rest))


def content_units(tokens: list[str]) -> set[str]:
    """What a sentence is about: English words other than function words; Mandarin pairs of adjacent
    characters neither of which is a function character (single characters are too common to say anything)."""
    if any(has_cjk(t) for t in tokens):
        keep = [t if t not in FUNCTION_WORDS else None for t in tokens]
        return {a + b for a, b in zip(keep, keep[1:]) if a and b and has_cjk(a) and has_cjk(b)} | {
            w for w in keep if w and not has_cjk(w) and len(w) > 1}
    return {t for t in tokens if t not in FUNCTION_WORDS}


def sentences(stream: Stream) -> list[tuple[int, int]]:
    """Token spans of the stream's sentences (split at sentence ends, segment joins and boundaries)."""
    spans, start = [], 0
    for i, tok in enumerate(stream.tokens):
        if tok.surface == BOUNDARY:
            if i > start:
                spans.append((start, i))
            start = i + 1
        elif tok.sentence_end:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(stream.tokens):
        spans.append((start, len(stream.tokens)))
    return spans
