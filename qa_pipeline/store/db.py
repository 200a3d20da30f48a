"""The SQLite store (sqlite-utils, WAL): calls, machine results, human decisions, runs.

Machine results and human decisions live in separate tables. A call processed
again with another model, rule pack or form gets a *new* row in ``results`` that
becomes current; nothing a coach wrote (reviews, verdicts, disputes) is touched.
Ingesting a result already stored (same audio sha256 and versions) is a no-op, so
a re-run after a crash stores nothing twice.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from qa_pipeline.config import QueueConfig
from qa_pipeline.contracts import CallResult, Finding, call_result_from_dict, to_dict
from qa_pipeline.errors import StorageError
from qa_pipeline.store import clock
from qa_pipeline.store.coaching import SCHEMA_V4_COACHING
from qa_pipeline.store.queue import rebuild_queue
from qa_pipeline.store.release import SCHEMA_V4_RELEASE
from qa_pipeline.store.roles import SCHEMA_V3, record_result_roles
from qa_pipeline.store.search import SCHEMA_V5, segments_matching

SCHEMA_VERSION = 5


def versions_key(sha256: str, versions: dict[str, Any]) -> str:
    blob = json.dumps({"sha256": sha256, "versions": {k: v for k, v in versions.items() if k != "model_id"}},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def finding_key(call_id: str, f: Finding) -> str:
    """Stable across re-processing when the same thing is found again, so verdicts carry over."""
    blob = f"{call_id}|{f.kind}|{f.rule_id}|{f.speaker}|{round(f.start)}"
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, agent_id TEXT, team TEXT, started_at TEXT, week TEXT, language TEXT,
    layout TEXT, call_type TEXT, direction TEXT, audio_path TEXT, sha256 TEXT, duration REAL,
    current_result_id TEXT, updated_at TEXT);
CREATE INDEX IF NOT EXISTS idx_calls_agent_week ON calls(agent_id, week);
CREATE INDEX IF NOT EXISTS idx_calls_team_week ON calls(team, week);
CREATE INDEX IF NOT EXISTS idx_calls_started ON calls(started_at);
CREATE TABLE IF NOT EXISTS agents (agent_id TEXT PRIMARY KEY, name TEXT, team TEXT);
CREATE TABLE IF NOT EXISTS teams (team TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS results (
    result_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, versions_key TEXT NOT NULL UNIQUE, versions TEXT,
    language TEXT, model_id TEXT, run_id TEXT, created_at TEXT, result_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_results_call ON results(call_id);
CREATE TABLE IF NOT EXISTS segments (
    result_id TEXT, call_id TEXT, idx INTEGER, speaker TEXT, start REAL, "end" REAL, text TEXT,
    avg_logprob REAL, PRIMARY KEY (result_id, idx));
CREATE INDEX IF NOT EXISTS idx_segments_call ON segments(call_id);
CREATE VIRTUAL TABLE IF NOT EXISTS segments_fts USING fts5(text, call_id UNINDEXED, result_id UNINDEXED,
    start UNINDEXED, speaker UNINDEXED, tokenize='trigram');
CREATE TABLE IF NOT EXISTS findings (
    finding_id TEXT PRIMARY KEY, result_id TEXT, call_id TEXT, finding_key TEXT, kind TEXT, rule_id TEXT,
    rule_version TEXT, speaker TEXT, start REAL, "end" REAL, evidence TEXT, confidence REAL, severity TEXT,
    category TEXT, status TEXT, details TEXT);
CREATE INDEX IF NOT EXISTS idx_findings_result ON findings(result_id);
CREATE INDEX IF NOT EXISTS idx_findings_call_key ON findings(call_id, finding_key);
CREATE INDEX IF NOT EXISTS idx_findings_rule ON findings(rule_id);
CREATE TABLE IF NOT EXISTS scores (
    result_id TEXT PRIMARY KEY, call_id TEXT, total REAL, passed INTEGER, auto_fail INTEGER, form_id TEXT,
    form_version TEXT, agitation_agent REAL, agitation_caller REAL, asr_confidence REAL, breakdown TEXT);
CREATE INDEX IF NOT EXISTS idx_scores_call ON scores(call_id);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT, pid INTEGER, meta TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, call_id TEXT, path TEXT, reason TEXT, detail TEXT,
    created_at TEXT);
CREATE TABLE IF NOT EXISTS queue_items (
    call_id TEXT PRIMARY KEY, result_id TEXT, priority REAL, reason TEXT, source TEXT, week TEXT,
    agent_id TEXT, team TEXT, status TEXT DEFAULT 'open', claimed_by TEXT, claimed_at TEXT,
    claim_expires REAL, created_at TEXT, exemplary INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS idx_queue_status_priority ON queue_items(status, priority DESC);
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT PRIMARY KEY, call_id TEXT, result_id TEXT, reviewer TEXT, status TEXT, human_scores TEXT,
    notes TEXT, coaching_action TEXT, created_at TEXT, updated_at TEXT);
CREATE INDEX IF NOT EXISTS idx_reviews_call ON reviews(call_id);
CREATE TABLE IF NOT EXISTS finding_verdicts (
    review_id TEXT, call_id TEXT, finding_key TEXT, rule_id TEXT, verdict TEXT, note TEXT, created_at TEXT,
    PRIMARY KEY (review_id, finding_key));
CREATE TABLE IF NOT EXISTS disputes (
    dispute_id TEXT PRIMARY KEY, review_id TEXT, call_id TEXT, opened_by TEXT, reason TEXT, status TEXT,
    resolved_by TEXT, resolution TEXT, created_at TEXT, resolved_at TEXT);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, agent_id TEXT, password_hash TEXT, created_at TEXT);
CREATE TABLE IF NOT EXISTS assist_mode (target TEXT PRIMARY KEY, reason TEXT, set_by TEXT, created_at TEXT);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, actor TEXT, action TEXT, entity TEXT, before TEXT, after TEXT);
"""

