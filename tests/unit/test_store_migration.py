"""A version 1 database (before reviews had versions) migrates to version 2 keeping every review: the reviews of a
call become its versions in the order they were made, the latest current; a review a dispute changed is marked
overturned; duplicate open disputes the old code let in stay open for a QA lead to decide; on to version 4,
where every review the agents could already see is recorded as released. Migration 5 (saved searches and the
search filters' indexes) applies alone over a database at the version before it."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.review_helpers import qa, sql

V1_TABLES = ("calls", "agents", "teams", "results", "findings", "scores", "runs", "segments", "queue_items")


def v1_database(reference_db: Path, path: Path) -> dict[str, str]:
    """The reference calls in a schema-1 database, with reviews and disputes as the old code wrote them."""
    from qa_pipeline.store.db import MIGRATIONS

    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1].split(";\n"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("ATTACH DATABASE ? AS ref", (str(reference_db),))
    for table in V1_TABLES:
        conn.execute(f"INSERT INTO main.{table} SELECT * FROM ref.{table}")
    conn.execute("INSERT INTO users (name, role, agent_id, password_hash, created_at) VALUES"
                 " ('coach1','coach',NULL,NULL,'2026-11-01T00:00:00'), ('coach2','coach',NULL,NULL,'2026-11-01T00:00:00'),"
                 " ('lead1','qa_lead',NULL,NULL,'2026-11-01T00:00:00')")
    a, b, c = [r[0] for r in conn.execute("SELECT call_id FROM calls ORDER BY call_id LIMIT 3")]
    keys = {cid: conn.execute("SELECT f.finding_key, f.rule_id FROM findings f JOIN calls c ON c.current_result_id ="
                              " f.result_id WHERE c.call_id=? LIMIT 1", (cid,)).fetchone() for cid in (a, b, c)}

    def old_review(rid: str, cid: str, who: str, at: str, verdict: str, notes: str = "", coaching: str = "") -> None:
        result = conn.execute("SELECT current_result_id FROM calls WHERE call_id=?", (cid,)).fetchone()[0]
        conn.execute("INSERT INTO reviews VALUES (?,?,?,?, 'final', '{}', ?, ?, ?, ?)",
                     (rid, cid, result, who, notes, coaching, at, at))
        conn.execute("INSERT INTO finding_verdicts VALUES (?,?,?,?,?, '', ?)", (rid, cid, *keys[cid], verdict, at))

    # a: coach2's review silently became the latest over coach1's (same second: rowid decides)
    old_review("ra1", a, "coach1", "2026-11-20T10:00:00", "confirm", "first")
    old_review("ra2", a, "coach2", "2026-11-20T10:00:00", "confirm", "second")
    old_review("ra3", a, "coach2", "2026-11-21T09:00:00", "confirm", "third")
    # b: a dispute "changed" by the QA lead (the old code wrote the lead's review over the coach's notes)
    old_review("rb1", b, "coach1", "2026-11-20T11:00:00", "confirm", "rude", "role-play")
    conn.execute("INSERT INTO disputes VALUES ('db1','rb1',?,'agent_x','polite','changed','lead1','ok',"
                 " '2026-11-20T12:00:00','2026-11-20T13:00:00')", (b,))
    old_review("rb2", b, "lead1", "2026-11-20T13:00:00", "reject", "dispute db1: ok")
    # c: two open disputes on one review (the old code let an agent open several)
    old_review("rc1", c, "coach1", "2026-11-20T14:00:00", "reject")
    for did in ("dc1", "dc2"):
        conn.execute("INSERT INTO disputes (dispute_id, review_id, call_id, opened_by, reason, status, created_at)"
                     " VALUES (?, 'rc1', ?, 'agent_y', 'no', 'open', '2026-11-20T15:00:00')", (did, c))
    conn.commit()
    conn.close()
    return {"a": a, "b": b, "c": c}


@pytest.fixture()
def old(reference_db: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "v1.db"
    return path, v1_database(reference_db, path)


def test_a_version_1_database_migrates_keeping_every_review(old: tuple[Path, dict[str, str]]) -> None:
    from qa_pipeline.store.calibration import calibration_report
    from qa_pipeline.store.db import MIGRATIONS, Store

    path, calls = old
    kept = ("review_id, call_id, result_id, reviewer, human_scores, notes, coaching_action, created_at")
    before = sql(path, f"SELECT {kept} FROM reviews ORDER BY review_id")
    verdicts = sql(path, "SELECT * FROM finding_verdicts ORDER BY review_id")
    store = Store(path)
    assert store.schema_version() == max(MIGRATIONS)
    assert sql(path, f"SELECT {kept} FROM reviews ORDER BY review_id") == before
    assert sql(path, "SELECT * FROM finding_verdicts ORDER BY review_id") == verdicts
    got = sql(path, "SELECT review_id, version, status, supersedes, replaced_by, dispute_id FROM reviews"
                    " ORDER BY call_id, version")
    assert got == [("ra1", 1, "superseded", None, "ra2", None), ("ra2", 2, "superseded", "ra1", "ra3", None),
                   ("ra3", 3, "current", "ra2", None, None),
                   ("rb1", 1, "overturned", None, "rb2", None), ("rb2", 2, "current", "rb1", None, "db1"),
                   ("rc1", 1, "current", None, None, None)]
    assert sql(path, "SELECT new_review_id FROM disputes WHERE dispute_id='db1'") == [("rb2",)]
    assert sql(path, "SELECT dispute_id, status FROM disputes WHERE review_id='rc1' ORDER BY 1") == [
        ("dc1", "open"), ("dc2", "open")]
    # Version 4: agents saw every review before releases existed, so each one is recorded as released when it was
    # made, by nobody; nothing is acknowledged; the coaching tables are there and empty.
    assert sql(path, "SELECT r.review_id, rr.release_at = r.created_at, rr.released_by, rr.status, rr.version"
                     " FROM reviews r JOIN review_releases rr USING (review_id) ORDER BY 1") == [
        (rid, 1, None, "current", 1) for rid in ("ra1", "ra2", "ra3", "rb1", "rb2", "rc1")]
    assert sql(path, "SELECT count(*) FROM review_acks") == [(0,)]
    assert sql(path, "SELECT count(*) FROM coaching_sessions") == sql(path, "SELECT count(*) FROM coaching_items") == [(0,)]
    # Calibration now counts the current versions only: ra3, rb2, rc1.
    rules = {r["rule_id"]: (r["confirmed"], r["rejected"]) for r in calibration_report(store)["rules"]}
    assert sum(c for c, _ in rules.values()) == 1 and sum(r for _, r in rules.values()) == 2
    store.close()
    # The history reads back through the CLI; opening again changes nothing.
    history = json.loads(qa("review", "history", calls["a"], "--db", path, "--json").stdout)
    assert [(v["review_id"], v["notes"]) for v in history] == [("ra1", "first"), ("ra2", "second"), ("ra3", "third")]
    Store(path).close()
    assert sql(path, "SELECT count(*) FROM reviews") == [(6,)]


def test_two_processes_opening_an_old_database_at_once_both_migrate_it(old: tuple[Path, dict[str, str]]) -> None:
    from qa_pipeline.store.db import MIGRATIONS, Store

    path, _ = old
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store(path).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sql(path, "PRAGMA user_version") == [(max(MIGRATIONS),)] and sql(path, "SELECT count(*) FROM reviews") == [(6,)]


def schema(path: Path) -> dict[str, set[str]]:
    """Tables and indexes (by name) and each table's columns."""
    names = {(t, n) for t, n in sql(path, "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    columns = {f"{n}.{c[1]}" for t, n in names if t == "table" for c in sql(path, f"PRAGMA table_info('{n}')")}
    return {"tables": {n for t, n in names if t == "table"}, "indexes": {n for t, n in names if t == "index"},
            "columns": columns}


V5_INDEXES = {"idx_calls_current_result", "idx_calls_agent_started", "idx_calls_team_started", "idx_calls_type_started",
              "idx_findings_kind_rule", "idx_scores_total", "idx_queue_claimed"}


@pytest.mark.parametrize("from_version", ["previous", 4])
def test_migration_5_adds_saved_searches_and_the_search_indexes_only(reference_db: Path, tmp_path: Path,
                                                                     from_version: str | int) -> None:
    """A database at the version before 5 (3 on this branch; 4 where another branch's migration 4 is merged),
    or marked 4 by a build that had migration 4, gets exactly migration 5: the saved_searches table and the
    filters' indexes; every row it had is kept."""
    from qa_pipeline.store.db import MIGRATIONS, SCHEMA_VERSION, Store

    assert SCHEMA_VERSION == max(MIGRATIONS) == 5
    earlier = sorted(v for v in MIGRATIONS if v < 5)
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    for version in earlier:
        for statement in MIGRATIONS[version].split(";\n"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version={earlier[-1] if from_version == 'previous' else from_version}")
    conn.execute("ATTACH DATABASE ? AS ref", (str(reference_db),))
    for table in V1_TABLES:
        conn.execute(f"INSERT INTO main.{table} SELECT * FROM ref.{table}")
    conn.commit()
    conn.close()
    before = schema(path)
    counts = {t: sql(path, f"SELECT count(*) FROM {t}") for t in V1_TABLES}
    Store(path).close()
    after = schema(path)
    assert sql(path, "PRAGMA user_version") == [(5,)]
    assert after["tables"] - before["tables"] == {"saved_searches"}
    assert after["indexes"] - before["indexes"] == V5_INDEXES
    assert {c for c in after["columns"] - before["columns"] if not c.startswith("saved_searches.")} == set()
    assert {t: sql(path, f"SELECT count(*) FROM {t}") for t in V1_TABLES} == counts
    # the search plans use the new indexes
    plan = " ".join(r[3] for r in sql(path, "EXPLAIN QUERY PLAN SELECT 1 FROM findings WHERE kind=? AND rule_id=?",
                                      "tone", "emotional_agent"))
    assert "idx_findings_kind_rule" in plan
