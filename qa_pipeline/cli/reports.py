"""Reports: `qa scorecard` for HR and `qa report daily` for QA leads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

import qa_pipeline as qa
from qa_pipeline.cli.common import ConfigOpt, DbOpt, Typer, err, fail, load_settings, open_store, write_output
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store import validate

report_app = Typer(help="Reports for QA leads: the daily team report.")
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")]


def scorecard(
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W47.")],
    team: Annotated[str | None, typer.Option("--team", help="Only this team.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx | html | json")] = "csv",
    out_path: OutOpt = None,
    db: DbOpt = Path("qa.db"),
    config: ConfigOpt = None,
) -> None:
    """Weekly agent scorecard for HR: one row per agent, human decisions first, tiers, trend."""
    if fmt not in qa.FORMATS:
        raise fail(f"--format must be one of {', '.join(qa.FORMATS)}, not {fmt!r}", EXIT_USAGE)
    validate.iso_week(week)  # a week that does not exist: exit 2 with why
    if fmt == "xlsx" and out_path is None and sys.stdout.isatty():
        raise fail("xlsx is binary: give --out FILE.xlsx", EXIT_USAGE)
    settings = load_settings(config).reports
    card = qa.weekly_scorecard(open_store(db), week, team, agent, settings)
    if not card.rows:
        err.print(f"no calls in {week}" + (f" for team {team}" if team else "") + (f" for agent {agent}" if agent else ""),
                  highlight=False)
    write_output(qa.render_scorecard(card, fmt), out_path, f"scorecard {week} ({len(card.rows)} agents)")


@report_app.command("daily")
def report_daily(
    date: Annotated[str, typer.Option("--date", help="YYYY-MM-DD: the day the calls were taken.")],
    fmt: Annotated[str, typer.Option("--format", help="json | html | csv")] = "json",
    out_path: OutOpt = None,
    db: DbOpt = Path("qa.db"),
    config: ConfigOpt = None,
) -> None:
    """Daily team report: calls processed, flags by kind, queue backlog, recurring findings, training examples."""
    if fmt not in qa.DAILY_FORMATS:
        raise fail(f"--format must be one of {', '.join(qa.DAILY_FORMATS)}, not {fmt!r}", EXIT_USAGE)
    validate.day(date)
    report = qa.daily_report(open_store(db), date, load_settings(config).reports)
    write_output(qa.render_daily(report, fmt), out_path, f"daily report {date} ({report.calls} calls)")