# Version 2: human decisions get owners and a history (issue 16).
# - A review is one version of its call's review history: ``version`` 1, 2, … per call; exactly one
#   ``status='current'`` review per call (a unique index says so); the versions it replaced stay, marked
#   ``superseded`` (a new review) or ``overturned`` (a QA lead's dispute decision), with who replaced them
#   and when. Reviews of a version 1 database become the versions of their call in the order they were made;
#   the latest is current, and a review a dispute "changed" is marked overturned.
# - A dispute decision that changes a review names the version it made (``new_review_id``).
# - Users can be disabled; a password change is dated. The web sessions' tables are part of the schema.
_SCHEMA_V2 = """
ALTER TABLE reviews ADD COLUMN version INTEGER;
ALTER TABLE reviews ADD COLUMN supersedes TEXT;
ALTER TABLE reviews ADD COLUMN reason TEXT;
ALTER TABLE reviews ADD COLUMN acting_as TEXT;
ALTER TABLE reviews ADD COLUMN dispute_id TEXT;
ALTER TABLE reviews ADD COLUMN replaced_by TEXT;
ALTER TABLE reviews ADD COLUMN replaced_at TEXT;
UPDATE reviews SET version = (SELECT count(*) FROM reviews r2 WHERE r2.call_id = reviews.call_id
    AND (r2.created_at < reviews.created_at OR (r2.created_at = reviews.created_at AND r2.rowid <= reviews.rowid)));
UPDATE reviews SET supersedes = (SELECT r2.review_id FROM reviews r2
    WHERE r2.call_id = reviews.call_id AND r2.version = reviews.version - 1);
UPDATE reviews SET replaced_by = (SELECT r2.review_id FROM reviews r2
    WHERE r2.call_id = reviews.call_id AND r2.version = reviews.version + 1);
UPDATE reviews SET replaced_at = (SELECT r2.created_at FROM reviews r2 WHERE r2.review_id = reviews.replaced_by);
UPDATE reviews SET status = CASE WHEN replaced_by IS NULL THEN 'current'
    WHEN review_id IN (SELECT review_id FROM disputes WHERE status = 'changed') THEN 'overturned'
    ELSE 'superseded' END;
UPDATE reviews SET dispute_id = (SELECT d.dispute_id FROM disputes d
    WHERE d.status = 'changed' AND reviews.notes LIKE 'dispute ' || d.dispute_id || ':%');
CREATE UNIQUE INDEX IF NOT EXISTS idx_reviews_version ON reviews(call_id, version);
CREATE UNIQUE INDEX IF NOT EXISTS idx_reviews_current ON reviews(call_id) WHERE status = 'current';
CREATE INDEX IF NOT EXISTS idx_verdicts_rule ON finding_verdicts(rule_id);
ALTER TABLE disputes ADD COLUMN new_review_id TEXT;
UPDATE disputes SET new_review_id = (SELECT r.review_id FROM reviews r WHERE r.dispute_id = disputes.dispute_id);
CREATE INDEX IF NOT EXISTS idx_disputes_review ON disputes(review_id, status);
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN disabled_by TEXT;
ALTER TABLE users ADD COLUMN password_changed_at TEXT;
CREATE TABLE IF NOT EXISTS web_sessions (token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
    ip TEXT, created REAL, expires REAL);
CREATE INDEX IF NOT EXISTS idx_web_sessions_user ON web_sessions(user);
CREATE TABLE IF NOT EXISTS login_failures (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT, ip TEXT, at REAL);
CREATE INDEX IF NOT EXISTS idx_login_failures ON login_failures(user, ip, at)
"""

