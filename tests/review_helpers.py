"""Shared helpers for the tests of human decisions: a writable copy of the reference database with users, the
CLI in-process, a signed-in web client, a claim-then-review shortcut and plain-SQL readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.conftest import copy_db
from tests.web.web_helpers import add_users, login

runner = CliRunner()


def users_db(src: Path, dest_dir: Path) -> Path:
    """A copy of ``src`` with coach1, coach2, lead1, hr1 and an agent_<id> user per agent (web_helpers.USERS)."""
    db = copy_db(src, dest_dir)
    add_users(db)
    return db


def qa(*args: Any, code: int = 0, stdin: str | None = None) -> Any:
    """Run `qa ARGS` in-process; assert its exit status; the result (output, stderr)."""
    from qa_pipeline.cli import app

    result = runner.invoke(app, [str(a) for a in args], input=stdin)
    assert result.exit_code == code, (args, result.exit_code, result.output, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    return result


def web(db: Path, name: str | None = None, ip: str = "testclient"):
    """A TestClient (httpx) over a fresh app on ``db``, signed in as ``name``."""
    from fastapi.testclient import TestClient

    from qa_pipeline.web.app import create_app

    client = TestClient(create_app(db), client=(ip, 50000), raise_server_exceptions=False)
    if name:
        assert login(client, name).status_code == 200
    return client


def review(store, coach: str, call_id: str, **kwargs: Any) -> str:
    """Claim ``call_id`` as ``coach`` and review it (``kwargs``: submit_review's)."""
    from qa_pipeline.store.queue import claim
    from qa_pipeline.store.review import submit_review

    claim(store, coach, call_id)
    return submit_review(store, coach, call_id, **kwargs)


def sql(db: Path, query: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, params).fetchall()


def flagged_call(db: Path, min_findings: int = 2) -> tuple[str, list[tuple[str, str]]]:
    """The highest-priority open, unclaimed call in the queue with at least ``min_findings`` flagged findings:
    (call_id, [(finding_key, rule_id)])."""
    rows = sql(db, "SELECT q.call_id, f.finding_key, f.rule_id FROM queue_items q JOIN calls c USING (call_id)"
                   " JOIN findings f ON f.result_id = c.current_result_id WHERE q.status = 'open'"
                   " AND q.claimed_by IS NULL AND (f.kind != 'script_step' OR f.status = 'fail')"
                   " ORDER BY q.priority DESC, q.call_id, f.start")
    by_call: dict[str, list[tuple[str, str]]] = {}
    for call_id, key, rule in rows:
        by_call.setdefault(call_id, []).append((key, rule))
    return next((c, fs) for c, fs in by_call.items() if len(fs) >= min_findings)
