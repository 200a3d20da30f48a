"""`qa coaching …`: coaching sessions. A coach opens one for an agent, the agent acknowledges it, the coach
closes it with an outcome; the weekly scorecard shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qa_pipeline.cli.common import DbOpt, JsonOpt, Typer, UserOpt, emit, open_store, out
from qa_pipeline.store import coaching

app = Typer(help="Coaching sessions: open, acknowledge, close, list, show.")


def _line(s: dict[str, Any]) -> str:
    late = " OVERDUE" if s["overdue"] else ""
    return (f"{s['session_id']} agent {s['agent_id']} coach {s['coach']} due {s['due_date']}{late} {s['status']}"
            + (f" ({s['outcome']})" if s["outcome"] else "") + f": {s['goals']}")


@app.command("open")
def coaching_open(
    agent: Annotated[str, typer.Option("--agent", help="The agent's id.")],
    goals: Annotated[str, typer.Option("--goals", help="What the agent is to work on.")],
    due: Annotated[str, typer.Option("--due", help="Due date, YYYY-MM-DD.")],
    db: DbOpt = Path("qa.db"), user: UserOpt = "",
    call: Annotated[list[str] | None, typer.Option("--call", help="A call it is about (repeatable).")] = None,
    finding: Annotated[list[str] | None, typer.Option("--finding", help="A finding key or id it is about "
                                                                         "(repeatable).")] = None,
    criterion: Annotated[list[str] | None, typer.Option("--criterion", help="A criterion to coach (repeatable; a "
                                                                             "finding's criterion is added).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Coaches and QA leads: open a coaching session for an agent."""
    session_id = coaching.open_session(open_store(db), user, agent, goals, due, call, finding, criterion)
    emit({"session_id": session_id}, as_json, lambda d: out.print(f"coaching session {d['session_id']} opened"))


@app.command("acknowledge")
def coaching_acknowledge(session_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
                         comment: Annotated[str, typer.Option("--comment", help="Optional comment.")] = "") -> None:
    """Agents: acknowledge a coaching session opened for you (once)."""
    coaching.acknowledge(open_store(db), user, session_id, comment)
    out.print(f"coaching session {session_id}: acknowledged", highlight=False)


@app.command("close")
def coaching_close(session_id: str,
                   outcome: Annotated[str, typer.Option("--outcome", help="met | partly_met | not_met")],
                   db: DbOpt = Path("qa.db"), user: UserOpt = "",
                   note: Annotated[str, typer.Option("--note")] = "") -> None:
    """The session's coach (or a QA lead): close it with an outcome. A closed session is final."""
    coaching.close_session(open_store(db), user, session_id, outcome, note)
    out.print(f"coaching session {session_id}: closed ({outcome})", highlight=False)


@app.command("list")
def coaching_list(db: DbOpt = Path("qa.db"), agent: Annotated[str, typer.Option("--agent")] = "",
                  coach: Annotated[str, typer.Option("--coach")] = "", team: Annotated[str, typer.Option("--team")] = "",
                  status: Annotated[str, typer.Option("--status", help="open | acknowledged | closed | overdue")] = "",
                  as_json: JsonOpt = False) -> None:
    """Coaching sessions, newest first."""
    rows = coaching.sessions(open_store(db), agent or None, coach or None, status or None, team or None)

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            out.print("no coaching sessions")
        for s in items:
            out.print(_line(s), highlight=False, markup=False, soft_wrap=True)
    emit(rows, as_json, render)


@app.command("show")
def coaching_show(session_id: str, db: DbOpt = Path("qa.db"), as_json: JsonOpt = False) -> None:
    """One session: goals, due date, calls and findings, acknowledgement and outcome."""
    def render(s: dict[str, Any]) -> None:
        out.print(_line(s), highlight=False, markup=False, soft_wrap=True)
        out.print(f"  criteria: {' '.join(s['criteria']) or '-'}", highlight=False, markup=False, soft_wrap=True)
        for i in s["items"]:
            out.print(f"  call {i['call_id']}" + (f" finding {i['finding_key']} ({i['rule_id']})" if i["finding_key"]
                                                  else ""), highlight=False, markup=False, soft_wrap=True)
        if s["acknowledged_at"]:
            out.print(f"  acknowledged by {s['acknowledged_by']} at {s['acknowledged_at']}: {s['ack_comment'] or ''}",
                      highlight=False, markup=False, soft_wrap=True)
        if s["closed_at"]:
            out.print(f"  closed by {s['closed_by']} at {s['closed_at']}: {s['outcome']} {s['outcome_note'] or ''}",
                      highlight=False, markup=False, soft_wrap=True)
    emit(coaching.session(open_store(db), session_id), as_json, render)
