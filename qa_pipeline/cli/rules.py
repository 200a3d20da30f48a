"""`qa rules check`: a team's rule pack validated, with the defaults under it, and its examples run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import qa_pipeline as qa
from qa_pipeline.cli.common import JsonOpt, Typer, err, out, write_json
from qa_pipeline.errors import EXIT_CONFIG

app = Typer(help="Rule packs: validate and run their examples.")


def _languages(paths: list[Path]) -> list[str]:
    """The languages the given files declare; a folder may hold zh/ and en/ subfolders, or only one."""
    languages: list[str] = []
    errors: list[qa.RulePackError] = []
    for hint in ("zh", "en"):
        try:
            for path in qa.pack_files(paths, hint)[len(qa.pack_files(None, hint)):]:
                lang = qa.read_pack_file(path)["language"]
                languages += [lang] if lang and lang not in languages else []
        except qa.RulePackError as exc:
            errors.append(exc)
    if len(errors) == 2 or (errors and not languages):
        raise errors[0]
    return languages


@app.command("check")
def rules_check(
    paths: Annotated[list[Path], typer.Argument(help="Rule pack files or folders.")],
    language: Annotated[str, typer.Option("--language", help="zh | en: the defaults they extend.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Validate a rule pack (with the defaults under it) and run every example; non-zero exit on any error."""
    report = []
    for lang in ([language] if language else _languages(paths)) or ["zh", "en"]:
        pack = qa.load_rule_pack(paths, lang)
        failures = qa.check_rule_examples(pack) + qa.check_step_examples(pack)
        n_examples = sum(len(x.examples.positive) + len(x.examples.negative)
                         for x in [*pack.rules.values(), *pack.steps.values()])
        report.append({"language": lang, "version": pack.version, "files": pack.files, "rules": len(pack.rules),
                       "steps": len(pack.steps), "examples": n_examples, "failures": [str(f) for f in failures]})
    if as_json:
        write_json(report)
    else:
        for r in report:
            out.print(f"{r['language']}: {r['rules']} rules, {r['steps']} steps, {r['examples']} examples, "
                      f"{len(r['failures'])} failing · {r['version']}", highlight=False, soft_wrap=True)
            for f in r["failures"]:
                err.print(f"  {f}", highlight=False, markup=False, soft_wrap=True)
    if any(r["failures"] for r in report):
        raise typer.Exit(EXIT_CONFIG)
