"""Scoring rules of `qa eval asr` (cheap: no model runs)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.eval.asr import count_errors, find_references
from tests.conftest import shared


def test_normalisation_before_scoring() -> None:
    assert count_errors("一二线城市的房价", "12线城市的房价。", "zh") == (0, 8)
    assert count_errors("廣州市房地產", "广州市房地产", "zh") == (0, 6)
    assert count_errors("english one two three"[8:], "1, 2, 3.", "en") == (0, 1)
    assert count_errors("Ask not what your country can do for you", "ask not what your country can do for you!", "en") == (0, 9)
    assert count_errors("ten of clubs", "10 of clothes.", "en") == (1, 3)


def test_references_found_in_shared_data() -> None:
    refs = {r.id: r for r in find_references(shared())}
    assert {"phone_en/sample", "asr_en/jfk", "asr_en/stereo_diarization"} <= set(refs)
    assert len(refs["asr_en/stereo_diarization"].channel_texts) == 2
    assert sum(r.language == "zh" for r in refs.values()) >= 2
    assert all(r.path.exists() for r in refs.values())


def test_eval_skips_cleanly_without_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "asr", "--data", str(tmp_path / "absent")])
    assert result.exit_code == 0 and "skipped" in result.output


def test_sample_references_follow_the_file_channels_and_stay_apart() -> None:
    from qa_pipeline.config import TranscribeOptions
    from qa_pipeline.eval.asr import EvalReport, sample_references, score_clip
    from tests.conftest import SAMPLES

    refs = {r.id: r for r in sample_references(SAMPLES)}
    assert "samples/real_auto_repairs_40" not in refs and all(r.synthetic for r in refs.values())
    assert len(refs["samples/zh_missing_greeting_mono"].channel_texts) == 1
    activation = refs["samples/zh_compliant_activation"]  # agent on the file's second channel
    assert activation.channel_texts[1].startswith("您好")
    assert not activation.channel_texts[0].startswith("您好")

    report = EvalReport(clips=[score_clip(refs["samples/en_compliant_address"], TranscribeOptions(), "default")])
    assert report.aggregate("default", "en") is None  # never mixed into the real-audio rows
    synthetic = report.aggregate("default", "en", synthetic=True)
    assert synthetic is not None and synthetic < 0.5


def test_a_peer_is_scored_per_channel_or_as_a_mono_mix_in_the_order_spoken() -> None:
    """One text per channel is scored against each channel's script; a mono mix against the words of both
    speakers in time order (not agent-then-caller, which would charge a mix for interleaving the turns)."""
    from qa_pipeline.eval.asr import Reference
    from qa_pipeline.eval.peers import score

    ref = Reference("x", Path("x.wav"), "en", ["hello how can I help", "my card is lost"],
                    timed_text="hello my card is lost how can I help")
    assert score(ref, ["hello how can I help", "my card is lost"]) == (0, 9)
    assert score(ref, ["hello my card is lost how can I help"]) == (0, 9)
    assert score(ref, ["hello how can I help my card is lost"])[0] > 0
    untimed = Reference("y", Path("y.wav"), "en", ["ask not what your country can do"])
    assert score(untimed, ["ask not what your country can do"]) == (0, 7)


def test_texts_of_audio_loaded_agent_first_are_scored_against_the_files_channels() -> None:
    # The nightly loads a call with its manifest's agent_channel, so its transcript (and a peer's per-channel
    # texts) come agent first; the reference keeps the file's channel order. Scored unswapped, a call whose
    # agent is on channel 1 counts every character as wrong (the sample Mandarin CER doubled).
    from qa_pipeline.eval.asr import in_file_order, sample_references
    from qa_pipeline.eval.peers import score
    from tests.conftest import SAMPLES

    activation = {r.id: r for r in sample_references(SAMPLES)}["samples/zh_compliant_activation"]
    agent_first = [activation.channel_texts[1], activation.channel_texts[0]]
    errors, length = score(activation, in_file_order(agent_first, 1))
    assert errors == 0 and length > 100
    assert score(activation, agent_first)[0] > length / 2
    assert in_file_order(["only"], 1) == ["only"] and in_file_order(["a", "b"], 0) == ["a", "b"]
