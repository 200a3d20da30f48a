"""Shared set-up for the web tests: users over a copy of the sample database, a live server in a thread."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PASSWORD = "correct horse battery"
USERS = {"coach1": ("coach", None), "coach2": ("coach", None), "lead1": ("qa_lead", None), "hr1": ("hr", None)}


def add_users(db: Path) -> dict[str, str]:
    """Coaches, a QA lead, HR and one agent user per agent in the database (agent_<id>). Returns name → role."""
    from qa_pipeline.store.auth import hash_password
    from qa_pipeline.store.db import Store
    from qa_pipeline.store.users import add_user

    store = Store(db)
    hashed = hash_password(PASSWORD)
    roles = {}
    for name, (role, agent_id) in USERS.items():
        add_user(store, name, role, agent_id, hashed, actor="test")
        roles[name] = role
    for (agent_id,) in store.conn.execute("SELECT DISTINCT agent_id FROM calls WHERE agent_id != '' ORDER BY 1"):
        add_user(store, f"agent_{agent_id}", "agent", agent_id, hashed, actor="test")
        roles[f"agent_{agent_id}"] = "agent"
    store.close()
    return roles


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def login(client, name: str, password: str = PASSWORD):
    """Sign in through the form (with its CSRF token); returns the response after redirects."""
    page = client.get("/login")
    return client.post("/login", data={"username": name, "password": password, "csrf": csrf_of(page.text), "next": "/"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(db: Path) -> Iterator[str]:
    """`create_app(db)` under uvicorn on a free port in a thread; yields the base URL."""
    import uvicorn

    from qa_pipeline.web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def resolve_review(page) -> None:
    """Click *Resolve review* in the browser; when findings are left undecided the page warns first (issue 19):
    say *Resolve anyway*. Returns once the saved page has loaded."""
    page.click("#resolve")
    if page.is_visible("#undecided-warning"):
        page.click("#resolve-anyway")
    page.wait_for_url("**msg=saved")
