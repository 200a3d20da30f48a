"""Custom vocabulary (``asr.vocabulary``): strict config, part of the transcript cache key, Whisper's hotwords, and
protected words for the rules (a name is never a banned phrase by sound, and no phrase cuts it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.base.audio import Audio
from qa_pipeline.config import TranscribeOptions, load_config
from qa_pipeline.errors import ConfigError
from qa_pipeline.stages.rules.matcher import Match, build_streams, respects_names
from qa_pipeline.stages.rules.pack import load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import check_script
from qa_pipeline.stages.transcribe import cache_key
from tests.unit.test_rules import CALL, seg, transcript


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "qa.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_vocabulary_loads_per_language(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "asr:\n  vocabulary:\n    zh: [畅联宽带, 随变]\n    en:\n      - ShopKart\n"))
    assert cfg.asr.vocabulary == {"zh": ("畅联宽带", "随变"), "en": ("ShopKart",)}
    assert cfg.asr.hotwords("zh") == "畅联宽带、随变" and cfg.asr.hotwords("en") == "ShopKart"
    assert cfg.asr.hotwords("fr") is None


@pytest.mark.parametrize("body, field, line", [
    ("asr:\n  vocabulary: [ShopKart]\n", "asr.vocabulary", 2),
    ("asr:\n  vocabulary:\n    en: ShopKart\n", "asr.vocabulary.en", 3),
    ("asr:\n  vocabulary:\n    en:\n      - ShopKart\n      - 5\n", "asr.vocabulary.en[1]", 5),
    ("asr:\n  vocabulary:\n    en:\n      - ShopKart\n      - '  '\n", "asr.vocabulary.en[1]", 5),
    ("asr:\n  vocabulary:\n    en:\n      - ShopKart\n      - shopkart\n", "asr.vocabulary.en[1]", 5),
    ("asr:\n  beam_size: 5\n  vocabulary:\n    english: [ShopKart]\n", "asr.vocabulary.english", 4),
    ("asr:\n  vocabulary:\n    zh: [" + ", ".join(f"畅联宽带{i}号" for i in range(30)) + "]\n", "asr.vocabulary.zh", 3),
])
def test_a_wrong_vocabulary_names_file_line_and_field(tmp_path: Path, body: str, field: str, line: int) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert (exc.value.field, exc.value.line) == (field, line) and str(path) in str(exc.value)


def test_a_changed_vocabulary_transcribes_again_and_none_keeps_the_old_cache() -> None:
    audio = Audio(path="x.wav", sha256="0" * 64, source_rate=8000, source_channels=1, source_format="wav",
                  duration=1.0, channels=[np.zeros(16000, dtype=np.float32)], layout="mono")
    plain = TranscribeOptions()
    assert "vocabulary" not in plain.key()  # the transcripts cached before vocabularies existed stay valid
    one = TranscribeOptions(vocabulary={"en": ("ShopKart",)})
    two = TranscribeOptions(vocabulary={"en": ("ShopKart", "IronWorks")})
    keys = {cache_key(audio, o) for o in (plain, one, two)}
    assert len(keys) == 3 and cache_key(audio, TranscribeOptions(vocabulary={"en": ()})) == cache_key(audio, plain)
    assert one.key()["vocabulary"] == {"en": ["ShopKart"]}


@pytest.mark.parametrize("language, text, name, rule", [
    # 随变 (an ice-cream brand) + 你 sounds like 随便你 (harsh): a homophone, the fuzzy tier.
    ("zh", "您好，我们新出的随变你可以在门店买到。", "随变", "zh.harsh_language"),
    # 笨蛋 (harsh, exact) inside the bakery's name: the name stays one unit.
    ("zh", "您好，笨蛋蛋糕的新品已经上架了。", "笨蛋蛋糕", "zh.harsh_language"),
    # a backup plan heard near "not my fault" (blame shifting, a near match)
    ("en", "I can put you on Not My Vault today.", "Not My Vault", "en.blame_shifting"),
    # spaced as Whisper may write it: still the name
    ("en", "I can put you on Not My Vault today.", "NotMyVault", "en.blame_shifting"),
])
def test_a_protected_name_is_no_banned_phrase(language: str, text: str, name: str, rule: str) -> None:
    pack = load_rule_pack(language=language)
    tr = transcript(language, seg("agent", 0.0, text))
    without = detect_phrases(tr, CALL, pack, streams=build_streams(tr))
    assert rule in [f.rule_id for f in without]  # the mangling this guards against
    protected = detect_phrases(tr, CALL, pack, streams=build_streams(tr, [name]))
    assert rule not in [f.rule_id for f in protected]


def test_the_banned_phrase_itself_is_still_found_beside_the_name() -> None:
    pack = load_rule_pack(language="zh")
    tr = transcript("zh", seg("agent", 0.0, "随变你自己看吧，随便你。"))
    found = detect_phrases(tr, CALL, pack, streams=build_streams(tr, ["随变"]))
    assert [f.evidence for f in found if f.rule_id == "zh.harsh_language"]


def test_a_phrase_that_spells_the_whole_name_keeps_its_match() -> None:
    stream = build_streams(transcript("en", seg("agent", 0.0, "Thank you for calling Shop Kart, this is Rohit.")),
                           ["ShopKart"])["agent"]
    (a, b, _), = stream.protected
    assert (a, b) == (4, 6)
    assert respects_names(Match(0, 6, 1.0, "exact", "thank you for calling shopkart"), stream)
    assert respects_names(Match(0, 4, 1.0, "exact", "thank you for calling"), stream)
    assert not respects_names(Match(3, 5, 0.9, "fuzzy", "calling shop"), stream)


def test_the_company_name_leaves_the_greeting_step_whole() -> None:
    pack = load_rule_pack(language="en")
    tr = transcript("en", seg("agent", 0.0, "Good morning, thank you for calling ShopKart, my name is Rohit. How may I help you?"))
    plain = {f.rule_id: f.details.status for f in check_script(tr, CALL, pack, streams=build_streams(tr))}
    named = {f.rule_id: f.details.status for f in check_script(tr, CALL, pack, streams=build_streams(tr, ["ShopKart"]))}
    assert named == plain and any("greeting" in k for k in named)


def test_the_pipeline_hands_the_call_language_s_vocabulary_to_the_rules() -> None:
    from qa_pipeline.config import QAConfig
    from qa_pipeline.contracts import Call
    from qa_pipeline.pipeline import analyze_call, versions
    from tests.conftest import SAMPLES

    tr = transcript("zh", seg("agent", 0.5, "您好，我们新出的随变你可以在门店买到。"))
    call = Call(call_id="vocabulary", audio_path=str(SAMPLES / "zh_compliant_limit.flac"))
    found, keys = {}, set()
    for vocabulary in ({}, {"en": ("随变",)}, {"zh": ("随变",)}):
        config = QAConfig(asr=TranscribeOptions(vocabulary=vocabulary))
        result = analyze_call(call, config, transcript=tr)
        found[str(vocabulary)] = [f.rule_id for f in result.findings if f.kind == "banned_phrase"]
        keys.add(versions(config)["asr"])  # a changed list counts as not yet processed
    assert found == {"{}": ["zh.harsh_language"], "{'en': ('随变',)}": ["zh.harsh_language"], "{'zh': ('随变',)}": []}
    assert len(keys) == 3
