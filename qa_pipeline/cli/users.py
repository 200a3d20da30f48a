"""`qa users …`: who may sign in, with which role."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from qa_pipeline.cli.common import DbOpt, Typer, open_store, out
from qa_pipeline.store.auth import hash_password
from qa_pipeline.store.review import add_user

app = Typer(help="Users and roles.")


@app.command("add")
def users_add(name: str, role: Annotated[str, typer.Option(help="coach | qa_lead | hr | agent")],
              db: DbOpt = Path("qa.db"), agent_id: Annotated[str | None, typer.Option(help="For agents: their agent id.")] = None,
              password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read a password from stdin.")] = False) -> None:
    """Add or update a user."""
    password_hash = hash_password(sys.stdin.readline().rstrip("\n")) if password_stdin else None
    add_user(open_store(db, must_exist=False), name, role, agent_id, password_hash)
    out.print(f"user {name}: {role}")
