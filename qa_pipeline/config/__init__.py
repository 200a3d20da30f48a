"""Run configuration: one YAML file the QA lead edits (``qa.yaml``), defaults otherwise.

Strict: an unknown section or key, a wrong type or a value out of range stops the command before any
call is processed, with the file, the line and the field named (exit status 4).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.config.options import (
    DEFAULT_MAX_SECONDS,
    ZH_PROMPT,
    AlertsConfig,
    AudioConfig,
    DiarizeOptions,
    PrivacyConfig,
    QueueConfig,
    ReportConfig,
    ReviewConfig,
    ToneConfig,
    TranscribeOptions,
)
from qa_pipeline.config.yamlfile import LineDict, Reader, load_yaml
from qa_pipeline.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_SECONDS", "ZH_PROMPT", "AlertsConfig", "AudioConfig", "ConfigError", "DiarizeOptions", "PrivacyConfig",
    "QAConfig", "QueueConfig", "ReportConfig", "ReviewConfig", "SECTIONS", "ToneConfig", "TranscribeOptions", "load_config",
    "yaml_key",
]


@dataclass
class QAConfig:
    asr: TranscribeOptions = field(default_factory=TranscribeOptions)
    audio: AudioConfig = field(default_factory=AudioConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    tone: ToneConfig = field(default_factory=ToneConfig)
    diarization: DiarizeOptions = field(default_factory=DiarizeOptions)
    queue: QueueConfig = field(default_factory=QueueConfig)
    reports: ReportConfig = field(default_factory=ReportConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    rules: list[str] = field(default_factory=list)  # a team's rule-pack folders/files (override defaults)
    form: str | None = None  # a team's scorecard form YAML (default: the packaged form)
    # Rules and criteria a QA lead put in assist mode (shown to coaches, not scored): not a qa.yaml
    # section; the nightly run reads them from the database.
    assist: tuple[str, ...] = ()
    source: str = "<defaults>"

    def rule_paths(self) -> list[Path] | None:
        return [self._relative(p) for p in self.rules] or None

    def form_path(self) -> Path | None:
        return self._relative(self.form) if self.form else None

    def _relative(self, value: str) -> Path:
        # Paths in qa.yaml are relative to the file, so a config folder can move as a whole.
        path = Path(value).expanduser()
        if not path.is_absolute() and self.source != "<defaults>":
            path = Path(self.source).parent / path
        return path


# qa.yaml's sections and the option class of each (rules and form are paths, read below).
SECTIONS: dict[str, type] = {
    "asr": TranscribeOptions, "audio": AudioConfig, "privacy": PrivacyConfig, "tone": ToneConfig,
    "diarization": DiarizeOptions, "queue": QueueConfig, "reports": ReportConfig, "review": ReviewConfig,
    "alerts": AlertsConfig,
}
PATH_SECTIONS = ("rules", "form")


def _check_value(reader: Reader, key: str, value: Any, hint: Any, default: Any) -> Any:
    """``value`` converted to the field's type, or a ConfigError naming the field."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):  # a nested mapping (alerts.email)
        return build_section(hint, value, reader.path, reader.field(key), reader.line_of(key))
    if origin is list and args and dataclasses.is_dataclass(args[0]):  # a list of mappings (alerts.webhooks)
        if not isinstance(value, list):
            raise reader.error(key, f"expected a list of mappings, got {value!r}")
        lines = getattr(value, "lines", [])
        return [build_section(args[0], item, reader.path, f"{reader.field(key)}[{i}]",
                              lines[i] if i < len(lines) else reader.line_of(key)) for i, item in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise reader.error(key, f"expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and not isinstance(value, int)):
            raise reader.error(key, f"expected {'an integer' if hint is int else 'a number'}, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise reader.error(key, f"expected text, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise reader.error(key, f"expected a list of text, got {value!r}")
        return origin(value)
    if origin is dict and typing.get_origin(args[1]) in (tuple, list):
        return _check_lists(reader, key, value, typing.get_origin(args[1]))
    if origin is dict:
        value_type = args[1]
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, value_type if value_type is not float else (int, float))
                and not isinstance(v, bool) for k, v in value.items()):
            raise reader.error(key, f"expected a mapping of text to {value_type.__name__}, got {value!r}")
        return {k: value_type(v) for k, v in value.items()}
    raise reader.error(key, f"unsupported option type {hint!r}")  # pragma: no cover - a programming error


def _check_lists(reader: Reader, key: str, value: Any, kind: type) -> dict[str, Any]:
    """A mapping of text to lists of text (``asr.vocabulary``), each wrong item named with its own line."""
    if not isinstance(value, dict):
        raise reader.error(key, f"expected a mapping of text to lists of text, got {value!r}")
    out: dict[str, Any] = {}
    for name, items in value.items():
        line = line_of(value, name)
        if not isinstance(name, str):
            raise reader.error(f"{key}.{name}", "expected text as the key", line)
        if not isinstance(items, list):
            raise reader.error(f"{key}.{name}", f"expected a list of text, got {items!r}", line)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                lines = getattr(items, "lines", [])
                raise reader.error(f"{key}.{name}[{i}]", f"expected text, got {item!r}",
                                   lines[i] if i < len(lines) else line)
        out[name] = kind(items)
    return out


def _line_of_field(data: Any, dotted: str) -> int | None:
    """The line of a field such as ``vocabulary.zh[2]`` in a mapping from ``load_yaml``: the deepest part found."""
    line = None
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        if name and isinstance(data, dict) and name in data:
            line, data = line_of(data, name) or line, data[name]
        elif index and isinstance(data, list) and int(index) < len(data):
            lines = getattr(data, "lines", [])
            line, data = (lines[int(index)] if int(index) < len(lines) else line), data[int(index)]
        else:
            break
    return line


def yaml_key(f: dataclasses.Field) -> str:
    """A field's key in qa.yaml: its name, unless that is a Python keyword (``from`` of alerts.email)."""
    return f.metadata.get("key", f.name)


def build_section(cls: type, data: Any, path: Path, section: str, line: int | None = None) -> Any:
    """An option class from one section (or nested mapping) of qa.yaml: unknown keys, missing required ones,
    wrong types, choices and bounds are errors."""
    if data is None:
        return cls()
    reader = Reader(path, data, section, line)
    known = sorted(yaml_key(f) for f in dataclasses.fields(cls) if not f.metadata.get("internal"))
    for key in reader.data:  # a typo first: it is also why a required key looks missing
        if key not in known:
            raise reader.error(str(key), f"unknown setting; known: {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = yaml_key(f)
        if f.metadata.get("internal"):
            continue
        if key not in reader.data:
            if f.metadata.get("required"):
                raise reader.error(key, "required field is missing", reader.line)
            continue
        reader.used.add(key)
        value = _check_value(reader, key, reader.data[key], hints[f.name], None)
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            raise reader.error(key, f"must be one of {', '.join(f.metadata['choices'])}, got {value!r}")
        low, high = f.metadata.get("min"), f.metadata.get("max")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (low is not None and value < low) or (high is not None and value > high)):
            bounds = f"at least {low}" if high is None else f"at most {high}" if low is None else f"within {low}..{high}"
            raise reader.error(key, f"must be {bounds}, got {value!r}")
        kwargs[f.name] = value
    options = cls(**kwargs)
    problem = options.check() if hasattr(options, "check") else None
    if problem:
        raise reader.error(*problem, line=_line_of_field(reader.data, problem[0]))
    return options


def load_config(path: str | Path | None = None) -> QAConfig:
    """Load ``path``, else $QA_CONFIG, else defaults."""
    path = path or os.environ.get("QA_CONFIG")
    if not path:
        return QAConfig()
    path = Path(path)
    data = load_yaml(path)
    top = Reader(path, data, "")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        top.used.add(name)
        sections[name] = build_section(cls, data.get(name), path, name)
    rules = top.get("rules", (str, list), [])
    if isinstance(rules, str):
        rules = [rules]
    if not all(isinstance(r, str) and r.strip() for r in rules):
        raise top.error("rules", "expected a path or a list of paths")
    form = top.get("form", str, None)
    for key in data:
        if key not in top.used:
            raise top.error(str(key), f"unknown section; known: {', '.join([*SECTIONS, *PATH_SECTIONS])}")
    config = QAConfig(rules=list(rules), form=form, source=str(path), **sections)
    config.reports = dataclasses.replace(config.reports, form=str(config.form_path()) if form else None)
    return config


def line_of(data: Any, key: str) -> int | None:
    """The line of ``key`` in a mapping from ``load_yaml`` (None for plain dicts)."""
    return data.lines.get(key) if isinstance(data, LineDict) else None
