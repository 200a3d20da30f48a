"""What a night's batch is made of: a manifest CSV of calls, or a folder of recordings whose file names
carry agent, time and call id.

Nothing is dropped without a word: a manifest with a bad row stops the night before any call (ManifestError,
naming file, line and column); a recording that cannot be a call (a symlink to nothing, a directory or a
named pipe called x.wav, a file name without agent and time) is ``Rejected`` with its reason, before anything
opens it; other files of a folder are listed as ignored. Audio paths are absolute, so the web app finds the
recordings wherever it is started.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from qa_pipeline.base.audio import check_regular
from qa_pipeline.contracts import Call
from qa_pipeline.errors import AudioError, ManifestError

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".au", ".aiff", ".aif"}


# <agent>_<YYYYmmdd[T]HHMMSS>_<call id>.<ext>, e.g. a1023_20261120T093015_c88231.wav
DEFAULT_PATTERN = r"(?P<agent_id>[^_/]+)_(?P<started_at>\d{8}T?\d{6})_(?P<call_id>[^/]+?)$"

MANIFEST_COLUMNS = ("call_id", "path", "agent_id", "team", "started_at", "language", "layout", "agent_channel",
                    "call_type", "direction")
# What the product needs of every call: who (scorecards per agent and team) and when (the ISO week).
REQUIRED_COLUMNS = ("call_id", "path", "agent_id", "team", "started_at")
# The product's languages (rule packs exist for these): a call in another language would be checked against
# the wrong pack.
CHOICES = {"layout": ("stereo", "mono"), "agent_channel": ("0", "1"), "direction": ("inbound", "outbound"),
           "language": ("auto", "zh", "en")}


@dataclass
class Rejected:
    """A discovered recording that is not processed, and why (an AudioError reason)."""

    path: str
    call_id: str
    reason: str
    detail: str


@dataclass
class Night:
    source: str
    calls: list[Call] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files of a folder scan without an audio extension
    empty_because: str = ""  # what an empty night found, for its message

    @property
    def languages(self) -> set[str]:
        return {c.language for c in self.calls}


def _norm_time(value: str) -> str:
    value = value.strip()
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})T?(\d{2})(\d{2})(\d{2})", value)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    return value


def _time_problem(value: str) -> str | None:
    """Why ``value`` is not the date and time of a call, or None."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not a date and time that exists (use 2026-11-20T09:30:15)"
    if not 2000 <= when.year <= 2100:
        return f"{value!r}: year {when.year} is not the date of a recording"
    return None


def absolute(path: str | Path) -> Path:
    """An absolute, normalised path that keeps the symbolic links the operator named."""
    return Path(os.path.abspath(path))


# ------------------------------------------------------------------ manifests


