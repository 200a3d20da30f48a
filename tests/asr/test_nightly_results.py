"""What `qa nightly` stores for the sample recordings, checked against their labels: a mono call goes
through and into the queue exactly like a stereo one (diarized into agent and caller, checked, scored,
queued, shown to a coach), and the tone flags are the labelled ones."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from qa_pipeline.cli import app
from tests.conftest import SAMPLES


def _manifest_layouts() -> dict[str, str]:
    import csv

    with open(SAMPLES / "manifest.csv", encoding="utf-8") as fh:
        return {row["call_id"]: row["layout"] for row in csv.DictReader(fh)}


def test_mono_calls_flow_like_stereo(sample_db: Path) -> None:
    layouts = _manifest_layouts()
    mono = sorted(c for c, layout in layouts.items() if layout == "mono")
    assert mono, "the sample set must hold mono calls"
    conn = sqlite3.connect(sample_db)
    stored = dict(conn.execute("SELECT call_id, layout FROM calls"))
    for call_id in mono:
        assert stored[call_id] == "mono"
        speakers = {s for (s,) in conn.execute("SELECT DISTINCT speaker FROM segments WHERE call_id=?", (call_id,))}
        assert speakers == {"agent", "caller"}, (call_id, speakers)
        # the same stages ran as for stereo calls: script steps, a score, a queue decision
        steps = dict(conn.execute("SELECT rule_id, status FROM findings f JOIN calls c ON c.current_result_id ="
                                  " f.result_id WHERE f.call_id=? AND kind='script_step'", (call_id,)))
        assert {"greeting", "closing"} <= set(steps)
        assert steps["greeting"] == "fail"  # these calls are the "missing greeting" scenario (labels.json)
        (total,) = conn.execute("SELECT total FROM scores s JOIN calls c ON c.current_result_id = s.result_id"
                                " WHERE c.call_id=?", (call_id,)).fetchone()
        assert total is not None
        (source,) = conn.execute("SELECT source FROM queue_items WHERE call_id=?", (call_id,)).fetchone()
        assert source == "risk"
    stereo_columns = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM findings WHERE call_id IN"
                                                 " (SELECT call_id FROM calls WHERE layout='stereo')")}
    mono_columns = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM findings WHERE call_id IN"
                                               " (SELECT call_id FROM calls WHERE layout='mono')")}
    assert "script_step" in mono_columns and mono_columns <= stereo_columns | {"pii"}
    conn.close()

    shown = CliRunner().invoke(app, ["queue", "show", mono[0], "--db", str(sample_db), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["call"]["layout"] == "mono"
    assert any(f["rule_id"] == "greeting" and f["status"] == "fail" for f in data["findings"])


def test_tone_flags_from_the_nightly_match_the_labels(sample_db: Path) -> None:
    """Through the whole pipeline (Whisper's transcripts, not the script): every labelled emotional event is
    flagged on its speaker, overlapping its time, and no call gets a tone flag that is not labelled."""
    labels = json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))["calls"]
    conn = sqlite3.connect(sample_db)
    flags: dict[str, list[tuple[str, str, float, float]]] = {}
    for call_id, rule, speaker, start, end in conn.execute(
            "SELECT f.call_id, f.rule_id, f.speaker, f.start, f.\"end\" FROM findings f JOIN calls c"
            " ON c.current_result_id = f.result_id WHERE f.kind = 'tone'"):
        flags.setdefault(call_id, []).append((rule, speaker, start, end))
    conn.close()
    for call_id, label in labels.items():
        expected = [e for e in label["events"] if e["kind"] == "tone"]
        got = flags.get(call_id, [])
        for e in expected:
            assert any(rule == e["rule"] and speaker == e["speaker"] and start < e["end"] and end > e["start"]
                       for rule, speaker, start, end in got), (call_id, e, got)
        for rule, speaker, start, end in got:
            assert any(rule == e["rule"] and speaker == e["speaker"] and start < e["end"] and end > e["start"]
                       for e in expected), f"{call_id}: unlabelled {rule} on {speaker} {start:.1f}-{end:.1f}"
