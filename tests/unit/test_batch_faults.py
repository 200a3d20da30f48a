"""Fault injection, part 1: everything that must stop `qa nightly` before its first call, end to end through the
command (in-process, no Whisper): bad manifests and configurations (exit 4), empty nights (5), damaged
databases (6), a held lock (75) and bad flags (2). Each asserts the exit status, the message (file, line and
field where there is one, never a traceback) and that nothing was written.

The faults that need real calls (refused files beside good ones, kill -9 with workers, a full disk) are in
tests/asr/test_faults.py."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_pipeline.batch.lock import RunLock
from qa_pipeline.cli import app
from qa_pipeline.store.db import Store
from tests.conftest import SAMPLES

HEADER = "call_id,path,agent_id,team,started_at,language,layout,agent_channel,call_type\n"
ROW = "c1,call.wav,a1,sales,2026-11-20T09:30:00,en,stereo,0,inbound_service\n"


@pytest.fixture()
def night(tmp_path: Path) -> Path:
    """A night of one real recording, with its manifest."""
    folder = tmp_path / "night"
    folder.mkdir()
    shutil.copy(SAMPLES / "en_compliant_charge_check.wav", folder / "call.wav")
    (folder / "manifest.csv").write_text(HEADER + ROW, encoding="utf-8")
    return folder


def nightly(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["nightly", *map(str, args), "--quiet"])
    assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def assert_nothing_written(db: Path) -> None:
    assert not db.exists(), "the database was created"
    assert not (db.parent / "qa_logs").exists(), "a run log was written"


# ------------------------------------------------------------------ manifests: exit 4 before any call


@pytest.mark.parametrize(
    "body, where",
    [
        (HEADER + ROW.replace("2026-11-20", "2026-02-30"), "line 2: started_at: '2026-02-30T09:30:00' is not a date"),
        (HEADER + ROW.replace("stereo", "stero"), "line 2: layout: must be stereo or mono"),
        (HEADER + ROW.replace(",0,inbound", ",3,inbound"), "line 2: agent_channel: must be 0 or 1"),
        (HEADER + ROW.replace(",a1,", ",,"), "line 2: agent_id: required, but empty"),
        (HEADER + ROW + "c2,call.wav,a1\n", "line 3: <row>: 3 fields, the header has 9"),
        (HEADER.replace("team,", "") + ROW.replace("sales,", ""), "line 1: team: required column is missing"),
    ],
)
def test_bad_manifest_exits_4_naming_file_line_and_column(night: Path, tmp_path: Path, body: str, where: str) -> None:
    (night / "manifest.csv").write_text(body, encoding="utf-8")
    code, output = nightly(night, "--db", tmp_path / "qa.db")
    assert code == 4, output
    assert f"error: {night / 'manifest.csv'}, {where}" in output.replace("\n", "")
    assert_nothing_written(tmp_path / "qa.db")


def test_gbk_manifest_exits_4_naming_row_and_column(night: Path, tmp_path: Path) -> None:
    (night / "manifest.csv").write_bytes((HEADER + ROW.replace(",a1,sales,", ",王芳,售后,")).encode("gbk"))
    code, output = nightly(night, "--db", tmp_path / "qa.db")
    assert code == 4
    assert "line 2: agent_id: not UTF-8 text" in output and "GBK" in output
    assert_nothing_written(tmp_path / "qa.db")


def test_missing_source_exits_4(tmp_path: Path) -> None:
    code, output = nightly(tmp_path / "2026-11-21", "--db", tmp_path / "qa.db")
    assert code == 4 and "no such directory or manifest" in output
    assert_nothing_written(tmp_path / "qa.db")


# ------------------------------------------------------------------ configurations that cannot serve: exit 4


def _pack(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "banned.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "name, config, message",
    [
        ("unknown model", "asr: {model: whisper-huge-v9}", "unknown model 'whisper-huge-v9'"),
        ("language the model lacks", "asr: {model: tiny.en, language: zh}", "English-only and cannot transcribe 'zh'"),
        ("auto calls, English-only model", "asr: {model: tiny.en}", "English-only and cannot transcribe 'zh'"),
        ("unknown per-language model", "asr: {language_models: {en: nosuch}}", "unknown model 'nosuch'"),
        ("pack with a syntax error", "rules: [broken_pack]", "broken_pack/banned.yaml, line 8: <yaml>: expected"),
        ("pack with a bad regex", "rules: [regex_pack]", "regex_pack/banned.yaml, line 8: rules[0].patterns[0]: invalid regex"),
        ("missing pack folder", "rules: [no_such_pack]", "no_such_pack: <file>: not found"),
        ("missing form", "form: no_such_form.yaml", "no_such_form.yaml: <file>: not found"),
        ("bad form", "form: bad_form.yaml", "bad_form.yaml, line 3: sections: expected list"),
        ("wrong type in queue", "queue: {sample_per_agent_week: two}", "line 1: queue.sample_per_agent_week: expected an integer"),
        ("wrong type in reports", "reports: {tiers: {gold: high}}", "reports.tiers: expected a mapping"),
        ("wrong type in asr", "asr: {beam_size: 2.5}", "asr.beam_size: expected an integer"),
        ("out of range", "tone: {flag_threshold: 3}", "tone.flag_threshold: must be within"),
        ("unknown setting", "audio: {max_second: 10}", "audio.max_second: unknown setting"),
        ("missing sentiment model", "tone: {sentiment_model: /no/such/model}", "not a transformers model directory"),
        ("missing agent voice", "diarization: {agent_voice: /no/voice.wav}", "diarization.agent_voice: no such file"),
        ("broken YAML", "asr: [1", "<yaml>"),
    ],
)
def test_configuration_that_cannot_serve_exits_4_before_any_call(night: Path, tmp_path: Path, name: str, config: str,
                                                                 message: str) -> None:
    _pack(tmp_path / "broken_pack", 'version: "1"\nlanguage: en\nrules:\n  - id: en.x\n    kind: banned_phrase\n'
          "    category: harsh\n    phrases: [oops\n")
    _pack(tmp_path / "regex_pack", 'version: "1"\nlanguage: en\nrules:\n  - id: en.x\n    kind: banned_phrase\n'
          '    category: harsh\n    tier: regex\n    patterns: ["(unclosed"]\n')
    (tmp_path / "bad_form.yaml").write_text("id: f\nversion: 1\nsections: 7\n", encoding="utf-8")
    if "auto calls" in name:
        (night / "manifest.csv").write_text(HEADER + ROW.replace(",en,", ",auto,"), encoding="utf-8")
    (tmp_path / "qa.yaml").write_text(config + "\n", encoding="utf-8")
    code, output = nightly(night, "--db", tmp_path / "qa.db", "--config", tmp_path / "qa.yaml")
    assert code == 4, (name, output)
    assert message in output.replace("\n", ""), (name, output)
    assert_nothing_written(tmp_path / "qa.db")


# ------------------------------------------------------------------ empty nights: exit 5


@pytest.mark.parametrize("kind", ["header-only manifest", "empty folder", "folder without audio"])
def test_empty_night_exits_5_and_says_so(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "night"
    folder.mkdir()
    if kind == "header-only manifest":
        (folder / "manifest.csv").write_text(HEADER, encoding="utf-8")
    elif kind == "folder without audio":
        (folder / "export.log").write_text("recorder export finished\n")
    code, output = nightly(folder, "--db", tmp_path / "qa.db")
    assert code == 5, output
    assert "nothing to process, an empty night" in output
    assert {"header-only manifest": "header and no rows", "empty folder": "the folder is empty",
            "folder without audio": "no audio files (1 other files ignored)"}[kind] in output
    assert_nothing_written(tmp_path / "qa.db")


# ------------------------------------------------------------------ damaged databases: exit 6, never written


def _database(path: Path) -> Path:
    store = Store(path)
    for i in range(200):
        store.quarantine(f"/calls/{i}.wav", "corrupt", "a detail " * 20, "r1", call_id=f"c{i}")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


def _corrupt_free_space(path: Path) -> None:
    """A small corruption that reading the table does not notice: a leaf page's first free block points into
    its own header."""
    con = sqlite3.connect(path)
    root, page_size = con.execute("SELECT rootpage FROM sqlite_master WHERE name='runs'").fetchone()[0], 4096
    con.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size + 1 : (root - 1) * page_size + 3] = struct.pack(">H", 9)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["free space", "freelist count", "cut in half", "not a database"])
def test_damaged_database_is_refused_and_left_as_it_is(night: Path, tmp_path: Path, damage: str) -> None:
    db = _database(tmp_path / "qa.db")
    if damage == "free space":
        _corrupt_free_space(db)
        con = sqlite3.connect(db)
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # reading does not notice
        con.close()
    elif damage == "freelist count":
        data = bytearray(db.read_bytes())
        data[36:40] = struct.pack(">I", 5)
        db.write_bytes(bytes(data))
    elif damage == "cut in half":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    else:
        db.write_bytes(b"these are the minutes of Monday's meeting\n" * 200)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code, output = nightly(night, "--db", db)
    assert code == 6, output
    assert f"error: {db}: " in output and ("damaged" in output or "not a usable SQLite database" in output)
    assert "nothing was written to it" in output.replace("\n", " ")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (tmp_path / "qa_logs").exists()


# ------------------------------------------------------------------ a held lock (75) and bad flags (2)


def test_held_lock_exits_75(night: Path, tmp_path: Path) -> None:
    with RunLock(tmp_path / "qa.db"):
        code, output = nightly(night, "--db", tmp_path / "qa.db")
    assert code == 75 and "already running" in output


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--executor", "spark"], "--executor must be local or ray"),
        (["--pattern", "(?P<agent_id>"], "is not a regular expression"),
        (["--pattern", r"(?P<call_id>\w+)"], "--pattern needs the named group(s) agent_id, started_at"),
        (["--workers", "0"], "--workers"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_flags_exit_2(night: Path, tmp_path: Path, flags: list[str], message: str) -> None:
    code, output = nightly(night, "--db", tmp_path / "qa.db", *flags)
    assert code == 2, output
    assert message in output
    assert_nothing_written(tmp_path / "qa.db")
