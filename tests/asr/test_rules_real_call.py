"""Rule packs, phrase matching and script steps: text-level tests (no Whisper), plus one real call."""


from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.contracts import Call
from qa_pipeline.stages.rules.pack import load_rule_pack
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import check_script

REAL_CALL_LABELS = Path(__file__).resolve().parents[2] / "evalsets" / "real_call" / "labels.json"


@pytest.fixture(scope="module")
def en():
    return load_rule_pack(language="en")


# ---------------------------------------------------------------- the real call
@pytest.mark.slow
@pytest.mark.shared
def test_real_call_greeting_and_closing_pass_at_the_right_times(real_call_stereo: Path, en) -> None:
    from qa_pipeline.base.audio import load_audio
    from qa_pipeline.config import TranscribeOptions
    from qa_pipeline.stages.transcribe import transcribe_cached

    labels = {item["name"]: item for item in json.loads(REAL_CALL_LABELS.read_text())["labels"]}
    audio = load_audio(real_call_stereo, agent_channel=0, layout="stereo")
    tr = transcribe_cached(audio, TranscribeOptions(language="en"))
    findings = {f.rule_id: f for f in check_script(tr, Call("real", str(real_call_stereo)), en)}
    for name in ("greeting", "closing"):
        f, label = findings[name], labels[name]
        assert f.details.status == "pass", f
        assert label["start"] - 2 <= f.start and f.end <= label["end"] + 2, (f.start, f.end, label)
    assert not [f for f in detect_phrases(tr, Call("real", ""), en) if f.kind == "banned_phrase"]
    # The CLI runs the same (cached) transcription and rules.
    result = CliRunner().invoke(app, ["analyze", str(real_call_stereo), "--language", "en", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    statuses = {f["rule_id"]: f["details"].get("status") for f in payload["findings"] if f["kind"] == "script_step"}
    assert statuses["greeting"] == "pass" and statuses["closing"] == "pass" and payload["rule_version"] == en.version
