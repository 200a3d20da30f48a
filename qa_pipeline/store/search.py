"""Finding calls: words (Mandarin and English), speaker, findings, score, tone and the call's metadata, and each
user's saved searches.

Words: first the calls whose lines contain them, through the trigram FTS table ``segments_fts`` for three
characters or more, else one pass over the lines (a two-character Mandarin word such as 退款; LIKE with ``%``
and ``_`` taken literally, or instr() when there is no Latin letter). A common phrase (over COMMON lines) is
instead checked call by call on the calls the other filters leave, newest first, until the page is full (a
correlated EXISTS on ``idx_segments_call``): materialising every hit would cost more. Either way a substring
matches, Latin letters in any case. Only current results are searchable (ingest replaces a call's segments).
One row per call, newest first, with the lines that matched.

Saved searches belong to one user: listing, running and deleting go through the owner's name, so nobody
sees or runs another's (another's name is "no such saved search"). Saving and deleting are audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from qa_pipeline.contracts import FindingKind
from qa_pipeline.errors import NotFoundError, ValidationError
from qa_pipeline.store import clock, validate
from qa_pipeline.store.users import REVIEWERS, require_role

SPEAKERS = ("agent", "caller", "unknown")
AGITATION_OF = ("either", "agent", "caller")
DIRECTIONS = ("inbound", "outbound")
TRIGRAM = 3  # the FTS5 trigram tokenizer matches nothing shorter
MAX_TEXT = 200
HITS_PER_CALL = 5
COMMON = 2000  # lines: a phrase in more is looked for call by call (``matching_calls``)

# Version 5 (this module): saved searches, and the indexes that keep the filters fast on a large store.
SCHEMA_V5 = """
CREATE TABLE IF NOT EXISTS saved_searches (
    search_id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, query TEXT NOT NULL,
    created_at TEXT, updated_at TEXT, UNIQUE (owner, name));
CREATE INDEX IF NOT EXISTS idx_calls_current_result ON calls(current_result_id);
CREATE INDEX IF NOT EXISTS idx_calls_agent_started ON calls(agent_id, started_at);
CREATE INDEX IF NOT EXISTS idx_calls_team_started ON calls(team, started_at);
CREATE INDEX IF NOT EXISTS idx_calls_type_started ON calls(call_type, started_at);
CREATE INDEX IF NOT EXISTS idx_findings_kind_rule ON findings(kind, rule_id, result_id);
CREATE INDEX IF NOT EXISTS idx_scores_total ON scores(total);
CREATE INDEX IF NOT EXISTS idx_queue_claimed ON queue_items(claimed_by, status)
"""


@dataclass(frozen=True)
class SearchQuery:
    """What to look for; every field left empty matches everything. Dates are YYYY-MM-DD, both inclusive."""

    text: str = ""
    speaker: str | None = None  # the words were said by: agent | caller | unknown
    kind: str | None = None  # the call has a finding of this kind (FindingKind) ...
    rule: str | None = None  # ... or of this rule (both: the same finding)
    min_score: float | None = None
    max_score: float | None = None
    min_agitation: float | None = None  # tone: the call's agitation (0..1) at least this ...
    agitation_of: str = "either"  # ... of the agent, the caller or either
    team: str | None = None
    agent: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    call_type: str | None = None
    direction: str | None = None  # inbound | outbound
    limit: int = 100

    def checked(self) -> SearchQuery:
        """The same query with every field validated (a ValidationError says which and why)."""
        text = validate.text("search text", self.text, limit=MAX_TEXT).strip()
        for field, value, allowed in (("speaker", self.speaker, SPEAKERS), ("agitation of", self.agitation_of, AGITATION_OF),
                                      ("finding kind", self.kind, get_args(FindingKind)),
                                      ("direction", self.direction, DIRECTIONS)):
            if value:
                validate.choice(field, value, allowed)
        scores = [None if v is None else validate.number(f, v) for f, v in (("min score", self.min_score),
                                                                              ("max score", self.max_score))]
        if None not in scores and scores[0] > scores[1]:
            raise ValidationError(f"min score {scores[0]:g} is above max score {scores[1]:g}")
        agitation = None if self.min_agitation is None else validate.number("min agitation", self.min_agitation)
        if agitation is not None and not 0 <= agitation <= 1:
            raise ValidationError(f"agitation runs from 0 to 1, not {agitation:g}")
        days = [validate.day(d) if d else None for d in (self.date_from, self.date_to)]
        if None not in days and days[0] > days[1]:
            raise ValidationError(f"the dates run backwards: {days[0]} is after {days[1]}")
        limit = int(validate.number("limit", self.limit))
        if not 1 <= limit <= 10_000:
            raise ValidationError(f"limit runs from 1 to 10000, not {limit}")
        return dataclasses.replace(
            self, text=text, min_score=scores[0], max_score=scores[1], min_agitation=agitation, date_from=days[0],
            date_to=days[1], limit=limit, agitation_of=self.agitation_of or "either",
            **{f: (str(getattr(self, f)).strip() or None) if getattr(self, f) else None
               for f in ("speaker", "kind", "rule", "team", "agent", "call_type", "direction")})

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (what a saved search keeps)."""
        default = SearchQuery()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchQuery:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"unknown search field(s): {', '.join(unknown)}")
        return cls(**data)


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE … ESCAPE '\\', with the text's own ``\\``, ``%`` and ``_`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts_phrase(text: str) -> str:
    """The text as one FTS5 phrase (quotes doubled), so no character of it is FTS query syntax."""
    return '"' + text.replace('"', '""') + '"'


