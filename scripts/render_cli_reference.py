"""Render docs/reference/cli.md from the `qa` Typer app, so the reference lists exactly the commands and
options the code has.

    .venv/bin/python scripts/render_cli_reference.py            # print it
    .venv/bin/python scripts/render_cli_reference.py --write    # rewrite docs/reference/cli.md

Run it after adding or changing a command; tests/unit/test_docs_reference.py fails while a command, an
option or an argument of the app has no entry in the file.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from qa_pipeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "reference" / "cli.md"

HEADER = """\
# CLI reference: `qa`

Every command and sub-command of `qa` with its arguments and options. This file is generated from the
command-line app itself (`qa_pipeline.cli.app`) by `scripts/render_cli_reference.py`; after changing a
command, run `.venv/bin/python scripts/render_cli_reference.py --write`. `tests/unit/test_docs_reference.py`
fails while a command, option or argument has no entry here.

Common to all commands:
- `qa COMMAND --help` prints the same information; `qa --version` prints the version.
- Exit statuses are those of [exit-codes.md](exit-codes.md): a configuration error is 4, a wrong command line
  or human input 2, and so on. An error the product expects is one line on stderr; only a bug (status 1)
  prints a traceback.
- `--config qa.yaml` is the file of [configuration.md](configuration.md) (default: `$QA_CONFIG`, else the
  built-in defaults). `--db` is the SQLite database (default `qa.db` in the working directory).
- `--json` prints machine-readable JSON on stdout instead of the human view.
- `--user` names who is acting: a user added with `qa users add` whose role allows the action.

How the commands are used, role by role: the guides for the [QA lead](../guide/qa-lead.md),
[coach](../guide/coach.md), [agent](../guide/agent.md), [HR](../guide/hr.md) and [admin](../guide/admin.md).
"""

# Meanings for the arguments and options whose code gives no help text, keyed by (command, name).
NOTES = {
    ("search", "TEXT"): "Words to find in the current transcripts (3+ characters use the trigram index).",
    ("search", "--limit"): "At most this many hits.",
    ("calibration", "--min-precision"): "A rule with at least `--min-n` verdicts and a lower precision is marked BELOW BAR.",
    ("calibration", "--min-kappa"): "A criterion with at least `--min-n` human scores and a lower Cohen's kappa is marked BELOW BAR.",
    ("calibration", "--min-n"): "Verdicts or human scores needed before a rule or criterion can be marked below the bar.",
    ("assist", "TARGET"): "A rule id (e.g. `zh.dont_know`) or a criterion id of the form.",
    ("assist", "--reason"): "Why; kept with the setting and in the audit log.",
    ("serve", "--port"): "TCP port to listen on.",
    ("queue list", "--team"): "Only this team.",
    ("queue list", "--agent"): "Only this agent id.",
    ("queue list", "--limit"): "At most this many items.",
    ("queue claim", "CALL_ID"): "Claim this call instead of the top of the queue.",
    ("queue release", "CALL_ID"): "The call to give back; only the user who claimed it can.",
    ("queue show", "CALL_ID"): "The call to show.",
    ("review submit", "CALL_ID"): "The call reviewed (its current machine result).",
    ("review submit", "--notes"): "Notes for the agent and the record.",
    ("dispute open", "REVIEW_ID"): "The review disputed (`qa queue show CALL_ID --json` gives it as `review.review_id`).",
    ("dispute open", "--reason"): "Why the agent disputes it.",
    ("dispute resolve", "DISPUTE_ID"): "The dispute to decide.",
    ("dispute resolve", "--note"): "The QA lead's note, kept with the decision.",
    ("users add", "NAME"): "Sign-in name of the user.",
}


def _paragraphs(text: str | None) -> str:
    """A docstring as markdown paragraphs (hard line breaks inside a paragraph joined)."""
    if not text:
        return ""
    blocks = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in block.splitlines()) for block in blocks)


def _type(param: Any, ctx: typer.Context) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    shown = param.display_type(ctx).strip("<>")
    shown = {"int range": "int", "float range": "float"}.get(shown, shown)
    if shown.startswith("list[") and shown.endswith("]"):
        shown = shown[5:-1]
    shown = shown.lower()
    bounds = [f"≥ {param.min}" if getattr(param, "min", None) is not None else "",
              f"≤ {param.max}" if getattr(param, "max", None) is not None else ""]
    return " ".join([shown, *[b for b in bounds if b]])


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if getattr(param, "is_flag", False):
        if param.secondary_opts:
            return f"`{param.opts[0] if value else param.secondary_opts[0]}`"
        return "off" if not value else "on"
    if value is None or value == "" or value == []:
        return "–"
    return f"`{value}`"


def _names(param: Any) -> str:
    if param.param_type_name == "argument":
        return f"`{param.name.upper()}`"
    return ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])


def _usage(path: list[str], command: Any) -> str:
    pieces = []
    for p in command.params:
        if p.param_type_name != "argument":
            continue
        name = p.name.upper() + ("..." if p.nargs == -1 else "")
        pieces.append(name if p.required else f"[{name}]")
    return " ".join(["qa", *path, "[OPTIONS]", *pieces])


def _command(path: list[str], command: Any, ctx: typer.Context, level: int) -> list[str]:
    title = " ".join(["qa", *path])
    lines = [f"{'#' * level} {title}", ""]
    if isinstance(command, typer.core.TyperGroup):
        lines += [_paragraphs(command.help), "", "Sub-commands: " + ", ".join(
            f"[`{name}`](#{'-'.join(['qa', *path, name])})" for name in command.list_commands(ctx)) + ".", ""]
        for name in command.list_commands(ctx):
            lines += _command([*path, name], command.commands[name], ctx, level + 1)
        return lines
    lines += [f"`{_usage(path, command)}`", "", _paragraphs(command.help), ""]
    params = [p for p in command.params if p.name != "help"]
    if params:
        lines += ["| argument / option | type | default | meaning |", "|---|---|---|---|"]
        for p in params:
            name = p.name.upper() if p.param_type_name == "argument" else p.opts[0]
            meaning = (p.help or NOTES.get((" ".join(path), name), "")).replace("|", "\\|").replace("<", "&lt;")
            if getattr(p, "multiple", False) and "repeatable" not in meaning:
                meaning = (meaning + " Repeatable.").strip()
            lines.append(f"| {_names(p)} | {_type(p, ctx)} | {_default(p)} | {meaning} |")
        lines.append("")
    return lines


def render() -> str:
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="qa")
    names = root.list_commands(ctx)
    lines = [HEADER, "## qa", "", _paragraphs(root.help), "",
             "| option | meaning |", "|---|---|", "| `--version` | Print the version and exit. |", "",
             "Commands: " + ", ".join(f"[`{n}`](#qa-{n})" for n in names) + ".", ""]
    for name in names:
        lines += _command([name], root.commands[name], ctx, 2)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> None:
    text = render()
    if "--write" in argv:
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
