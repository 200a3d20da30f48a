"""`qa users …`: who may sign in, with which role, and offboarding (disable, enable, remove, passwd).

Run by whoever administers the database file; the audit log names them as ``admin:<login name>``."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from qa_pipeline.cli.common import DbOpt, JsonOpt, Typer, emit, fail, open_store, out
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store import users
from qa_pipeline.store.auth import hash_password

app = Typer(help="Users and roles: add, list, disable, enable, remove, passwd.")
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")]


def _admin() -> str:
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):
        return "admin"


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise fail("a password has at least 8 characters", EXIT_USAGE)
    return password


@app.command("add")
def users_add(name: str, role: Annotated[str, typer.Option(help="coach | qa_lead | hr | agent")],
              db: DbOpt = Path("qa.db"), agent_id: Annotated[str | None, typer.Option(help="For agents: their agent id.")] = None,
              password_stdin: StdinOpt = False) -> None:
    """Add a user, or change a user's role (a new password given here ends their sessions)."""
    password_hash = hash_password(_read_password()) if password_stdin else None
    users.add_user(open_store(db, must_exist=False), name, role, agent_id, password_hash, actor=_admin())
    out.print(f"user {name}: {role}", highlight=False, markup=False)


@app.command("list")
def users_list(db: DbOpt = Path("qa.db"), as_json: JsonOpt = False) -> None:
    """Every user: role, agent id, disabled or not, open web sessions."""
    def render(rows: list[dict[str, Any]]) -> None:
        for u in rows:
            state = f"disabled {u['disabled_at']}" if u["disabled_at"] else "active"
            out.print(f"{u['name']:24s} {u['role']:8s} {u['agent_id'] or '-':14s} {state:28s} "
                      f"{u['sessions']} session(s){'' if u['has_password'] else ', no password'}",
                      highlight=False, markup=False)
    emit(users.users(open_store(db)), as_json, render)


@app.command("disable")
def users_disable(name: str, db: DbOpt = Path("qa.db")) -> None:
    """Stop a user signing in or acting; their sessions end and their claims go back to the queue."""
    done = users.disable(open_store(db), name, _admin())
    out.print(f"user {name} disabled: {done['sessions_ended']} session(s) ended, "
              f"{len(done['claims_released'])} claim(s) released", highlight=False, markup=False)


@app.command("enable")
def users_enable(name: str, db: DbOpt = Path("qa.db")) -> None:
    """Let a disabled user sign in again."""
    users.enable(open_store(db), name, _admin())
    out.print(f"user {name} enabled", highlight=False, markup=False)


@app.command("remove")
def users_remove(name: str, db: DbOpt = Path("qa.db"),
                 yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete a user's account; their reviews and the audit log keep their name."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"remove user {name}?"):
        raise typer.Exit(1)
    done = users.remove(open_store(db), name, _admin())
    out.print(f"user {name} removed: {done['sessions_ended']} session(s) ended, "
              f"{len(done['claims_released'])} claim(s) released", highlight=False, markup=False)


@app.command("passwd")
def users_passwd(name: str, db: DbOpt = Path("qa.db"), password_stdin: StdinOpt = False) -> None:
    """Set a user's password (prompted, or one line on stdin); every session they have open ends."""
    password = _read_password() if password_stdin else typer.prompt("new password", hide_input=True,
                                                                      confirmation_prompt=True)
    if len(password) < 8:
        raise fail("a password has at least 8 characters", EXIT_USAGE)
    ended = users.set_password(open_store(db), name, hash_password(password), _admin())
    out.print(f"password of {name} changed: {ended} session(s) ended", highlight=False, markup=False)
