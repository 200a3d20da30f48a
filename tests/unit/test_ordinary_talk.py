"""Ordinary talk is not a banned remark: the everyday-sentence veto of the semantic tier, phrases that count
only where they end their clause, and the false-alarm evaluation that measures both (no Whisper).

The everyday sentences below were written for this test, not drawn from the packaged background."""

from __future__ import annotations

import pytest

from qa_pipeline.contracts import Call, Segment, Transcript, Word
from qa_pipeline.eval.false_alarms import text_false_alarms
from qa_pipeline.stages.rules import intents
from qa_pipeline.stages.rules.examples import word_pieces
from qa_pipeline.stages.rules.matcher import build_streams, normalize_tokens
from qa_pipeline.stages.rules.pack import load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases

CALL = Call(call_id="t", audio_path="")


@pytest.fixture(scope="module")
def packs():
    return {lang: load_rule_pack(language=lang) for lang in ("zh", "en")}


def said(language: str, *lines: str, pause: float = 0.0) -> Transcript:
    """The agent saying ``lines`` one after another, 0.3 s a word, ``pause`` seconds of silence between lines."""
    segments, t = [], 0.0
    for text in lines:
        pieces = word_pieces(text, len(normalize_tokens(text)))
        words = [Word(round(t + i * 0.3, 3), round(t + (i + 1) * 0.3, 3), p, 0.9) for i, p in enumerate(pieces)]
        segments.append(Segment("agent", t, words[-1].end, text, text, words=words))  # type: ignore[arg-type]
        t = words[-1].end + pause
    return Transcript(language=language, model_id="test", settings={}, duration=t + 1, segments=segments)


def banned(pack, tr: Transcript) -> list[str]:
    return [f.rule_id for f in detect_phrases(tr, CALL, pack) if f.kind == "banned_phrase"]


EVERYDAY = {
    "zh": ["明天早上我们一起去公园跑步吧。", "这家饭馆的面条特别好吃。", "我弟弟下个月就要上大学了。",
           "下雨了，记得带伞。", "他每天晚上都看一个小时的书。", "周末你打算做什么？"],
    "en": ["We should go for a walk in the park tomorrow morning.", "This restaurant makes the best noodles in town.",
           "My brother starts college next month.", "It's raining, so take an umbrella.",
           "He reads for an hour every night before bed.", "What are you doing this weekend?"],
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_everyday_sentences_are_not_banned_remarks(packs, language: str) -> None:
    pack = packs[language]
    for line in EVERYDAY[language]:
        assert banned(pack, said(language, line)) == [], line


def test_the_packaged_background_is_loaded_and_guards_only_banned_classes(packs) -> None:
    for pack in packs.values():
        index = intents.agent_index(pack)
        assert index.background is not None and len(index.background) >= 1000
        assert index.guarded == {r.id for r in pack.rules.values() if r.kind == "banned_phrase"}
        assert not index.guarded & {s.id for s in pack.steps.values()}  # steps give credit: never vetoed


@pytest.mark.parametrize(("language", "remark", "rule"), [
    # Reworded, so that no phrase of the pack matches: only the meaning finds them. (Not every rewording is
    # found: `qa eval rules --set utterances` measures how many, docs/evaluation.md has the numbers.)
    ("en", "That's your problem, not mine.", "en.blame_shifting"),
    ("zh", "你要是早点看说明书就不会这样了。", "zh.blame_customer"),
])
def test_a_reworded_remark_is_still_found_by_its_meaning(packs, language: str, remark: str, rule: str) -> None:
    found = [(f.rule_id, f.details.tier) for f in detect_phrases(said(language, remark), CALL, packs[language])]
    assert (rule, "semantic") in found, found


@pytest.mark.parametrize(("language", "line", "flagged"), [
    ("zh", "这个我不知道。", True),
    ("zh", "我不知道。", True),
    ("zh", "我不知道他是日本人。", False),  # what the speaker does not know: a fact, not a refusal
    ("zh", "我不知道这条路这么远。", False),
    ("en", "I don't know.", True),
    ("en", "I don't know, sir.", True),  # words of no content may follow
    ("en", "I don't know who named this dog.", False),
    ("en", "I had no idea the museum was so big.", False),
])
def test_standalone_phrases_count_only_where_they_end_the_clause(packs, language: str, line: str,
                                                                 flagged: bool) -> None:
    pack = packs[language]
    rule = f"{language}.dont_know"
    assert pack.rules[rule].standalone
    assert (rule in banned(pack, said(language, line))) is flagged, line


def test_a_pause_ends_a_clause_where_no_comma_was_written(packs) -> None:
    en = packs["en"]
    # Whisper often writes no comma; half a second of silence after "I don't know" ends the clause.
    assert "en.dont_know" in banned(en, said("en", "I don't know", "the system just does that", pause=0.8))
    tokens = build_streams(said("en", "I don't know", "the system", pause=0.8))["agent"].tokens
    assert [t.surface for t in tokens if t.clause_end] == ["know", "system"]


def test_abbreviations_end_no_sentence() -> None:
    tokens = build_streams(said("en", "The office opens at 8 a.m. on Monday. Dr. Lee is in."))["agent"].tokens
    assert [t.surface for t in tokens if t.sentence_end] == ["monday", "in"]


def test_false_alarm_eval_counts_findings_per_ten_thousand_sentences(packs) -> None:
    en = packs["en"]
    sentences = EVERYDAY["en"] + ["That's not my problem, call somebody else."]
    report = text_false_alarms(sentences, en, "written-for-this-test")
    assert report["sentences"] == len(sentences)
    assert report["findings"] >= 1 and report["by_rule"]  # the rude line is found ...
    assert all(ex["said"] != s for ex in report["examples"] for s in EVERYDAY["en"])  # ... the everyday ones not
    assert report["per_10k_sentences"] == round(10000 * report["findings"] / len(sentences), 2)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_cached_classifier_gives_sklearns_probabilities(packs, tmp_path, monkeypatch, n_classes: int) -> None:
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    index = intents.agent_index(packs["en"])
    keep = [i for i, label in enumerate(index.labels) if label in sorted(set(index.labels))[:n_classes]]
    vectors, labels = index.vectors[keep], [index.labels[i] for i in keep]
    fresh = intents.fitted_classifier(vectors, labels)
    cached = intents.fitted_classifier(vectors, labels)  # read back from tmp_path
    assert list((tmp_path / "intent_models").iterdir())
    reference = LogisticRegression(C=intents.C, solver="newton-cg", max_iter=300,
                                   class_weight="balanced").fit(vectors, labels)
    for model in (fresh, cached):
        assert list(model.classes_) == list(reference.classes_)
        assert abs(model.predict_proba(vectors) - reference.predict_proba(vectors)).max() < 1e-5


@pytest.mark.parametrize(("language", "line", "flagged"), [
    ("en", "I'm not going to hang up on you, I'm just popping you on hold.", False),
    ("en", "It's not your fault at all.", False),
    ("en", "If you don't stop shouting I'll hang up.", True),  # the negation belongs to another clause
    ("en", "I'm going to hang up now.", True),
    ("zh", "这不是你的错。", False),
    ("zh", "你不听我就挂了。", True),
    ("zh", "你再这样我就挂了。", True),
])
def test_a_negation_just_before_a_phrase_denies_it(packs, language: str, line: str, flagged: bool) -> None:
    assert bool(banned(packs[language], said(language, line))) is flagged, line
