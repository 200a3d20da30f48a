"""The banned-phrase and escalation stage: every rule of the pack over each speaker's stream, as findings."""

from __future__ import annotations

from qa_pipeline.base.textnorm import has_cjk
from qa_pipeline.contracts import Call, Finding, PhraseMatch, Transcript
from qa_pipeline.stages.rules.intents import CallIntents, call_intents
from qa_pipeline.stages.rules.matcher import Match, Stream, build_streams, rule_matches, streams_for
from qa_pipeline.stages.rules.pack import TIER_RANK, RulePack


def to_finding(call_id: str, kind: str, rule_id: str, version: str, stream: Stream, mt: Match,
               severity: str, assumed: bool, category: str, auto_fail: bool) -> Finding:
    a, b = stream.tokens[mt.start], stream.tokens[mt.end - 1]
    context = 6 if has_cjk(a.surface) else 4
    return Finding(
        call_id=call_id,
        kind=kind,
        rule_id=rule_id,
        rule_version=version,
        speaker=stream.speaker,  # type: ignore[arg-type]
        start=a.start,
        end=b.end,
        evidence=stream.display(mt.start - context, mt.end + context),
        confidence=round(mt.confidence * (0.6 if assumed else 1.0), 3),
        severity=severity,
        details=PhraseMatch(category=category, matched=stream.display(mt.start, mt.end), phrase=mt.phrase,
                            tier=mt.tier, auto_fail=auto_fail, speaker_assumed=assumed),
    )


def detect_phrases(transcript: Transcript, call: Call, pack: RulePack, max_tier: str = "semantic",
                   kinds: tuple[str, ...] = ("banned_phrase", "escalation"),
                   streams: dict[str, Stream] | None = None, intents: CallIntents | None = None) -> list[Finding]:
    """Findings (kinds ``banned_phrase`` and ``escalation``) for every rule of the pack.

    ``max_tier`` caps the tiers used (the evaluation compares exact-only with fuzzy). ``streams`` and
    ``intents``: the transcript's streams and classified sentences when the caller has them already (the
    script check reads the same ones).
    """
    streams = streams if streams is not None else build_streams(transcript)
    semantic = TIER_RANK[max_tier] >= TIER_RANK["semantic"]
    if semantic and intents is None:
        intents = call_intents(transcript, streams, pack)
    findings: list[Finding] = []
    for rule in pack.rules.values():
        if rule.kind not in kinds:
            continue
        by_meaning: dict[str, list[Match]] = {}
        if semantic and intents is not None:
            for speaker, s in intents.hits(rule.id, "agent" if rule.kind == "banned_phrase" else "caller"):
                by_meaning.setdefault(speaker, []).append(Match(s.start, s.end, s.hit.score, "semantic", s.hit.nearest))
        for stream, assumed in streams_for(streams, rule.speaker):
            for mt in rule_matches(rule, stream, max_tier, by_meaning.get(stream.speaker, [])):
                if rule.kind == "banned_phrase" and mt.tier != "semantic" and intents is not None \
                        and intents.excused(stream.speaker, mt.start, mt.end):
                    continue  # the words are there, but the turn around them is an honest check or allowed firmness
                findings.append(to_finding(
                    call.call_id, rule.kind, rule.id, pack.version, stream, mt, rule.severity, assumed,
                    rule.category, rule.auto_fail,
                ))
    findings.sort(key=lambda f: (f.start, f.rule_id))
    return findings
