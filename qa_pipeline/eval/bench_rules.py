"""`qa bench rules`: how long phrase matching takes for many rules over a long transcript.

The transcript is built from the default pack's example sentences (violations, allowed sentences and
script phrasings), two speakers taking turns, one word or character per 0.25 s, for ``hours`` hours.
Timed per call: building the speaker streams (normalisation, pinyin) and matching every rule; the
one-off set-up of a process (imports, compiling the pack) is reported apart.
The rules are the defaults plus generated fuzzy rules whose phrases are 3-8 token spans of other
example sentences with one token changed.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time

from qa_pipeline.contracts import Call, Segment, Transcript, Word
from qa_pipeline.stages.rules.matcher import build_streams, normalize_tokens
from qa_pipeline.stages.rules.pack import Rule, load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases


def _sentences(pack) -> list[str]:
    out = []
    for item in [*pack.rules.values(), *pack.steps.values()]:
        out += item.examples.positive + item.examples.negative
    return out


def synthetic_transcript(sentences: list[str], hours: float, language: str, seed: int = 0) -> Transcript:
    rng = random.Random(seed)
    segments, t, turn = [], 0.0, 0
    while t < hours * 3600:
        speaker = ("agent", "caller")[turn % 2]
        words, start = [], t
        for sentence in rng.sample(sentences, k=min(3, len(sentences))):
            for tok in normalize_tokens(sentence):
                words.append(Word(round(t, 3), round(t + 0.25, 3), tok, 0.9))
                t += 0.25
        sep = "" if language == "zh" else " "
        segments.append(Segment(speaker, start, t, sep.join(w.text for w in words), words=words))  # type: ignore[arg-type]
        t += 0.5
        turn += 1
    return Transcript(language=language, model_id="bench", settings={}, duration=t, segments=segments)


def bench(n_rules: int = 500, hours: float = 1.0, language: str = "zh", seed: int = 0) -> dict:
    pack = copy.deepcopy(load_rule_pack(None, language))  # the loaded pack is shared: grow a copy
    sentences = _sentences(pack)
    rng = random.Random(seed)
    base = list(pack.rules.values())
    # Generated rules come from half of the sentences and the transcript from the other half: their
    # phrases share the conversation's words (so there are candidates to verify) but rarely occur,
    # as in a real pack; the default rules' examples do occur.
    rule_sentences, sentences = sentences[1::2], sentences[0::2]
    token_pool = [normalize_tokens(s) for s in rule_sentences]
    token_pool = [t for t in token_pool if len(t) >= 4]
    vocabulary = sorted({tok for toks in token_pool for tok in toks})
    sep = "" if language == "zh" else " "
    while len(pack.rules) < n_rules:
        template = base[len(pack.rules) % len(base)]
        phrases = []
        for _ in range(3):
            toks = rng.choice(token_pool)
            n = rng.randint(min(3, len(toks)), min(8, len(toks)))
            a = rng.randint(0, len(toks) - n)
            span = list(toks[a : a + n])
            span[rng.randrange(n)] = rng.choice(vocabulary)
            phrases.append(sep.join(span))
        rule = dataclasses.replace(template, id=f"bench.{len(pack.rules)}", phrases=phrases, patterns=[],
                                   tier="fuzzy", examples=template.examples)
        pack.rules[rule.id] = rule
    transcript = synthetic_transcript(sentences, hours, language, seed)
    call = Call(call_id="bench", audio_path="")
    # Once per process (a night's batch): imports, and compiling the pack's phrases to sound codes.
    t_setup = time.perf_counter()
    detect_phrases(synthetic_transcript(sentences, 0.01, language, seed + 1), call, pack)
    setup = time.perf_counter() - t_setup
    c0, t0 = time.process_time(), time.perf_counter()
    build_streams(transcript)
    t1 = time.perf_counter()
    findings = detect_phrases(transcript, call, pack)
    c2, t2 = time.process_time(), time.perf_counter()
    detect_phrases(transcript, call, pack)
    t3 = time.perf_counter()
    n_tokens = sum(len(s.tokens) for s in build_streams(transcript).values())
    assert all(isinstance(r, Rule) for r in pack.rules.values())
    return {
        "language": language,
        "rules": len(pack.rules),
        "transcript_hours": round(transcript.duration / 3600, 2),
        "segments": len(transcript.segments),
        "tokens": n_tokens,
        "findings": len(findings),
        "setup_once_s": round(setup, 3),
        "streams_and_pinyin_s": round(t1 - t0, 3),
        "match_s": round(t2 - t1, 3),
        "per_call_total_s": round(t2 - t0, 3),
        "per_call_cpu_s": round(c2 - c0, 3),  # CPU time: less sensitive to other processes on the machine
        "match_again_s": round(t3 - t2, 3),
    }