def contains(column: str, text: str) -> tuple[str, str]:
    """SQL that ``column`` contains ``text``, and its parameter: LIKE (Latin letters in any case, ``%`` and ``_``
    literal), or instr() when the text has no Latin letter (the same answer, and quicker over every line)."""
    if any("a" <= ch.lower() <= "z" for ch in text):
        return f"{column} LIKE ? ESCAPE '\\'", like_pattern(text)
    return f"instr({column}, ?) > 0", text


def matching_calls(store: Any, text: str, speaker: str | None) -> list[str] | None:
    """The calls with a line that contains ``text`` (said by ``speaker``), or None when more than COMMON lines
    do. Three characters or more: the trigram index; fewer: one pass over the lines. A common phrase is found
    sooner call by call, newest first, since a page of results fills after a few calls."""
    who = " AND speaker = ?" if speaker else ""
    if len(text) >= TRIGRAM:
        sql, param = f"SELECT call_id FROM segments_fts WHERE segments_fts MATCH ?{who} LIMIT ?", fts_phrase(text)
    else:
        cond, param = contains("text", text)
        sql = f"SELECT call_id FROM segments WHERE {cond}{who} LIMIT ?"
    rows = store.conn.execute(sql, [param, *([speaker] if speaker else []), COMMON + 1]).fetchall()
    return None if len(rows) > COMMON else sorted({r[0] for r in rows})


