"""The reference in docs/ covers what the code has, and the docs' links lead somewhere.

Generic on purpose: a command, option or configuration key added to the code fails here until it is
documented, and one removed from the code fails here until its entry goes.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

import qa_pipeline
from qa_pipeline.cli import app
from qa_pipeline.config import PATH_SECTIONS, SECTIONS, yaml_key

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "reference" / "cli.md"
CONFIG_DOC = DOCS / "reference" / "configuration.md"
API_DOC = DOCS / "reference" / "api.md"
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.MULTILINE | re.DOTALL)  # code blocks, also indented


def commands() -> dict[str, Any]:
    """Every command and group of the `qa` app by its full name ("qa queue claim"), groups included."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        found[" ".join(path)] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), ["qa"])
    return found


def sections(text: str) -> dict[str, str]:
    """Each heading's text (backticks dropped) → the body up to the next heading."""
    text = FENCE.sub("", text)
    marks = list(HEADING.finditer(text))
    return {m.group(2).replace("`", "").strip(): text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
            for i, m in enumerate(marks)}


def test_every_cli_command_and_group_has_an_entry_and_no_entry_is_stale() -> None:
    documented = {title for title in sections(CLI_DOC.read_text(encoding="utf-8")) if title.split()[0] == "qa"}
    code = set(commands())
    assert not code - documented, f"commands without a heading in {CLI_DOC.relative_to(ROOT)}: {sorted(code - documented)}"
    assert not documented - code, f"{CLI_DOC.relative_to(ROOT)} documents commands that do not exist: {sorted(documented - code)}"


def test_every_option_and_argument_is_listed_under_its_command() -> None:
    docs = sections(CLI_DOC.read_text(encoding="utf-8"))
    missing = []
    for name, command in commands().items():
        if name not in docs:
            continue  # reported by the test above
        for param in command.params:
            names = [param.name.upper()] if param.param_type_name == "argument" else [*param.opts, *param.secondary_opts]
            missing += [f"{name} {n}" for n in names if f"`{n}`" not in docs[name]]
    assert not missing, f"not in {CLI_DOC.relative_to(ROOT)} under their command: {missing}"


def nested(hint: Any) -> type | None:
    """The option class of a nested mapping (``alerts.email``) or list of mappings (``alerts.webhooks``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    for candidate in (hint, *args):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def config_keys() -> dict[str, tuple[Any, Any]]:
    """Every qa.yaml key a user may set, as ``section.key`` (``alerts.email.smtp_host`` for nested ones) → (type
    hint, default); a required key's default is ``REQUIRED``."""
    keys: dict[str, tuple[Any, Any]] = {}

    def walk(prefix: str, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            key = f"{prefix}.{yaml_key(f)}"
            if nested(hints[f.name]):
                walk(key, nested(hints[f.name]))
                continue
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            keys[key] = (hints[f.name], REQUIRED if f.metadata.get("required") else default)

    for section, cls in SECTIONS.items():
        walk(section, cls)
    return keys


REQUIRED = "required"  # written so (no backticks) in the default column


def config_rows() -> dict[str, list[str]]:
    """The rows of configuration.md's tables: key → [type, default, meaning]."""
    rows = {}
    for line in CONFIG_DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 4 and re.fullmatch(r"`[a-z_.]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_config_key_has_an_entry_and_no_entry_is_stale() -> None:
    rows = config_rows()
    code = set(config_keys()) | set(PATH_SECTIONS)
    assert not code - set(rows), f"qa.yaml keys without a row in {CONFIG_DOC.relative_to(ROOT)}: {sorted(code - set(rows))}"
    assert not set(rows) - code, f"{CONFIG_DOC.relative_to(ROOT)} documents keys that do not exist: {sorted(set(rows) - code)}"


TYPE_WORDS = {str: "text", int: "integer", float: "number", bool: "true/false", tuple: "list of text",
              list: "list of text"}


def type_word(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is dict:
        return f"mapping text → {type_word(args[1])}"
    if typing.get_origin(hint) in (tuple, list):
        return "list of text"
    if args and typing.get_origin(hint) is not None:  # X | None
        return type_word(args[0])
    return TYPE_WORDS[hint]


@pytest.mark.parametrize("key", sorted(config_keys()))
def test_documented_type_and_default_are_the_code_s(key: str) -> None:
    rows = config_rows()
    if key not in rows:
        pytest.skip("no row: reported by the test above")
    hint, default = config_keys()[key]
    kind, shown, _ = rows[key]
    assert kind == type_word(hint), f"{key}: documented as {kind!r}, the code's type is {type_word(hint)!r}"
    if default == REQUIRED or shown == REQUIRED:
        assert shown == default == REQUIRED, f"{key}: documented default {shown}, the code's is {default!r}"
        return
    value = yaml.safe_load(shown.strip("`"))
    expected = list(default) if isinstance(default, tuple) else default
    assert value == expected and isinstance(value, bool) == isinstance(expected, bool), (
        f"{key}: documented default {shown}, the code's is {expected!r}")


def test_every_name_of_the_public_api_is_documented() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    missing = [name for name in qa_pipeline.__all__ if not re.search(r"`" + re.escape(name) + r"\b", text)]
    assert not missing, f"public names (qa_pipeline.__all__) not in {API_DOC.relative_to(ROOT)}: {missing}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[`*_~]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for m in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_every_relative_link_in_the_readme_and_docs_points_to_an_existing_file() -> None:
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    assert len(pages) > 1, "docs/ is missing"
    broken = []
    for page in pages:
        for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, fragment = target.partition("#")
            dest = page if not file_part else (page.parent / file_part).resolve()
            where = f"{page.relative_to(ROOT)}: {target}"
            if not dest.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(f"{where} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)
