"""Tone stage: sentiment back-ends, acoustic cues on real speech, call dynamics, emotional flags."""


from __future__ import annotations

import json

from conftest import shared


def test_qa_tone_cli_on_a_mono_clip() -> None:
    """A plain mono clip is one speaker; every segment and the call carry an agitation value."""
    from typer.testing import CliRunner

    from qa_pipeline.cli import app

    clip = shared("asr_en", "whisper_fixtures", "jfk.flac")
    result = CliRunner().invoke(app, ["tone", str(clip), "--json", "--model", "tiny.en", "--language", "en"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    summary = payload["summary"]
    assert list(summary["speakers"]) == ["unknown"]
    assert 0.0 <= summary["speakers"]["unknown"]["agitation"] <= 1.0
    assert summary["timeline"] and all(0.0 <= row["agitation"] <= 1.0 for row in summary["timeline"])
    assert not [f for f in payload["findings"] if f["kind"] == "tone"]  # JFK's inaugural is not agitated
