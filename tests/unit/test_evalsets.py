"""The independent evaluation sets are a ruler: frozen (checksums), well-formed, split in two halves."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

EVALSETS = Path(__file__).resolve().parents[2] / "evalsets"
LABEL_KEYS = {"steps", "banned", "allowed", "escalation", "emotion", "pii", "non_pii"}


def test_labelled_files_are_frozen() -> None:
    for line in (EVALSETS / "FROZEN.sha256").read_text().splitlines():
        digest, name = line.split()
        actual = hashlib.sha256((EVALSETS.parent / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} changed after it was frozen: see evalsets/README.md"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_utterances_are_well_formed_and_split(language: str) -> None:
    items = [json.loads(line) for line in (EVALSETS / "utterances" / f"{language}.jsonl").read_text("utf-8").splitlines()]
    assert len(items) >= 400 and len({i["id"] for i in items}) == len(items)
    for item in items:
        assert set(item["labels"]) == LABEL_KEYS and item["split"] in ("dev", "test")
        for span in item["labels"]["pii"] + item["labels"]["non_pii"]:
            assert span["text"] in item["text"], item["id"]
    dev = sum(i["split"] == "dev" for i in items)
    assert abs(dev - (len(items) - dev)) <= len(items) * 0.05


def test_voiced_calls_match_their_scripts() -> None:
    labels = json.loads((EVALSETS / "calls" / "labels.json").read_text("utf-8"))["calls"]
    scripts = [c for lang in ("zh", "en") for c in yaml.safe_load((EVALSETS / "calls" / f"{lang}.yaml").read_text("utf-8"))["calls"]]
    assert {c["call_id"] for c in scripts} == set(labels) and len(labels) >= 24
    for call in scripts:
        assert (EVALSETS / "calls" / "audio" / f"{call['call_id']}.flac").exists()
        assert labels[call["call_id"]]["split"] == call["split"]
