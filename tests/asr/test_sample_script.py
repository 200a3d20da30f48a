"""The sample-making script voices a call (Festival, espeak-ng) into exactly the labels committed with it:
real speech synthesis, so it runs with the model tier, not the unit tier."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from tests.unit.test_samples import SAMPLES, SCRIPT, _cn_id_ok


@pytest.fixture(scope="module")
def labels() -> dict:
    return json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))["calls"]


@pytest.mark.skipif(not Path("/usr/share/festival/voices/us/cmu_us_slt_arctic_hts").is_dir(),
                    reason="needs Festival and its US English HTS voice (scripts/install_test_packages.sh)")
def test_the_script_reproduces_the_labels(labels):
    spec = importlib.util.spec_from_file_location("make_samples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = module
    spec.loader.exec_module(module)
    call = next(c for c in module.calls() if c.call_id == "en_banned_refusal")
    _, label = module.render(call)
    assert label == labels["en_banned_refusal"]
    assert re.fullmatch(r"\d{18}", module.CN_ID) and _cn_id_ok(module.CN_ID)
