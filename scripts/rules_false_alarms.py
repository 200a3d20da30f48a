"""False findings of the default banned/escalation rules on text with (almost surely) none, sound keys off/on.

`qa eval rules` measures false alarms on real calls, but they hold minutes of speech; this adds volume:
- en: the English prose on this machine (/usr/share/common-licenses, the licences and whisper-tiny transcripts
  under ../shared/data), one sentence per segment;
- zh: 120k characters of random 2-4 character words from pypinyin's phrase dictionary (seeded), in 20-character
  segments (word salad: a stress test of homophone collisions, not a realistic rate).
Every rule is scoped to any speaker. Script steps: how many of their phrasings (and parts) match the same text
lexically at the rules' threshold 0.85 and at the steps' 0.80, i.e. how much looser the steps' credit is.
Usage: PYTHONPATH=$PWD python scripts/rules_false_alarms.py
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

from qa_pipeline.contracts import Call, Finding, Segment, Transcript, Word
from qa_pipeline.stages.rules.matcher import build_streams, normalize_tokens, sound_keys
from qa_pipeline.stages.rules.pack import load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import step_lexical

SHARED = Path(os.environ.get("QA_SHARED_DATA") or Path.cwd().parent / "shared" / "data")


def english_sentences() -> list[str]:
    files = sorted(Path("/usr/share/common-licenses").glob("*")) + sorted(SHARED.glob("calls_en/SILVER*.txt"))
    files += sorted(SHARED.glob("*/*LICENSE*.txt"))
    text = " ".join(f.read_text(errors="ignore") for f in files if f.is_file())
    return [s.strip() for s in re.split(r"(?<=[.!?;:])\s+|\n\s*\n", text) if s.strip()]


def mandarin_chunks(n_words: int = 40000, seed: int = 0) -> list[str]:
    from pypinyin.phrases_dict import phrases_dict

    words = sorted(w for w in phrases_dict if 2 <= len(w) <= 4)
    random.Random(seed).shuffle(words)
    text = "".join(words[:n_words])
    return [text[i : i + 20] for i in range(0, len(text), 20)]


def as_transcript(texts: list[str], language: str) -> Transcript:
    segs, t = [], 0.0
    for text in texts:
        toks = normalize_tokens(text)
        if not toks:
            continue
        words = [Word(round(t + k * 0.3, 3), round(t + (k + 1) * 0.3, 3), w, 0.9) for k, w in enumerate(toks)]
        segs.append(Segment("agent", t, words[-1].end, text, text, words=words))  # type: ignore[arg-type]
        t = words[-1].end + 4.0  # apart: no phrase spans two sentences
    return Transcript(language=language, model_id="text", settings={}, duration=t, segments=segs)


def findings(tr: Transcript, language: str) -> list[Finding]:
    pack = load_rule_pack(language=language)
    for rule in pack.rules.values():
        rule.speaker = "any"
    return detect_phrases(tr, Call(call_id="text", audio_path=""), pack)


def step_matches(tr: Transcript, language: str, threshold: float) -> dict[str, int]:
    import dataclasses

    pack = load_rule_pack(language=language)
    (stream,) = build_streams(tr).values()
    out = {}
    for step in pack.steps.values():
        whole, parts = step_lexical(dataclasses.replace(step, threshold=threshold), stream, "fuzzy")
        out[step.id] = len(whole) + sum(len(ms) for ms in parts.values())
    return out


def main() -> None:
    for language, texts in (("en", english_sentences()), ("zh", mandarin_chunks())):
        tr = as_transcript(texts, language)
        n_tokens = sum(len(s.words or []) for s in tr.segments)
        off = findings(tr, language)
        with sound_keys():
            on = findings(tr, language)
        seen = {(f.start, f.rule_id) for f in off}
        print(f"{language}: {n_tokens} tokens in {len(tr.segments)} segments: {len(off)} findings with the defaults, "
              f"{len(on)} with the sound keys on")
        for f in off:
            print(f"  default: {f.rule_id} {f.details['matched']!r} ~ {f.details['phrase']!r} ({f.details['tier']})")
        for f in on:
            if (f.start, f.rule_id) not in seen:
                print(f"  sound:   {f.rule_id} {f.details['matched']!r} ~ {f.details['phrase']!r}")
        print(f"  step phrasing matches at 0.85: {step_matches(tr, language, 0.85)}")
        print(f"  step phrasing matches at 0.80: {step_matches(tr, language, 0.80)}")


if __name__ == "__main__":
    main()
