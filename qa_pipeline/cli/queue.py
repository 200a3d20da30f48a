"""`qa queue …` (the coach's queue) and `qa search`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qa_pipeline import to_dict
from qa_pipeline.cli.common import DbOpt, JsonOpt, Typer, UserOpt, clock, emit, fail, open_store, out
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store import queue as review_queue
from qa_pipeline.store.review import latest_review, require_role

app = Typer(help="The review queue: list, claim, show, release.")


@app.command("list")
def queue_list(db: DbOpt = Path("qa.db"), team: Annotated[str | None, typer.Option()] = None,
               agent: Annotated[str | None, typer.Option()] = None,
               kind: Annotated[str | None, typer.Option(help="Only calls with a finding of this kind.")] = None,
               week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W47.")] = None,
               status: Annotated[str, typer.Option(help="open | done")] = "open",
               limit: Annotated[int, typer.Option()] = 50, as_json: JsonOpt = False) -> None:
    """Queue items by priority (risk first, then the random sample and exemplary calls)."""
    rows = review_queue.list_queue(open_store(db), status, team, agent, kind, week, limit)

    def render(items: list[dict[str, Any]]) -> None:
        for r in items:
            claimed = f" [claimed by {r['claimed_by']}]" if r["claimed_by"] else ""
            out.print(f"{r['priority']:6.1f}  {r['call_id']:28s} {r['agent_id'] or '-':10s} {r['team'] or '-':8s} "
                      f"{r['week'] or '-':9s} {r['reason']}{claimed}", highlight=False, markup=False)
    emit(rows, as_json, render)


@app.command("claim")
def queue_claim(db: DbOpt = Path("qa.db"), user: UserOpt = "", call_id: Annotated[str | None, typer.Argument()] = None,
                ttl_minutes: Annotated[float | None, typer.Option(help="Claim expires after this long.")] = None,
                as_json: JsonOpt = False) -> None:
    """Claim the highest-priority open item (or CALL_ID). Two coaches never get the same item."""
    store = open_store(db)
    require_role(store, user, "coach", "qa_lead")
    item = review_queue.claim(store, user, call_id, ttl_minutes)
    if item is None:
        raise fail("nothing to claim", 1) if not as_json else typer.Exit(1)
    emit(item, as_json, lambda r: out.print(f"claimed {r['call_id']} (priority {r['priority']}): {r['reason']}",
                                            highlight=False))


@app.command("release")
def queue_release(call_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "") -> None:
    """Give a claimed item back to the queue."""
    if not review_queue.release(open_store(db), user, call_id):
        raise fail(f"{call_id} is not claimed by {user}", 1)
    out.print(f"released {call_id}")


@app.command("show")
def queue_show(call_id: str, db: DbOpt = Path("qa.db"), as_json: JsonOpt = False) -> None:
    """A call's transcript, findings (with keys for verdicts), score and latest review."""
    store = open_store(db)
    call = store.call(call_id)
    if call is None:
        raise fail(f"no call {call_id!r}", EXIT_USAGE)
    result = store.current_result(call_id)
    data = {"call": call, "findings": store.findings(call_id), "score": to_dict(result.score) if result else None,
            "segments": [{"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text}
                         for s in (result.transcript.segments if result else [])],
            "review": latest_review(store, call_id)}

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
        if d["review"]:
            out.print(f"review by {d['review']['reviewer']}: {d['review']['verdicts']} {d['review']['notes']}",
                      highlight=False, markup=False)
    emit(data, as_json, render)


def search(text: str, db: DbOpt = Path("qa.db"), limit: Annotated[int, typer.Option()] = 50,
           as_json: JsonOpt = False) -> None:
    """Full-text search over transcripts (Mandarin and English)."""
    rows = open_store(db).search(text, limit)
    emit(rows, as_json, lambda rs: [out.print(f"{r['call_id']} [{clock(float(r['start']))}] {r['speaker']}: {r['text']}",
                                              highlight=False, markup=False) for r in rs])
