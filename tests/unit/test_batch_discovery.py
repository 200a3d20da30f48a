"""Discovery and locking of the nightly batch (no models needed): every manifest row is checked, every file
that is not a call is named with its reason, and audio paths are absolute."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from qa_pipeline.batch.discover import discover, read_manifest, scan_directory
from qa_pipeline.batch.lock import RunLock
from qa_pipeline.errors import LockedError, ManifestError

HEADER = "call_id,path,agent_id,team,started_at,language,layout,agent_channel,call_type\n"
GOOD = "c1,a.wav,a1,sales,2026-11-20T09:30:00,zh,stereo,1,complaint\n"


def test_manifest_paths_are_relative_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "a.wav").write_bytes(b"x")
    manifest = tmp_path / "calls" / "manifest.csv"
    manifest.write_text(
        HEADER + "c1,a.wav,张伟,sales,2026-11-20T09:30:00,zh,stereo,1,complaint\n"
        "c2,/abs/b.flac,a2,care,20261120T101500,en,mono,0,\n",
        encoding="utf-8",
    )
    night = read_manifest(manifest)
    calls = night.calls
    assert calls[0].audio_path == str(tmp_path / "calls" / "a.wav")
    assert (calls[0].agent_id, calls[0].agent_channel, calls[0].caller_channel) == ("张伟", 1, 0)
    assert [(r.path, r.call_id, r.reason) for r in night.rejected] == [("/abs/b.flac", "c2", "not_found")]
    assert discover(tmp_path / "calls").calls[0].call_id == "c1"  # a folder uses its manifest


def test_relative_sources_give_absolute_audio_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "night").mkdir()
    (tmp_path / "night" / "a.wav").write_bytes(b"x")
    (tmp_path / "night" / "a1_20261120T093015_c9.wav").write_bytes(b"x")
    (tmp_path / "m.csv").write_text(HEADER + GOOD.replace("a.wav", "night/a.wav"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert read_manifest(Path("m.csv")).calls[0].audio_path == str(tmp_path / "night" / "a.wav")
    scanned = scan_directory(Path("night"))
    assert [c.audio_path for c in scanned.calls] == [str(tmp_path / "night" / "a1_20261120T093015_c9.wav")]
    assert all(Path(r.path).is_absolute() for r in scanned.rejected)


@pytest.mark.parametrize(
    "body, line, column, message",
    [
        ("call_id,path,team,started_at\nc1,a.wav,t,2026-11-20T09:30:00\n", 1, "agent_id", "required column"),
        (HEADER.replace("language", "languge") + GOOD, 1, "languge", "unknown column"),
        (HEADER + GOOD + GOOD, 3, "call_id", "duplicate call_id 'c1' (first on line 2)"),
        (HEADER + GOOD.replace(",1,complaint", ",2,complaint"), 2, "agent_channel", "must be 0 or 1, not '2'"),
        (HEADER + GOOD.replace("2026-11-20", "2026-02-30"), 2, "started_at", "not a date and time that exists"),
        (HEADER + GOOD.replace("2026-11-20T09:30:00", "yesterday"), 2, "started_at", "not a date"),
        (HEADER + GOOD.replace("T09:30:00", "T25:30:00"), 2, "started_at", "not a date"),
        (HEADER + GOOD.replace("2026-11-20", "1900-11-20"), 2, "started_at", "year 1900"),
        (HEADER + GOOD.replace("stereo", "quad"), 2, "layout", "must be stereo or mono, not 'quad'"),
        (HEADER + GOOD.replace(",zh,", ",fr,"), 2, "language", "must be auto or zh or en, not 'fr'"),
        (HEADER + GOOD.replace(",a1,", ",,"), 2, "agent_id", "required, but empty"),
        (HEADER + GOOD.replace(",sales,", ",,"), 2, "team", "required, but empty"),
        (HEADER + GOOD.replace("2026-11-20T09:30:00", " "), 2, "started_at", "required, but empty"),
        (HEADER + GOOD + "c2,b.wav,a1,sales\n", 3, "<row>", "4 fields, the header has 9"),
        (HEADER + GOOD.replace("complaint", "complaint,extra"), 2, "<row>", "10 fields, the header has 9"),
        ("", 1, "<header>", "no header line"),
    ],
)
def test_bad_manifest_names_file_line_and_column(tmp_path: Path, body: str, line: int, column: str,
                                                 message: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(body, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    assert str(info.value).startswith(f"{manifest}, line {line}: {column}: "), str(info.value)
    assert message in str(info.value)


def test_gbk_manifest_names_the_row_and_column_and_says_what_to_do(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_bytes((HEADER + GOOD + "c2,b.wav,王芳,售后,2026-11-20T10:00:00,zh,stereo,0,\n").encode("gbk"))
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    message = str(info.value)
    assert message.startswith(f"{manifest}, line 3: agent_id: not UTF-8 text"), message
    assert "GBK" in message and "CSV UTF-8" in message


def test_header_only_manifest_is_an_empty_night(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(HEADER + "\n", encoding="utf-8")
    night = read_manifest(manifest)
    assert not night.calls and not night.rejected and "header and no rows" in night.empty_because


def _unusual_entries(folder: Path) -> None:
    """A folder with every kind of entry that is not a call, named like a recording."""
    (folder / "gone.wav").symlink_to(folder / "deleted_long_ago.wav")
    (folder / "x.wav").mkdir()
    os.mkfifo(folder / "pipe.wav")


def test_folder_scan_reports_every_file_it_does_not_process(tmp_path: Path) -> None:
    for name in ("a1023_20261120T093015_c88231.wav", "notes.txt", "sub/odd name.flac",
                 "a1_20261399T093015_c2.wav", "a2_20261120T093015_c88231.flac"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    _unusual_entries(tmp_path)
    night = scan_directory(tmp_path)
    assert [c.call_id for c in night.calls] == ["c88231"]
    call = night.calls[0]
    assert (call.agent_id, call.started_at) == ("a1023", "2026-11-20T09:30:15")
    reasons = {Path(r.path).name: (r.reason, r.detail) for r in night.rejected}
    assert reasons["gone.wav"][0] == "not_found" and "symbolic link to nothing" in reasons["gone.wav"][1]
    assert reasons["x.wav"] == ("not_a_file", "a directory, not a regular file")
    assert reasons["pipe.wav"] == ("not_a_file", "a named pipe (FIFO), not a regular file")
    assert reasons["odd name.flac"][0] == "bad_name" and "does not match the pattern" in reasons["odd name.flac"][1]
    assert reasons["a1_20261399T093015_c2.wav"][0] == "bad_name" and "not a date" in reasons["a1_20261399T093015_c2.wav"][1]
    assert reasons["a2_20261120T093015_c88231.flac"][0] == "bad_name" and "duplicate call id" in reasons["a2_20261120T093015_c88231.flac"][1]
    assert night.ignored == [str(tmp_path / "notes.txt")]
    custom = scan_directory(tmp_path, r"(?P<team>\w+)_(?P<started_at>\d{8}T\d{6})_(?P<call_id>\w+)(?P<agent_id>)")
    assert not custom.calls and all(r.reason in ("bad_name", "not_found", "not_a_file") for r in custom.rejected)


def test_manifest_rows_naming_non_files_are_refused_before_opening(tmp_path: Path) -> None:
    _unusual_entries(tmp_path)
    (tmp_path / "m.csv").write_text(HEADER + "".join(
        GOOD.replace("c1,a.wav", f"c{i},{name}") for i, name in enumerate(("gone.wav", "x.wav", "pipe.wav"))),
        encoding="utf-8")
    night = read_manifest(tmp_path / "m.csv")  # would wait forever if it opened the pipe
    assert not night.calls
    assert [(r.call_id, r.reason) for r in night.rejected] == [("c0", "not_found"), ("c1", "not_a_file"),
                                                              ("c2", "not_a_file")]


def test_a_manifest_that_is_a_named_pipe_is_refused_before_opening(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.csv")
    with pytest.raises(ManifestError, match="manifest.csv: <file>: a named pipe"):
        discover(tmp_path)


def test_empty_folders_say_what_they_hold(tmp_path: Path) -> None:
    assert "the folder is empty" in scan_directory(tmp_path).empty_because
    (tmp_path / "readme.txt").write_text("x")
    assert "no audio files (1 other files ignored)" in scan_directory(tmp_path).empty_because


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such directory or manifest"):
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
