"""Run configuration: one YAML file the QA lead edits (``qa.yaml``), defaults otherwise.

Unknown keys and wrong types fail fast with the file and the field named, so a
typo in cron's config is caught before a night's batch runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qa_pipeline.base.audio import DEFAULT_MAX_SECONDS
from qa_pipeline.stages.tone.emotion import ToneConfig
from qa_pipeline.stages.transcribe import TranscribeOptions


class ConfigError(ValueError):
    def __init__(self, path: str | Path, field_name: str, message: str, line: int | None = None):
        self.path, self.field, self.line = str(path), field_name, line
        where = f"{path}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {field_name}: {message}")


@dataclass
class AudioConfig:
    max_seconds: float = DEFAULT_MAX_SECONDS
    agent_channel: int = 0


@dataclass
class PrivacyConfig:
    """Who sees personal data, and how redacted audio sounds (pii.py)."""

    coach_view: str = "redacted"  # redacted | raw: what the review queue shows coaches
    audio_mode: str = "tone"  # tone (1 kHz) | silence over the redacted words
    pad_seconds: float = 0.15  # audio covered either side of the words
    min_digits: int = 6  # shorter digit strings (times, prices) are not personal data

    CHOICES = {"coach_view": ("redacted", "raw"), "audio_mode": ("tone", "silence")}


@dataclass
class QAConfig:
    asr: TranscribeOptions = field(default_factory=TranscribeOptions)
    audio: AudioConfig = field(default_factory=AudioConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    tone: ToneConfig = field(default_factory=ToneConfig)
    rules: list[str] = field(default_factory=list)  # a team's rule-pack folders/files (override defaults)
    form: str | None = None  # a team's scorecard form YAML (default: the packaged form)
    extra: dict[str, Any] = field(default_factory=dict)  # sections owned by later stages (queue, …)
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


def _line_of(path: Path, key: str) -> int | None:
    try:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip().startswith(f"{key}:"):
                return i
    except OSError:
        pass
    return None


def _build(cls: type, data: Any, path: Path, prefix: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(path, prefix, f"expected a mapping, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(path, f"{prefix}.{key}", f"unknown setting; known: {sorted(names)}", _line_of(path, key))
        default = getattr(defaults, key)
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if isinstance(default, bool) != isinstance(value, bool) or (
            default is not None and not isinstance(value, (type(default), int if isinstance(default, float) else type(default)))
        ):
            raise ConfigError(
                path, f"{prefix}.{key}", f"expected {type(default).__name__}, got {value!r}", _line_of(path, key)
            )
        kwargs[key] = float(value) if isinstance(default, float) else value
    return cls(**kwargs)


def load_config(path: str | Path | None = None) -> QAConfig:
    """Load ``path``, else $QA_CONFIG, else defaults."""
    path = path or os.environ.get("QA_CONFIG")
    if not path:
        return QAConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(path, "<file>", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(path, "<yaml>", str(getattr(exc, "problem", exc)), mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError(path, "<root>", "expected a mapping of sections")
    asr = _build(TranscribeOptions, data.pop("asr", None), path, "asr")
    audio = _build(AudioConfig, data.pop("audio", None), path, "audio")
    privacy = _build(PrivacyConfig, data.pop("privacy", None), path, "privacy")
    for key, allowed in PrivacyConfig.CHOICES.items():
        if getattr(privacy, key) not in allowed:
            raise ConfigError(path, f"privacy.{key}", f"must be one of {list(allowed)}, got {getattr(privacy, key)!r}",
                              _line_of(path, key))
    rules = data.pop("rules", [])
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ConfigError(path, "rules", "expected a path or a list of paths", _line_of(path, "rules"))
    form = data.pop("form", None)
    if form is not None and not isinstance(form, str):
        raise ConfigError(path, "form", "expected a path", _line_of(path, "form"))
    tone = _build(ToneConfig, data.pop("tone", None), path, "tone")
    return QAConfig(asr=asr, audio=audio, tone=tone, privacy=privacy, rules=rules, form=form, extra=data, source=str(path))