def _where(q: SearchQuery, calls: list[str] | None = None) -> tuple[str, list[Any]]:
    """SQL conditions over calls c and scores s (the current result's), with their parameters. ``calls``: what
    ``matching_calls`` found for the text."""
    sql, params = [], []
    for col, value in (("c.team", q.team), ("c.agent_id", q.agent), ("c.call_type", q.call_type),
                       ("c.direction", q.direction)):
        if value:
            sql.append(f"{col} = ?")
            params.append(value)
    if q.date_from:
        sql.append("c.started_at >= ?")
        params.append(q.date_from)
    if q.date_to:
        sql.append("c.started_at < ?")
        params.append((dt.date.fromisoformat(q.date_to) + dt.timedelta(days=1)).isoformat())
    if q.min_score is not None:
        sql.append("s.total >= ?")
        params.append(q.min_score)
    if q.max_score is not None:
        sql.append("s.total <= ?")
        params.append(q.max_score)
    if q.min_agitation is not None:
        cols = {"agent": ["s.agitation_agent"], "caller": ["s.agitation_caller"]}.get(
            q.agitation_of, ["s.agitation_agent", "s.agitation_caller"])
        sql.append("(" + " OR ".join(f"{c} >= ?" for c in cols) + ")")
        params += [q.min_agitation] * len(cols)
    if q.kind or q.rule:
        cond = " AND ".join(f"f.{col} = ?" for col, v in (("kind", q.kind), ("rule_id", q.rule)) if v)
        # A script step that passed is not something a coach looks for ("calls with a greeting finding").
        sql.append(f"EXISTS (SELECT 1 FROM findings f WHERE f.result_id = c.current_result_id AND {cond}"
                   " AND (f.kind != 'script_step' OR f.status = 'fail'))")
        params += [v for v in (q.kind, q.rule) if v]
    if q.text and calls is not None:  # a rare phrase: the calls found
        sql.append("c.call_id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(calls))
    elif q.text:  # a common one: the newest calls first, each checked on its own lines, until the page is full
        cond, param = contains("g.text", q.text)
        sql.append(f"EXISTS (SELECT 1 FROM segments g WHERE g.call_id = c.call_id AND {cond}"
                   + (" AND g.speaker = ?)" if q.speaker else ")"))
        params += [param, *([q.speaker] if q.speaker else [])]
    return (" WHERE " + " AND ".join(sql)) if sql else "", params


def search_calls(store: Any, query: SearchQuery) -> list[dict[str, Any]]:
    """Calls that match ``query``, newest first: the call's metadata, its current score and tone, and (for a
    text search) up to HITS_PER_CALL matching segments in ``hits``."""
    q = query.checked()
    where, params = _where(q, matching_calls(store, q.text, q.speaker) if q.text else None)
    rows = [dict(r) for r in store.db.query(
        "SELECT c.call_id, c.started_at, c.agent_id, c.team, c.call_type, c.direction, c.language, c.duration,"
        " s.total AS score, s.passed, s.auto_fail, s.agitation_agent, s.agitation_caller"
        f" FROM calls c LEFT JOIN scores s ON s.result_id = c.current_result_id{where}"
        " ORDER BY c.started_at DESC, c.call_id LIMIT ?", [*params, q.limit])]
    hits = segment_hits(store, q.text, [r["call_id"] for r in rows], q.speaker) if q.text else {}
    for row in rows:
        row["hits"] = hits.get(row["call_id"], [])[:HITS_PER_CALL]
    return rows


def segment_hits(store: Any, text: str, call_ids: list[str], speaker: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """call_id -> the segments of those calls that contain ``text`` (case-insensitive for Latin letters, as
    FTS and LIKE are), in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    cond, param = contains("text", text)
    for chunk in (call_ids[i:i + 500] for i in range(0, len(call_ids), 500)):
        marks = ",".join("?" * len(chunk))
        for r in store.db.query(
            f"SELECT call_id, result_id, idx, speaker, start, \"end\", text FROM segments WHERE call_id IN ({marks})"
            f" AND {cond}" + (" AND speaker = ?" if speaker else "") + " ORDER BY call_id, idx",
            [*chunk, param, *([speaker] if speaker else [])]):
            out.setdefault(r["call_id"], []).append(dict(r))
    return out


def segments_matching(store: Any, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Matching segments across all calls (``Store.search``): FTS for three characters or more, else LIKE."""
    text = text.strip()
    if len(text) < TRIGRAM:
        return list(store.db.query(
            "SELECT call_id, result_id, idx, speaker, start, text FROM segments WHERE text LIKE ? ESCAPE '\\'"
            " LIMIT ?", [like_pattern(text), limit]))
    return list(store.db.query(
        "SELECT call_id, result_id, start, speaker, text FROM segments_fts WHERE segments_fts MATCH ?"
        " ORDER BY rank LIMIT ?", [fts_phrase(text), limit]))


def redact_hits(store: Any, calls: list[dict[str, Any]], redact: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """The calls with their hits' text taken from ``redact(result)``, the call's redacted transcript (the
    privacy setting ``coach_view: redacted``): what matched is found, personal data in it is not shown."""
    out = []
    for c in calls:
        result = store.current_result(c["call_id"]) if c["hits"] else None
        segments = redact(result).segments if result else []
        hits = []
        for h in c["hits"]:
            seg = segments[h["idx"]] if h["idx"] < len(segments) else None
            same = seg is not None and abs(seg.start - float(h["start"])) < 1e-6
            hits.append({**h, "text": seg.text if same else "[REDACTED]"})
        out.append({**c, "hits": hits})
    return out


CSV_HEADER = ["call_id", "started_at", "agent_id", "team", "call_type", "direction", "score", "passed",
              "agitation_agent", "agitation_caller", "hits", "first_hit_at", "first_hit_speaker", "first_hit_text"]


def csv_rows(calls: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per call (CSV_HEADER); render them with ``qa_pipeline.render_csv`` (formula-safe)."""
    rows = []
    for c in calls:
        first = c["hits"][0] if c["hits"] else {}
        rows.append([c["call_id"], c["started_at"], c["agent_id"], c["team"], c["call_type"], c["direction"],
                     c["score"], None if c["passed"] is None else bool(c["passed"]), c["agitation_agent"],
                     c["agitation_caller"], len(c["hits"]), first.get("start"), first.get("speaker"), first.get("text")])
    return rows


# ------------------------------------------------------------------ saved searches (per user)
def save_search(store: Any, owner: str, name: str, query: SearchQuery) -> str:
    """Save (or replace) the owner's search called ``name``; returns its id."""
    require_role(store, owner, *REVIEWERS)
    name = validate.text("search name", name, limit=100, required=True).strip()
    blob = json.dumps(query.checked().to_dict(), ensure_ascii=False, sort_keys=True)
    with store.transaction() as conn:
        row = conn.execute("SELECT search_id, query FROM saved_searches WHERE owner=? AND name=?", (owner, name)).fetchone()
        search_id = row[0] if row else uuid.uuid4().hex[:12]
        conn.execute("INSERT INTO saved_searches (search_id, owner, name, query, created_at, updated_at)"
                     " VALUES (?,?,?,?,?,?) ON CONFLICT(owner, name) DO UPDATE SET query=excluded.query,"
                     " updated_at=excluded.updated_at", (search_id, owner, name, blob, clock.now(), clock.now()))
        store.audit(owner, "search.save", f"saved_search:{search_id}", json.loads(row[1]) if row else None,
                    {"name": name, "query": json.loads(blob)})
    return search_id


def saved_searches(store: Any, owner: str) -> list[dict[str, Any]]:
    """The owner's saved searches (id, name, query as a dict), by name."""
    return [{**dict(r), "query": json.loads(r["query"])} for r in store.db.query(
        "SELECT search_id, name, query, created_at, updated_at FROM saved_searches WHERE owner=? ORDER BY name",
        [owner])]


def saved_search(store: Any, owner: str, ref: str) -> dict[str, Any]:
    """The owner's saved search by id or name; another user's is NotFoundError, as a missing one is."""
    for s in saved_searches(store, owner):
        if ref in (s["search_id"], s["name"]):
            return s
    raise NotFoundError(f"{owner} has no saved search {str(ref)[:60]!r}")


def run_saved(store: Any, owner: str, ref: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Run the owner's saved search (``limit``: instead of the saved one)."""
    require_role(store, owner, *REVIEWERS)
    query = SearchQuery.from_dict(saved_search(store, owner, ref)["query"])
    return search_calls(store, dataclasses.replace(query, limit=limit) if limit else query)


def delete_saved(store: Any, owner: str, ref: str) -> None:
    found = saved_search(store, owner, ref)
    with store.transaction() as conn:
        conn.execute("DELETE FROM saved_searches WHERE search_id=? AND owner=?", (found["search_id"], owner))
        store.audit(owner, "search.delete", f"saved_search:{found['search_id']}", found["query"], None)
