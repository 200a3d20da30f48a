"""Discovery and locking of the nightly batch (no models needed)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from qa_pipeline.batch.discover import discover, read_manifest, scan_directory
from qa_pipeline.batch.lock import RunLock
from qa_pipeline.errors import BatchError, LockedError


def test_manifest_paths_are_relative_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "calls").mkdir()
    manifest = tmp_path / "calls" / "manifest.csv"
    manifest.write_text(
        "call_id,path,agent_id,team,started_at,language,layout,agent_channel,call_type\n"
        "c1,a.wav,张伟,sales,2026-11-20T09:30:00,zh,stereo,1,complaint\n"
        "c2,/abs/b.flac,a2,care,20261120T101500,en,mono,0,\n",
        encoding="utf-8",
    )
    calls = read_manifest(manifest)
    assert calls[0].audio_path == str(tmp_path / "calls" / "a.wav")
    assert (calls[0].agent_id, calls[0].agent_channel, calls[0].caller_channel) == ("张伟", 1, 0)
    assert calls[1].audio_path == "/abs/b.flac"
    assert calls[1].started_at == "2026-11-20T10:15:00"
    assert calls[1].call_type == "default" and calls[1].layout == "mono"
    assert discover(tmp_path / "calls")[0].call_id == "c1"  # a folder uses its manifest


@pytest.mark.parametrize(
    "body, message",
    [
        ("call_id,agent_id\nc1,a1\n", "lacks column"),
        ("call_id,path\nc1,a.wav\nc1,b.wav\n", "line 3: duplicate call_id"),
        ("call_id,path,agent_channel\nc1,a.wav,2\n", "line 2: agent_channel"),
    ],
)
def test_bad_manifest_names_the_line(tmp_path: Path, body: str, message: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(body)
    with pytest.raises(BatchError, match=message):
        read_manifest(manifest)


def test_folder_without_manifest_uses_the_file_name_pattern(tmp_path: Path) -> None:
    for name in ("a1023_20261120T093015_c88231.wav", "notes.txt", "sub/odd name.flac"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    calls = {c.call_id: c for c in scan_directory(tmp_path)}
    assert set(calls) == {"c88231", "sub/odd name"}
    assert calls["c88231"].agent_id == "a1023"
    assert calls["c88231"].started_at == "2026-11-20T09:30:15"
    custom = scan_directory(tmp_path, r"(?P<team>\w+)_(?P<started_at>\d{8}T\d{6})_(?P<call_id>\w+)")
    assert any(c.team == "a1023" for c in custom)


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="no such directory"):
        discover(tmp_path / "nope")


def _try_lock(db: str, queue: mp.Queue) -> None:
    try:
        with RunLock(db):
            queue.put("got it")
    except LockedError as exc:
        queue.put(str(exc))


def test_lock_excludes_another_process_and_is_released(tmp_path: Path) -> None:
    db = str(tmp_path / "qa.db")
    queue: mp.Queue = mp.get_context("spawn").Queue()
    with RunLock(db):
        proc = mp.get_context("spawn").Process(target=_try_lock, args=(db, queue))
        proc.start()
        proc.join(60)
        assert "already running" in queue.get(timeout=5)
    proc = mp.get_context("spawn").Process(target=_try_lock, args=(db, queue))
    proc.start()
    proc.join(60)
    assert queue.get(timeout=5) == "got it"
