"""What a night's batch is made of: a manifest CSV of calls, or a folder of recordings whose file names
carry agent, time and call id."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from qa_pipeline.contracts import Call
from qa_pipeline.errors import BatchError

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".au", ".aiff", ".aif"}


# <agent>_<YYYYmmdd[T]HHMMSS>_<call id>.<ext>, e.g. a1023_20261120T093015_c88231.wav
DEFAULT_PATTERN = r"(?P<agent_id>[^_/]+)_(?P<started_at>\d{8}T?\d{6})_(?P<call_id>[^/]+?)$"


MANIFEST_COLUMNS = ("call_id", "path", "agent_id", "team", "started_at", "language", "layout", "agent_channel", "call_type", "direction")


def _norm_time(value: str) -> str:
    value = value.strip()
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})T?(\d{2})(\d{2})(\d{2})", value)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    return value


def read_manifest(path: Path) -> list[Call]:
    """A manifest CSV: one row per call; paths relative to the manifest's folder."""
    calls: list[Call] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"call_id", "path"} - set(reader.fieldnames or [])
        if missing:
            raise BatchError(f"{path}: manifest lacks column(s) {sorted(missing)}; has {reader.fieldnames}")
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            call_id = (row.get("call_id") or "").strip()
            if not call_id:
                raise BatchError(f"{path}, line {line}: empty call_id")
            if call_id in seen:
                raise BatchError(f"{path}, line {line}: duplicate call_id {call_id!r}")
            seen.add(call_id)
            audio = Path(row["path"].strip())
            if not audio.is_absolute():
                audio = path.parent / audio
            channel = (row.get("agent_channel") or "0").strip() or "0"
            if channel not in ("0", "1"):
                raise BatchError(f"{path}, line {line}: agent_channel must be 0 or 1, not {channel!r}")
            calls.append(
                Call(
                    call_id=call_id,
                    audio_path=str(audio),
                    agent_id=(row.get("agent_id") or "").strip(),
                    team=(row.get("team") or "").strip(),
                    started_at=_norm_time(row.get("started_at") or ""),
                    direction=(row.get("direction") or "inbound").strip(),
                    language=(row.get("language") or "auto").strip() or "auto",
                    layout=((row.get("layout") or "").strip() or "stereo"),  # type: ignore[arg-type]
                    agent_channel=int(channel),
                    caller_channel=1 - int(channel),
                    call_type=(row.get("call_type") or "default").strip() or "default",
                )
            )
    return calls


def scan_directory(folder: Path, pattern: str = DEFAULT_PATTERN) -> list[Call]:
    """Recordings in a folder tree, metadata from their file names."""
    regex = re.compile(pattern)
    calls = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        m = regex.search(path.with_suffix("").name)
        meta = m.groupdict() if m else {}
        calls.append(
            Call(
                call_id=meta.get("call_id") or path.relative_to(folder).with_suffix("").as_posix(),
                audio_path=str(path),
                agent_id=meta.get("agent_id", ""),
                team=meta.get("team", ""),
                started_at=_norm_time(meta.get("started_at", "")),
                layout="stereo",
            )
        )
    return calls


def discover(source: str | Path, pattern: str = DEFAULT_PATTERN) -> list[Call]:
    source = Path(source)
    if source.is_file():
        return read_manifest(source)
    if source.is_dir():
        manifest = source / "manifest.csv"
        return read_manifest(manifest) if manifest.exists() else scan_directory(source, pattern)
    raise BatchError(f"{source}: no such directory or manifest")
