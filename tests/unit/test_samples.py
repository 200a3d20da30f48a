"""recordings_sample/: the manifest, the audio and the ground truth agree with each other."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qa_pipeline.base.audio import load_audio

SAMPLES = Path(__file__).resolve().parents[2] / "recordings_sample"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_samples.py"
COLUMNS = ["call_id", "path", "agent_id", "team", "started_at", "language", "layout", "agent_channel", "call_type"]
STEPS = {"greeting", "verification", "empathy", "recap", "closing"}
EVENT_KINDS = {"banned_phrase", "allowed", "escalation", "tone", "pii", "script_step", "hold"}


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    with open(SAMPLES / "manifest.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        return list(reader)


@pytest.fixture(scope="module")
def labels() -> dict:
    data = json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))
    assert data["schema"] == 1
    return data["calls"]


@pytest.fixture(scope="module")
def loaded(manifest) -> dict:
    return {
        r["call_id"]: load_audio(SAMPLES / r["path"], agent_channel=int(r["agent_channel"]), layout=r["layout"])
        for r in manifest
    }


def test_manifest_rows_are_well_formed(manifest):
    assert len({r["call_id"] for r in manifest}) == len(manifest) >= 16
    for r in manifest:
        assert (SAMPLES / r["path"]).is_file(), r["path"]
        dt.datetime.fromisoformat(r["started_at"])
        assert r["language"] in ("zh", "en") and r["layout"] in ("stereo", "mono")
        assert r["agent_channel"] in ("0", "1") and r["call_type"]


def test_spread_over_agents_teams_weeks(manifest):
    assert len({r["agent_id"] for r in manifest}) >= 4
    assert len({r["team"] for r in manifest}) >= 2
    weeks = {dt.datetime.fromisoformat(r["started_at"]).isocalendar()[:2] for r in manifest}
    assert len(weeks) >= 3
    assert {r["language"] for r in manifest} == {"zh", "en"}
    assert {"stereo", "mono"} <= {r["layout"] for r in manifest}
    assert "1" in {r["agent_channel"] for r in manifest if r["layout"] == "stereo"}


def test_call_centre_file_formats(manifest):
    kinds = {sf.info(str(SAMPLES / r["path"])).format + "/" + sf.info(str(SAMPLES / r["path"])).subtype for r in manifest}
    assert {"WAV/ULAW", "WAV/PCM_16", "FLAC/PCM_16"} <= kinds
    assert kinds & {"OGG/VORBIS", "MP3/MPEG_LAYER_III"}
    assert all(sf.info(str(SAMPLES / r["path"])).samplerate == 8000 for r in manifest)


def test_folder_is_small():
    size = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert size < 18_000_000, f"{size / 1e6:.1f} MB"


def test_layouts_match_the_audio(manifest, loaded):
    for r in manifest:
        audio = loaded[r["call_id"]]
        assert audio.layout == r["layout"], r["call_id"]
        if r["layout"] == "mono":
            assert audio.source_channels == 1
        else:
            assert audio.source_channels == 2 and len(audio.channels) == 2
            assert not np.allclose(audio.channels[0], audio.channels[1])


def test_labels_cover_every_call_with_the_agreed_shape(manifest, labels):
    assert set(labels) == {r["call_id"] for r in manifest}
    for r in manifest:
        call = labels[r["call_id"]]
        assert call["language"] == r["language"] and call["layout"] == r["layout"]
        assert isinstance(call["compliant"], bool)
        assert set(call["script"]) == STEPS
        assert call["script"]["greeting"] in ("present", "missing")
        assert call["script"]["closing"] in ("present", "missing")
        assert all(v in ("present", "missing", "na") for v in call["script"].values())
        for u in call["utterances"]:
            assert u["speaker"] in ("agent", "caller") and 0 <= u["start"] < u["end"] and u["text"] and u["style"]
        for e in call["events"]:
            assert e["kind"] in EVENT_KINDS and 0 <= e["start"] < e["end"], (r["call_id"], e)
            assert e["speaker"] in ("agent", "caller", "both")


def test_label_times_lie_on_the_speech(manifest, labels, loaded):
    """Each synthesized utterance is loud on its speaker's channel; the gaps between turns are quiet."""
    for r in manifest:
        call, audio = labels[r["call_id"]], loaded[r["call_id"]]
        if not call["utterances"]:
            continue
        rate = audio.rate
        assert call["utterances"][-1]["end"] <= audio.duration
        for who, samples in zip(("agent", "caller"), audio.channels) if r["layout"] == "stereo" else [("mono", audio.channels[0])]:
            mine = [u for u in call["utterances"] if who in ("mono", u["speaker"])]
            busy = np.zeros(len(samples), bool)
            for u in mine:
                seg = samples[int(u["start"] * rate):int(u["end"] * rate)]
                # -40 dBFS: well above the -78 dBFS line noise of the gaps; the band-pass takes a deep voice's
                # fundamental, so a short quiet "Perfect, thanks." of the lowest caller lies near -36 dBFS.
                assert np.sqrt(np.mean(seg**2)) > 10 ** (-40 / 20), (r["call_id"], u["text"])
            for u in call["utterances"]:  # anything anybody says, or hold music, is not a gap
                busy[max(0, int((u["start"] - 0.05) * rate)):int((u["end"] + 0.05) * rate)] = True
            for e in call["events"]:
                if e["kind"] == "hold":
                    busy[int(e["start"] * rate):int(e["end"] * rate)] = True
            quiet = samples[~busy]
            assert np.sqrt(np.mean(quiet**2)) < 10 ** (-60 / 20), r["call_id"]


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    return sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits)) % 10 == 0


