"""The `qa` command: a thin face over the public API (``qa_pipeline``) and the store. Parse, call, render.

One module per command group; every command turns the product's errors into a message and the exit
status of docs/reference/exit-codes.md.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from qa_pipeline import __version__
from qa_pipeline.cli import (
    bench,
    calls,
    coaching,
    evaluate,
    models,
    nightly,
    queue,
    reports,
    review,
    rules,
    search,
    serve,
    users,
)
from qa_pipeline.cli.common import Typer, err, out
from qa_pipeline.errors import EXIT_INTERRUPTED

app = Typer(help="Offline speech quality assurance for call centres.", pretty_exceptions_enable=False,
            add_completion=False)


def _version(value: bool) -> None:
    if value:
        out.print(f"qa_pipeline {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False) -> None:
    """qa: transcribe, check, score and review call recordings, offline."""


for command in (calls.transcribe, calls.analyze, calls.tone, calls.redact, nightly.nightly, search.search,
                review.calibration, review.assist, reports.scorecard, serve.serve):
    app.command(command.__name__)(command)
for group, name in ((queue.app, "queue"), (review.review_app, "review"), (review.dispute_app, "dispute"),
                    (users.app, "users"), (coaching.app, "coaching"), (models.app, "models"), (rules.app, "rules"), (reports.report_app, "report"),
                    (evaluate.app, "eval"), (bench.app, "bench")):
    app.add_typer(group, name=name)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