# Version 3: the roles of every result and coaches' role swaps (store/roles.py).
# Version 4: reviews released to agents and their acknowledgements (store/release.py), coaching sessions
# (store/coaching.py). New tables only; reviews written before it are recorded as released when made.
# Version 5: saved searches and the search filters' indexes (store/search.py). A rejected finding's reason is
# kept in finding_verdicts.note (there since version 1), so it needs no column.
MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: SCHEMA_V3,
                              4: SCHEMA_V4_RELEASE + ";\n" + SCHEMA_V4_COACHING, 5: SCHEMA_V5}


def iso_week(started_at: str) -> str:

    try:
        d = dt.datetime.fromisoformat(started_at[:19])
    except ValueError:
        return ""
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


class Store:
    """One SQLite database. Safe for one writer and many readers at a time (WAL)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.migrate()

    # -------------------------------------------------------------- schema
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        for version in sorted(v for v in MIGRATIONS if v > self.schema_version()):
            with self.transaction():
                if self.schema_version() >= version:
                    continue  # another process migrated while this one waited for the write lock
                self._apply(MIGRATIONS[version])
                self.conn.execute(f"PRAGMA user_version={version}")

    def _apply(self, script: str) -> None:
        for statement in script.split(";\n"):
            if statement.strip():
                self.conn.execute(statement)

    def transaction(self) -> _Tx:
        return _Tx(self.conn)

    def close(self) -> None:
        self.conn.close()

    def audit(self, actor: str, action: str, entity: str, before: Any = None, after: Any = None) -> None:
        self.conn.execute(
            "INSERT INTO audit_log (at, actor, action, entity, before, after) VALUES (?,?,?,?,?,?)",
            (clock.now(), actor, action, entity, _js(before), _js(after)),
        )

    # -------------------------------------------------------------- runs
    def start_run(self, meta: dict[str, Any]) -> str:
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with self.transaction():
            self.conn.execute("INSERT INTO runs (run_id, started_at, status, pid, meta) VALUES (?,?,?,?,?)",
                              (run_id, clock.now(), "running", os.getpid(), _js(meta)))
        return run_id

    def finish_run(self, run_id: str, summary: dict[str, Any], status: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE runs SET finished_at=?, status=?, summary=? WHERE run_id=?",
                              (clock.now(), status, _js(summary), run_id))

    def close_stale_runs(self) -> int:
        """Runs left 'running' by a process that died (the caller holds the run lock)."""
        with self.transaction():
            cur = self.conn.execute("UPDATE runs SET status='killed', finished_at=? WHERE status='running'", (clock.now(),))
        return cur.rowcount

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return [_row(r, ("meta", "summary")) for r in self.db.query(
            "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", [limit])]

    def quarantine(self, path: str, reason: str, detail: str, run_id: str | None, call_id: str = "") -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO quarantine (run_id, call_id, path, reason, detail, created_at) VALUES (?,?,?,?,?,?)",
                (run_id, call_id, path, reason, detail, clock.now()))

    def quarantined(self, run_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM quarantine" + (" WHERE run_id=?" if run_id else "") + " ORDER BY id DESC"
        return list(self.db.query(sql, [run_id] if run_id else []))

    # -------------------------------------------------------------- ingest
    def is_processed(self, sha256: str, versions: dict[str, Any], call_id: str | None = None) -> bool:
        key = versions_key(sha256, versions)
        sql = "SELECT 1 FROM results WHERE versions_key=?"
        row = self.conn.execute(sql, (key,)).fetchone()
        if row or call_id is None:
            return bool(row)
        return False

    def ingest_result(self, result: CallResult, run_id: str | None = None) -> str:
        """Store a machine result as the call's current one; a no-op if already stored."""
        call = result.call
        key = versions_key(call.sha256, result.versions)
        existing = self.conn.execute("SELECT result_id FROM results WHERE versions_key=?", (key,)).fetchone()
        if existing:
            return existing[0]
        result_id = uuid.uuid4().hex
        data = to_dict(result)

        def agitation(role: str) -> float | None:
            speaker = result.tone.speakers.get(role)
            return speaker.agitation if speaker else None

        probs = [w.prob for s in result.transcript.segments for w in s.words]
        asr_conf = round(sum(probs) / len(probs), 4) if probs else None
        week = iso_week(call.started_at)
        with self.transaction():
            self.conn.execute(
                "INSERT INTO results (result_id, call_id, versions_key, versions, language, model_id, run_id, created_at, result_json)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (result_id, call.call_id, key, _js(result.versions), result.transcript.language,
                 result.transcript.model_id, run_id, clock.now(), json.dumps(data, ensure_ascii=False)))
            self.conn.execute(
                "INSERT INTO calls (call_id, agent_id, team, started_at, week, language, layout, call_type, direction,"
                " audio_path, sha256, duration, current_result_id, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(call_id) DO UPDATE SET agent_id=excluded.agent_id, team=excluded.team,"
                " started_at=excluded.started_at, week=excluded.week, language=excluded.language,"
                " layout=excluded.layout, call_type=excluded.call_type, direction=excluded.direction,"
                " audio_path=excluded.audio_path, sha256=excluded.sha256, duration=excluded.duration,"
                " current_result_id=excluded.current_result_id, updated_at=excluded.updated_at",
                (call.call_id, call.agent_id, call.team, call.started_at, week, result.transcript.language,
                 call.layout, call.call_type, call.direction, call.audio_path, call.sha256,
                 result.transcript.duration, result_id, clock.now()))
            if call.agent_id:
                self.conn.execute("INSERT OR IGNORE INTO agents (agent_id, name, team) VALUES (?,?,?)",
                                  (call.agent_id, call.agent_id, call.team))
            if call.team:
                self.conn.execute("INSERT OR IGNORE INTO teams (team) VALUES (?)", (call.team,))
            # Only the current result's segments are searchable.
            self.conn.execute("DELETE FROM segments WHERE call_id=?", (call.call_id,))
            self.conn.execute("DELETE FROM segments_fts WHERE call_id=?", (call.call_id,))
            seg_rows = [(result_id, call.call_id, i, s.speaker, s.start, s.end, s.text, s.avg_logprob)
                        for i, s in enumerate(result.transcript.segments)]
            self.conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?)", seg_rows)
            self.conn.executemany(
                "INSERT INTO segments_fts (text, call_id, result_id, start, speaker) VALUES (?,?,?,?,?)",
                [(r[6], r[1], r[0], r[4], r[3]) for r in seg_rows])
            self.conn.executemany(
                "INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(uuid.uuid4().hex, result_id, call.call_id, finding_key(call.call_id, f), f.kind, f.rule_id,
                  f.rule_version, f.speaker, f.start, f.end, f.evidence, f.confidence, f.severity,
                  f.category or None, f.status or None, _js(to_dict(f.details)))
                 for f in result.findings])
            score = result.score
            self.conn.execute(
                "INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (result_id, call.call_id, score.total, int(score.passed), int(score.auto_fail), score.form_id,
                 score.form_version, agitation("agent"), agitation("caller"), asr_conf, _js(to_dict(score))))
            record_result_roles(self.conn, result_id, result)
        return result_id

    # -------------------------------------------------------------- reading
    def call(self, call_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM calls WHERE call_id=?", [call_id]))
        return rows[0] if rows else None

    def current_result(self, call_id: str) -> CallResult | None:

        row = self.conn.execute(
            "SELECT r.result_json FROM calls c JOIN results r ON r.result_id=c.current_result_id WHERE c.call_id=?",
            (call_id,)).fetchone()
        return call_result_from_dict(json.loads(row[0])) if row else None

    def results_for(self, call_id: str) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT result_id, versions, model_id, run_id, created_at FROM results WHERE call_id=? ORDER BY created_at",
            [call_id]))

    def findings(self, call_id: str, current_only: bool = True) -> list[dict[str, Any]]:
        sql = "SELECT f.* FROM findings f"
        if current_only:
            sql += " JOIN calls c ON c.current_result_id=f.result_id WHERE c.call_id=?"
        else:
            sql += " WHERE f.call_id=?"
        return [_row(r, ("details",)) for r in self.db.query(sql + " ORDER BY f.start", [call_id])]

    def search(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        """Full-text search over current transcripts (trigram: Mandarin and English alike); matching segments.
        Calls by words and filters: ``store.search.search_calls``."""
        return segments_matching(self, text, limit)

    def weeks(self) -> list[str]:
        """ISO weeks that have calls, newest first."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT week FROM calls WHERE week != '' ORDER BY week DESC")]

    # -------------------------------------------------------------- queue
    def rebuild_queue(self, config: QueueConfig | None = None) -> int:
        return rebuild_queue(self, config)

    def assist_targets(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT target FROM assist_mode")}


class _Tx:
    """BEGIN IMMEDIATE … COMMIT: the write lock is taken up front, so writers queue instead of deadlocking."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.conn.in_transaction
        if self.outer:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if not self.outer:
            return
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _js(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _row(row: dict[str, Any], json_cols: Iterable[str]) -> dict[str, Any]:
    out = dict(row)
    for col in json_cols:
        if out.get(col):
            out[col] = json.loads(out[col])
    return out


# -------------------------------------------------------------- storage faults (the nightly run's guards)
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def check_database(path: str | Path) -> None:
    """``PRAGMA quick_check`` of an existing database before a run writes to it: a damaged database, or a file
    that is not one, is a StorageError (exit 6) and is never written into."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return  # a new database
    try:
        conn = sqlite3.connect(str(path), timeout=60)
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: not a usable SQLite database ({exc}); nothing was written to it. Restore it "
                           "from a backup, or move it away to start a new one, and run again") from None
    if problems != ["ok"]:
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise StorageError(f"{path}: the database is damaged (PRAGMA quick_check: {problems[0]}{more}); nothing "
                           f"was written to it. Restore it from a backup, or recover it with `sqlite3 {path} "
                           "\".recover\"`, and run again")


def storage_error(exc: BaseException, db_path: str | Path) -> StorageError | None:
    """The StorageError that ``exc`` stands for (a full disk, a database damaged under a run), or None."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        where = f"{exc.filename}: " if exc.filename else ""
        return StorageError(f"the disk is full ({where}{exc.strerror})")
    if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "disk I/O" in str(exc)):
        return StorageError(f"{db_path}: the database could not be written ({exc}): the disk is full")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in str(exc) or "not a database" in str(exc)):
        return StorageError(f"{db_path}: the database is damaged ({exc})")
    return None