def _cn_id_ok(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return len(number) == 18 and "10X98765432"[sum(int(d) * w for d, w in zip(number, weights)) % 11] == number[-1]


def test_the_scenarios_the_later_stages_need(labels):
    events = [(cid, e) for cid, call in labels.items() for e in call["events"]]
    kinds = {(e["kind"], e.get("rule") or e.get("type") or e.get("category")) for _, e in events}
    for need in [("tone", "emotional_caller"), ("tone", "emotional_agent"), ("pii", "phone"), ("pii", "cn_id"),
                 ("pii", "bank_card"), ("banned_phrase", "refusal"), ("banned_phrase", "blame_shifting"),
                 ("banned_phrase", "provocation")]:
        assert need in kinds, need
    for language in ("zh", "en"):
        mine = [e for cid, e in events if labels[cid]["language"] == language]
        assert {"banned_phrase", "allowed", "escalation", "tone", "pii"} <= {e["kind"] for e in mine}
        calls = [c for c in labels.values() if c["language"] == language]
        assert sum(c["compliant"] for c in calls if c["utterances"]) >= 3
        assert any(c["script"]["greeting"] == "missing" for c in calls)
        assert any(c["script"]["closing"] == "missing" for c in calls)
    assert any(e["kind"] == "hold" and e["end"] - e["start"] > 10 for _, e in events)
    assert any(e["kind"] == "pii" and e["speaker"] == "agent" for _, e in events)
    for _, e in events:
        if e["kind"] == "pii" and e["type"] == "bank_card":
            assert _luhn_ok(e["value"]), e
        if e["kind"] == "pii" and e["type"] == "cn_id":
            assert _cn_id_ok(e["value"]), e
        if e["kind"] == "allowed" or e["kind"] == "banned_phrase":
            assert e["speaker"] == "agent"
    assert any(e["text"] == "请用文明用语,否则我有权结束通话" for _, e in events if e["kind"] == "allowed")


def test_compliant_calls_greet_early_and_close_late(labels):
    for cid, call in labels.items():
        steps = {e["step"]: e for e in call["events"] if e["kind"] == "script_step"}
        if call["script"]["greeting"] == "present":
            assert steps["greeting"]["start"] < 20, cid
        if call["script"]["closing"] == "present" and call["utterances"]:
            assert call["utterances"][-1]["end"] - steps["closing"]["end"] < 30, cid


def test_the_pii_read_outs_hold_the_items_they_claim():
    """recordings_sample/pii_eval: one mono call per language; each labelled event is the item of synth_pii_items
    it names (type and value), inside the audio, and every item with personal data has its event."""
    import soundfile as sf

    from qa_pipeline.eval.pii import pii_eval_calls, synth_pii_items

    items = synth_pii_items()
    calls = pii_eval_calls(SAMPLES)
    assert sorted(name for name, _, _ in calls) == ["pii_synth_en", "pii_synth_zh"]
    seen = set()
    for name, path, events in calls:
        info = sf.info(str(path))
        assert info.channels == 1 and info.samplerate == 8000
        for e in events:
            lang, _text, kind, value = items[e["item"]]
            assert (f"pii_synth_{lang}", kind, value) == (name, e["type"], e["value"])
            assert 0 < e["start"] < e["end"] <= info.duration
            seen.add(e["item"])
    assert seen == {i for i, item in enumerate(items) if item[2]}
