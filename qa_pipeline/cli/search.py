"""`qa search`: calls by words (Mandarin and English), speaker, findings, score, tone and metadata; saved
searches per user; a table, JSON or formula-safe CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

import qa_pipeline as qa
from qa_pipeline.cli.common import (
    ConfigOpt,
    DbOpt,
    clock,
    err,
    fail,
    load_settings,
    open_store,
    out,
    write_json,
    write_output,
)
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store import search as finder

Opt = typer.Option
FORMATS = ("table", "json", "csv")


def search(
    text: Annotated[str, typer.Argument(help="Words to find (any length: 退款, refund).")] = "",
    db: DbOpt = Path("qa.db"),
    speaker: Annotated[str | None, Opt(help="The words were said by: agent | caller | unknown.")] = None,
    kind: Annotated[str | None, Opt(help="Calls with a finding of this kind (banned_phrase, tone, ...).")] = None,
    rule: Annotated[str | None, Opt(help="Calls with a finding of this rule id.")] = None,
    min_score: Annotated[float | None, Opt(help="Machine score at least.")] = None,
    max_score: Annotated[float | None, Opt(help="Machine score at most.")] = None,
    min_agitation: Annotated[float | None, Opt(help="Tone: agitation (0..1) at least.")] = None,
    agitation_of: Annotated[str, Opt(help="Whose agitation: either | agent | caller.")] = "either",
    team: Annotated[str | None, Opt(help="Only this team.")] = None,
    agent: Annotated[str | None, Opt(help="Only this agent.")] = None,
    date_from: Annotated[str | None, Opt("--from", help="YYYY-MM-DD: calls started on or after.")] = None,
    date_to: Annotated[str | None, Opt("--to", help="YYYY-MM-DD: calls started on or before.")] = None,
    call_type: Annotated[str | None, Opt(help="Only this call type (inbound_service, complaint, ...).")] = None,
    direction: Annotated[str | None, Opt(help="inbound | outbound.")] = None,
    limit: Annotated[int, Opt(help="At most this many calls.")] = 100,
    fmt: Annotated[str, Opt("--format", help="table | json | csv (formula-safe).")] = "table",
    as_json: Annotated[bool, Opt("--json", help="Same as --format json.")] = False,
    output: Annotated[Path | None, Opt("--output", "-o", help="Write the CSV/JSON here instead of stdout.")] = None,
    user: Annotated[str, Opt("--user", help="Whose saved searches (--save, --saved, --list-saved, --delete-saved).")] = "",
    save: Annotated[str | None, Opt(help="Save these words and filters as NAME for --user.")] = None,
    saved: Annotated[str | None, Opt(help="Run --user's saved search NAME (or id) instead.")] = None,
    list_saved: Annotated[bool, Opt("--list-saved", help="List --user's saved searches.")] = False,
    delete_saved: Annotated[str | None, Opt(help="Delete --user's saved search NAME (or id).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Find calls by words (Mandarin and English, any length), speaker, finding kind or rule, score, tone
    and metadata; newest first, with the matching lines. With the privacy setting `coach_view: redacted`
    (the default) the lines shown have personal data covered, as in the web app."""
    fmt = "json" if as_json else fmt
    if fmt not in FORMATS:
        raise fail(f"--format must be table, json or csv, not {fmt!r}", EXIT_USAGE)
    if (save or saved or list_saved or delete_saved) and not user:
        raise fail("saved searches belong to a user: give --user", EXIT_USAGE)
    store = open_store(db)
    if list_saved or delete_saved:
        if delete_saved:
            finder.delete_saved(store, user, delete_saved)
            out.print(f"deleted {delete_saved}", highlight=False, markup=False)
        if list_saved:
            show_saved(finder.saved_searches(store, user), fmt)
        return
    if saved:
        calls = finder.run_saved(store, user, saved, limit if limit != 100 else None)
    else:
        query = finder.SearchQuery(text, speaker, kind, rule, min_score, max_score, min_agitation, agitation_of, team,
                                   agent, date_from, date_to, call_type, direction, limit)
        calls = finder.search_calls(store, query)
        if save:
            search_id = finder.save_search(store, user, save, query)
            err.print(f"saved as {save!r} ({search_id})", highlight=False, markup=False)
    privacy = load_settings(config).privacy
    if privacy.coach_view == "redacted":
        calls = finder.redact_hits(store, calls, lambda r: qa.redact_transcript(r.transcript, r.findings, privacy))
    if fmt == "csv":
        write_output(qa.render_csv(finder.CSV_HEADER, finder.csv_rows(calls)), output, "search results")
    elif fmt == "json" and output is None:
        write_json(calls)
    elif fmt == "json":
        write_output((json.dumps(calls, ensure_ascii=False, indent=2, default=str) + "\n").encode(), output,
                     "search results")
    else:
        table(calls)


def table(calls: list[dict[str, Any]]) -> None:
    for c in calls:
        score = "-" if c["score"] is None else f"{c['score']:.0f}"
        out.print(f"{c['call_id']:28s} {c['started_at'] or '-':19s} {c['agent_id'] or '-':10s} {c['team'] or '-':10s} "
                  f"score {score:>3s}", highlight=False, markup=False)
        for h in c["hits"]:
            out.print(f"    [{clock(float(h['start']))}] {h['speaker']}: {h['text']}", highlight=False, markup=False)
    out.print(f"{len(calls)} call(s)", highlight=False, markup=False)


def show_saved(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        write_json(rows)
        return
    for r in rows:
        filters = " ".join(f"{k}={v}" for k, v in r["query"].items())
        out.print(f"{r['name']:24s} {r['search_id']}  {filters}", highlight=False, markup=False)

