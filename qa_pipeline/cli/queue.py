"""`qa queue …` (the coach's queue). `qa search` is in cli/search.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qa_pipeline import to_dict
from qa_pipeline.cli.common import DbOpt, JsonOpt, Typer, UserOpt, clock, emit, fail, open_store, out
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store import queue as review_queue
from qa_pipeline.store.review import current_review

app = Typer(help="The review queue: list, claim, show, release.")


TeamOpt = Annotated[str | None, typer.Option(help="Only this team.")]
AgentOpt = Annotated[str | None, typer.Option(help="Only this agent.")]
KindOpt = Annotated[str | None, typer.Option(help="Only calls with a finding of this kind.")]
WeekOpt = Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W47.")]
DayOpt = Annotated[str | None, typer.Option(help="YYYY-MM-DD: calls started that day.")]


@app.command("list")
def queue_list(db: DbOpt = Path("qa.db"), team: TeamOpt = None, agent: AgentOpt = None, kind: KindOpt = None,
               week: WeekOpt = None, day: DayOpt = None, status: Annotated[str, typer.Option(help="open | done")] = "open",
               limit: Annotated[int, typer.Option()] = 50,
               sort: Annotated[str, typer.Option(help="priority (risk first) | score (lowest first) | date (newest "
                                                      "first).")] = "priority",
               mine: Annotated[bool, typer.Option("--mine", help="Only the calls --user holds now (my claims).")] = False,
               user: UserOpt = "", as_json: JsonOpt = False) -> None:
    """Queue items by priority (risk first, then the random sample and exemplary calls), or by score or date."""
    if mine and not user:
        raise fail("--mine lists the claims of --user: give --user", EXIT_USAGE)
    rows = review_queue.list_queue(open_store(db), status, team, agent, kind, week, limit, day, sort,
                                   user if mine else None)

    def render(items: list[dict[str, Any]]) -> None:
        for r in items:
            claimed = f" [claimed by {r['claimed_by']}]" if r["claimed_by"] else ""
            score = "-" if r["score"] is None else f"{r['score']:.0f}"
            out.print(f"{r['priority']:6.1f}  {r['call_id']:28s} {score:>3s} {r['agent_id'] or '-':10s} {r['team'] or '-':8s} "
                      f"{r['week'] or '-':9s} {r['reason']}{claimed}", highlight=False, markup=False)
    emit(rows, as_json, render)


@app.command("claim")
def queue_claim(db: DbOpt = Path("qa.db"), user: UserOpt = "", call_id: Annotated[str | None, typer.Argument()] = None,
                ttl_minutes: Annotated[float | None, typer.Option(help="Claim expires after this long.")] = None,
                team: TeamOpt = None, agent: AgentOpt = None, kind: KindOpt = None, week: WeekOpt = None,
                day: DayOpt = None, as_json: JsonOpt = False) -> None:
    """Claim the highest-priority open item matching the filters, or CALL_ID (also a reviewed call, to review it
    again). The claim is a lease: only you can review the call until it expires. Two coaches never get the
    same item."""
    item = review_queue.claim(open_store(db), user, call_id, ttl_minutes, team, agent, kind, week, day)
    if item is None:
        raise fail("nothing to claim" + (" with these filters" if any((team, agent, kind, week, day)) else ""), 1) \
            if not as_json else typer.Exit(1)
    emit(item, as_json, lambda r: out.print(f"claimed {r['call_id']} until {r['expires']} (priority {r['priority']}): "
                                            f"{r['reason']}", highlight=False, markup=False))


@app.command("release")
def queue_release(call_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "") -> None:
    """Give a call you hold back to the queue (a call someone else holds: refused, exit 2)."""
    review_queue.release(open_store(db), user, call_id)
    out.print(f"released {call_id}")


@app.command("handover")
def queue_handover(call_id: str, to: Annotated[str, typer.Option("--to", help="The coach or QA lead who takes over.")],
                   db: DbOpt = Path("qa.db"), user: UserOpt = "",
                   ttl_minutes: Annotated[float | None, typer.Option(help="Their claim expires after this long.")] = None,
                   as_json: JsonOpt = False) -> None:
    """Hand a call you hold over to another reviewer (a QA lead may hand over anyone's, audited)."""
    item = review_queue.handover(open_store(db), user, call_id, to, ttl_minutes)
    emit(item, as_json, lambda r: out.print(f"{r['call_id']} handed over to {r['holder']} until {r['expires']}",
                                            highlight=False, markup=False))


@app.command("show")
def queue_show(call_id: str, db: DbOpt = Path("qa.db"), as_json: JsonOpt = False) -> None:
    """A call's transcript, findings (with keys for verdicts), score, claim and current review."""
    store = open_store(db)
    call = store.call(call_id)
    if call is None:
        raise fail(f"no call {call_id!r}", EXIT_USAGE)
    result = store.current_result(call_id)
    data = {"call": call, "findings": store.findings(call_id), "score": to_dict(result.score) if result else None,
            "segments": [{"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text}
                         for s in (result.transcript.segments if result else [])],
            "review": current_review(store, call_id), "claim": review_queue.lease(store, call_id)}

    def render(d: dict[str, Any]) -> None:
        c = d["call"]
        out.print(f"# {c['call_id']} · agent {c['agent_id']} · team {c['team']} · {c['started_at']} · "
                  f"score {d['score'] and d['score'].get('total')}", highlight=False, markup=False)
        for f in d["findings"]:
            if f["kind"] == "script_step" and f["status"] == "pass":
                continue
            out.print(f"  [{clock(f['start'])}] {f['finding_key']} {f['kind']}/{f['rule_id']} {f['speaker']}: "
                      f"{f['evidence']} ({f['status'] or f['severity']})", highlight=False, markup=False)
        for s in d["segments"]:
            out.print(f"[{clock(s['start'])}-{clock(s['end'])}] {s['speaker']}: {s['text']}", highlight=False, markup=False)
        if d["claim"]:
            out.print(f"claimed by {d['claim']['holder']} until {d['claim']['expires']}", highlight=False, markup=False)
        if d["review"]:
            out.print(f"review v{d['review']['version']} by {d['review']['reviewer']}: {d['review']['verdicts']} "
                      f"{d['review']['notes']}", highlight=False, markup=False)
    emit(data, as_json, render)
