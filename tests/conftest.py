"""Shared fixtures. Tests run the real models on real audio; those that need
../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
import tempfile
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


def _reference_cache(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """pytest's cache folder for what is built from the reference transcripts, and the hash of everything that
    goes into it (the package, the samples' labels and manifest, the builder): same code, same key."""
    import hashlib

    digest = hashlib.sha256()
    inputs = [*sorted((ROOT / "qa_pipeline").rglob("*")), SAMPLES / "labels.json", SAMPLES / "manifest.csv",
              ROOT / "tests" / "reference_db.py"]
    for path in inputs:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider: build in a temp folder
    folder = cache.mkdir("reference_db") if cache is not None else Path(tempfile.mkdtemp(prefix="reference_db-"))
    return folder, digest.hexdigest()[:20]


def _cached(folder: Path, name: str, build) -> Path:
    """``folder/name``, built by ``build(path)`` unless there; older builds of the same kind are removed."""
    path = folder / name
    if not path.exists():
        building = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        build(building)
        building.replace(path)  # whole or not at all, whatever runs beside this one
        for old in folder.glob(f"*{path.suffix}"):
            if old != path:
                old.unlink(missing_ok=True)
    return path


@pytest.fixture(scope="session")
def reference_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled sample calls through the real stages on their reference transcripts (no Whisper, ~10 s; kept
    in pytest's cache for the same code), once per session (tests/reference_db.py). Tests that write to it take
    a copy (``copy_db``)."""
    from tests.reference_db import build_reference_db

    folder, key = _reference_cache(request)
    return copy_db(_cached(folder, f"{key}.db", build_reference_db), tmp_path_factory.mktemp("reference_db"))


@pytest.fixture(scope="session")
def reference_reruns(request: pytest.FixtureRequest) -> list[list]:
    """Two "nightly re-runs" of the top queued reference calls under other versions: the real stages on the
    reference transcripts with rules put in assist mode (CallResults; cached like ``reference_db``)."""
    import json

    from qa_pipeline.contracts import call_result_from_dict
    from tests.reference_db import build_reruns

    folder, key = _reference_cache(request)
    path = _cached(folder, f"{key}.json", build_reruns)
    return [[call_result_from_dict(r) for r in run] for run in json.loads(path.read_text(encoding="utf-8"))]