def _decode(path: Path, raw: bytes) -> str:
    """The manifest's text; anything but UTF-8 is an error naming the line and the column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        start = raw.rfind(b"\n", 0, exc.start) + 1
        prefix = raw[start : exc.start].decode("latin-1")
        index = len(next(csv.reader([prefix]))) - 1 if prefix else 0
        header_end = raw.find(b"\n")
        try:
            header = next(csv.reader([raw[: header_end if header_end >= 0 else len(raw)].decode("utf-8-sig")]))
        except UnicodeDecodeError:
            header = []
        column = header[index].strip() if index < len(header) else f"column {index + 1}"
        try:
            raw.decode("gb18030")
            guess = " It reads as GBK/GB18030 (what Excel saves Chinese CSV as)"
        except UnicodeDecodeError:
            guess = ""
        raise ManifestError(path, column, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}).{guess}: save the manifest as "
                            "'CSV UTF-8' and run again", line) from None


def read_manifest(path: Path) -> Night:
    """A manifest CSV: one row per call; paths relative to the manifest's folder. Every row is checked before
    any call runs; the first bad one raises ManifestError."""
    path = absolute(path)
    try:
        check_regular(path)  # a manifest.csv that is a named pipe would hang the night
    except AudioError as exc:
        raise ManifestError(path, "<file>", exc.detail or exc.reason) from None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(path, "<file>", f"cannot read: {exc.strerror or exc}") from None
    rows = csv.reader(io.StringIO(_decode(path, raw), newline=""))
    try:
        header = [h.strip() for h in next(rows)]
    except StopIteration:
        raise ManifestError(path, "<header>", "empty file: no header line (columns: "
                            f"{', '.join(MANIFEST_COLUMNS)})", 1) from None
    except csv.Error as exc:
        raise ManifestError(path, "<header>", f"not a CSV file: {exc}", 1) from None
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    if unknown:
        raise ManifestError(path, unknown[0], f"unknown column; known: {', '.join(MANIFEST_COLUMNS)}", 1)
    if len(set(header)) != len(header):
        raise ManifestError(path, next(h for h in header if header.count(h) > 1), "column appears twice", 1)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(path, missing[0], f"required column is missing (has {', '.join(header)})", 1)
    night = Night(source=str(path))
    seen: dict[str, int] = {}
    try:
        for values in rows:
            line = rows.line_num
            if not any(v.strip() for v in values):
                continue  # a blank line
            if len(values) != len(header):
                raise ManifestError(path, "<row>", f"{len(values)} fields, the header has {len(header)}", line)
            row = {h: v.strip() for h, v in zip(header, values)}
            night.calls.append(_call(path, line, row, seen))
    except csv.Error as exc:
        raise ManifestError(path, "<row>", f"not valid CSV: {exc}", rows.line_num) from None
    if not night.calls:
        night.empty_because = "the manifest has a header and no rows"
    night.rejected = [r for r in (_refusal(c) for c in night.calls) if r]
    refused = {r.call_id for r in night.rejected}
    night.calls = [c for c in night.calls if c.call_id not in refused]
    return night


def _call(path: Path, line: int, row: dict[str, str], seen: dict[str, int]) -> Call:
    def bad(column: str, message: str) -> ManifestError:
        return ManifestError(path, column, message, line)

    for column in REQUIRED_COLUMNS:
        if not row[column]:
            raise bad(column, "required, but empty")
    call_id = row["call_id"]
    if call_id in seen:
        raise bad("call_id", f"duplicate call_id {call_id!r} (first on line {seen[call_id]})")
    seen[call_id] = line
    started_at = _norm_time(row["started_at"])
    problem = _time_problem(started_at)
    if problem:
        raise bad("started_at", problem)
    for column, choices in CHOICES.items():
        if row.get(column) and row[column] not in choices:
            raise bad(column, f"must be {' or '.join(choices)}, not {row[column]!r}")
    channel = int(row.get("agent_channel") or "0")
    audio = Path(row["path"])
    return Call(
        call_id=call_id,
        audio_path=str(absolute(audio if audio.is_absolute() else path.parent / audio)),
        agent_id=row["agent_id"],
        team=row["team"],
        started_at=started_at,
        direction=row.get("direction") or "inbound",
        language=row.get("language") or "auto",
        layout=row.get("layout") or "stereo",  # type: ignore[arg-type]
        agent_channel=channel,
        caller_channel=1 - channel,
        call_type=row.get("call_type") or "default",
    )


def _refusal(call: Call) -> Rejected | None:
    """A recording that is not a regular file, refused before anything opens it."""
    try:
        check_regular(call.audio_path)
    except AudioError as exc:
        return Rejected(call.audio_path, call.call_id, exc.reason, exc.detail)
    return None


# ------------------------------------------------------------------ folders


def scan_directory(folder: Path, pattern: str = DEFAULT_PATTERN) -> Night:
    """Recordings in a folder tree, metadata from their file names (``pattern``: named groups agent_id,
    started_at, call_id and optionally team)."""
    folder = absolute(folder)
    regex = re.compile(pattern)
    night = Night(source=str(folder))
    first: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            if not path.is_dir():
                night.ignored.append(str(path))
            continue
        relative = path.relative_to(folder).with_suffix("").as_posix()
        m = regex.search(path.with_suffix("").name)
        meta = {k: (v or "").strip() for k, v in (m.groupdict() if m else {}).items()}
        call = Call(call_id=meta.get("call_id") or relative, audio_path=str(path), agent_id=meta.get("agent_id", ""),
                    team=meta.get("team", ""), started_at=_norm_time(meta.get("started_at", "")), layout="stereo")
        refusal = _refusal(call) or _name_problem(call, path, m is not None, pattern, first)
        if refusal:
            night.rejected.append(refusal)
            continue
        first[call.call_id] = str(path)
        night.calls.append(call)
    if not night.calls and not night.rejected:
        night.empty_because = (f"the folder holds no audio files ({len(night.ignored)} other files ignored)"
                               if night.ignored else "the folder is empty")
    return night


def _name_problem(call: Call, path: Path, matched: bool, pattern: str, first: dict[str, str]) -> Rejected | None:
    """Why a file name does not give a call (who and when), or None."""
    def rejected(detail: str) -> Rejected:
        return Rejected(str(path), call.call_id, "bad_name", detail)

    if not matched:
        return rejected(f"the file name does not match the pattern {pattern} (agent, date and time, call id)")
    for group in ("agent_id", "started_at"):
        if not getattr(call, group):
            return rejected(f"the file name gives no {group} (pattern {pattern})")
    problem = _time_problem(call.started_at)
    if problem:
        return rejected(f"started_at {problem}")
    if call.call_id in first:
        return rejected(f"duplicate call id {call.call_id!r} (also {first[call.call_id]})")
    return None


def discover(source: str | Path, pattern: str = DEFAULT_PATTERN) -> Night:
    source = absolute(source)
    if source.is_dir():
        manifest = source / "manifest.csv"
        return read_manifest(manifest) if manifest.exists() else scan_directory(source, pattern)
    if source.is_file():
        return read_manifest(source)
    if source.exists():
        raise ManifestError(source, "<source>", "not a directory or a manifest file")
    raise ManifestError(source, "<source>", "no such directory or manifest")
