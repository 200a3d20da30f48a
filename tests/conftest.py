"""Shared fixtures. Tests run the real models on real audio; those that need
../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("QA_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLES = ROOT / "recordings_sample"


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data is absent)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # One transcript cache per test session: tests share Whisper results, and
    # nothing leaks in from a developer's own cache.
    os.environ["QA_CACHE_DIR"] = str(tmp_path_factory.mktemp("qa_cache"))


@pytest.fixture(scope="session")
def real_call_stereo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real role-played call (agent on L, caller on R), as one 8 kHz stereo file."""
    committed = SAMPLES / "real_auto_repairs_40.flac"
    if committed.exists():
        return committed
    agent, rate = sf.read(shared("calls_en", "Auto_Repairs_40_UTC_agent.wav"))
    caller, _ = sf.read(shared("calls_en", "Auto_Repairs_40_UTC_caller.wav"))
    n = min(len(agent), len(caller))
    path = tmp_path_factory.mktemp("real") / "real_call.wav"
    sf.write(path, np.stack([agent[:n], caller[:n]], axis=1), rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every committed sample recording through the real pipeline into a fresh database, once per session.

    Tests that write to it take a copy (``copy_db``)."""
    from qa_pipeline.batch.nightly import run_nightly
    from qa_pipeline.config import load_config

    db = tmp_path_factory.mktemp("sample_db") / "qa.db"
    summary = run_nightly(SAMPLES, db, load_config(None))
    assert summary.failed == 0, summary.failures
    return db


def copy_db(src: Path, dest_dir: Path) -> Path:
    import sqlite3

    dest = dest_dir / "qa.db"
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)
    return dest


@pytest.fixture(scope="session")
def reference_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled sample calls through the real stages on their reference transcripts (no Whisper, ~10 s),
    once per session (tests/reference_db.py). Tests that write to it take a copy (``copy_db``)."""
    from tests.reference_db import build_reference_db

    return build_reference_db(tmp_path_factory.mktemp("reference_db") / "qa.db")
