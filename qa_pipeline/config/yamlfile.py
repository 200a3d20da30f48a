"""The one YAML loader of the files a QA lead edits (qa.yaml, rule packs, scorecard forms).

Every mapping and list it returns remembers the line of each key and item, so a mistake is reported with
the file, the line and the field; ``Reader`` validates one mapping of such a file against the fields it
knows and refuses the ones it does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from qa_pipeline.errors import ConfigError


class LineDict(dict):
    """A YAML mapping with ``line`` (its own) and ``lines`` (of each key)."""

    line: int = 0
    lines: dict[Any, int]


class LineList(list):
    """A YAML sequence with ``line`` (its own) and ``lines`` (of each item)."""

    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    out = LineDict()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def fail(error: type[ConfigError], path: str | Path, field_name: str, message: str, line: int | None) -> ConfigError:
    """An error of the given class: every ConfigError takes these four by name."""
    return error(path=path, field_name=field_name, message=message, line=line)


def load_yaml(path: str | Path, error: type[ConfigError] = ConfigError) -> Any:
    """Parse ``path``; an empty file is an empty mapping. Unreadable or invalid YAML raises ``error``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(error, path, "<file>", "not found", None) from None
    except OSError as exc:
        raise fail(error, path, "<file>", f"cannot read: {exc.strerror}", None) from None
    except UnicodeDecodeError as exc:
        raise fail(error, path, "<file>", f"not UTF-8 text ({exc.reason} at byte {exc.start})", None) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        context = getattr(exc, "context_mark", None)
        message = str(getattr(exc, "problem", None) or exc)
        if context is not None and mark is not None and context.line != mark.line:
            message += f" ({getattr(exc, 'context', '') or 'started'} at line {context.line + 1})"
        raise fail(error, path, "<yaml>", message, mark.line + 1 if mark else None) from None
    if data is None:
        data = LineDict()
        data.line, data.lines = 1, {}
    return data


class Reader:
    """Reads one mapping of a YAML file, naming file, line and field in every error."""

    def __init__(self, path: str | Path, data: Any, where: str, line: int | None = None,
                 error: type[ConfigError] = ConfigError):
        self.path, self.where, self.error_class = Path(path), where, error
        if not isinstance(data, dict):
            raise fail(error, path, where or "<root>", f"expected a mapping, got {type(data).__name__}",
                       getattr(data, "line", None) or line)
        self.data = data
        self.line = getattr(data, "line", line)
        self.used: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else str(key)

    def line_of(self, key: str) -> int | None:
        return getattr(self.data, "lines", {}).get(key, self.line)

    def error(self, key: str, message: str, line: int | None = None) -> ConfigError:
        return fail(self.error_class, self.path, self.field(key), message, line or self.line_of(key))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise fail(self.error_class, self.path, self.field(key), "required field is missing", self.line)
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(key, f"expected {names}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.get(key, list, [])
        lines = getattr(value, "lines", [])
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise fail(self.error_class, self.path, f"{self.field(key)}[{i}]",
                           f"expected a non-empty string, got {item!r}", lines[i] if i < len(lines) else self.line_of(key))
        return [str(v) for v in value]

    def unit(self, key: str, default: float) -> float:
        value = self.get(key, float, default)
        if key not in self.data:
            return value
        if not 0.0 < value <= 1.0:
            raise self.error(key, f"must be in (0, 1], got {value}")
        return value

    def finish(self) -> None:
        """Every key of the mapping was read: an unknown one (a typo) is an error."""
        for key in self.data:
            if key not in self.used:
                raise self.error(str(key), f"unknown field; known: {', '.join(sorted(self.used))}")

    def source(self) -> str:
        return f"{self.path}:{self.line}"
