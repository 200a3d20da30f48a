"""A pack's own examples as tests of the pack: each rule's positive examples must produce its finding and its
negative ones none; each step's positive examples must pass it and its negative ones must not (`qa rules check`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from qa_pipeline.contracts import Call, Segment, Transcript, Word
from qa_pipeline.stages.rules.matcher import normalize_tokens
from qa_pipeline.stages.rules.pack import RulePack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import evaluate_step


def word_pieces(text: str, n_tokens: int) -> list[str]:
    """``text`` cut into ``n_tokens`` word strings: Mandarin per character, other text per space-separated word."""
    if any("\u3400" <= ch <= "\u9fff" for ch in text):
        pieces, current = [], ""
        for ch in text:
            if "\u3400" <= ch <= "\u9fff" or ch.isalnum():
                if current and ("\u3400" <= ch <= "\u9fff" or not current[-1].isalnum() or "\u3400" <= current[-1] <= "\u9fff"):
                    pieces.append(current)
                    current = ""
                current += ch
            else:
                current += ch
        if current:
            pieces.append(current)
        return pieces
    return [p if i == 0 else " " + p for i, p in enumerate(text.split())]


def example_transcript(text: str, speaker: str, language: str) -> Transcript:
    """A one-segment transcript of an example sentence, 0.3 s per token, its words written as Whisper writes
    them (punctuation kept at the word it follows), for checking packs."""
    speaker = "agent" if speaker == "any" else speaker
    toks = normalize_tokens(text)
    words = [Word(round(i * 0.3, 3), round(i * 0.3 + 0.3, 3), t, 1.0) for i, t in enumerate(word_pieces(text, len(toks)))]
    end = words[-1].end if words else 0.0
    seg = Segment(speaker, 0.0, end, text, text, words=words)  # type: ignore[arg-type]
    return Transcript(language=language, model_id="example", settings={}, duration=end, segments=[seg])


@dataclass
class ExampleFailure:
    source: str
    item: str  # rule or step id
    kind: str  # positive | negative
    text: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.item}: {self.kind} example {self.text!r}: {self.message}"


def check_rule_examples(pack: RulePack) -> list[ExampleFailure]:
    """Each rule's positive examples must produce its finding; negative ones must produce none of the pack's."""
    failures: list[ExampleFailure] = []
    call = Call(call_id="example", audio_path="")
    for rule in pack.rules.values():
        for kind, texts in (("positive", rule.examples.positive), ("negative", rule.examples.negative)):
            for text in texts:
                tr = example_transcript(text, rule.speaker, pack.language)
                found = [f for f in detect_phrases(tr, call, pack) if f.rule_id == rule.id]
                if kind == "positive" and not found:
                    failures.append(ExampleFailure(rule.source, rule.id, kind, text, "no finding"))
                if kind == "negative" and found:
                    failures.append(ExampleFailure(rule.source, rule.id, kind, text,
                                                   f"matched {found[0].details.matched!r}"))
    return failures


def check_step_examples(pack: RulePack) -> list[ExampleFailure]:
    """Each step's positive examples must pass it (ignoring windows and conditions); negative ones must not."""
    failures = []
    for step in pack.steps.values():
        bare = dataclasses.replace(step, window=None, when=None, restates=False)  # an example stands alone
        for kind, texts in (("positive", step.examples.positive), ("negative", step.examples.negative)):
            for text in texts:
                result = evaluate_step(bare, example_transcript(text, step.speaker, pack.language), pack)
                if kind == "positive" and result.status != "pass":
                    failures.append(ExampleFailure(step.source, step.id, kind, text,
                                                   f"step did not pass {result.details.missing_parts or ''}"))
                if kind == "negative" and result.status == "pass":
                    failures.append(ExampleFailure(step.source, step.id, kind, text,
                                                   f"step passed on {result.evidence!r}"))
    return failures
