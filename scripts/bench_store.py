#!/usr/bin/env python3
"""Generate a large store (default 100 k calls, 1 M findings) and time the hot queries.

    .venv/bin/python scripts/bench_store.py [--calls 100000] [--findings-per-call 10] [--db /tmp/qa_bench.db]

Prints the latency of `queue list` (the coach's first page) and of one ISO week's
per-agent scorecard aggregate (what HR pulls), each the median of several runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from pathlib import Path

from qa_pipeline.store.db import Store, iso_week
from qa_pipeline.store.queue import list_queue

KINDS = [("banned_phrase", "refusal"), ("banned_phrase", "blame_shifting"), ("escalation", "complaint"),
         ("script_step", None), ("tone", None), ("silence", None), ("overtalk", None), ("pii", None)]


def generate(db_path: Path, n_calls: int, per_call: int, seed: int = 7) -> Store:
    rng = random.Random(seed)
    if db_path.exists():
        db_path.unlink()
    store = Store(db_path)
    conn = store.conn
    agents = [f"agent{i:03d}" for i in range(400)]
    t0 = time.perf_counter()
    batch_calls, batch_scores, batch_findings, batch_queue = [], [], [], []
    for i in range(n_calls):
        call_id = f"call{i:07d}"
        result_id = uuid.uuid4().hex
        agent = rng.choice(agents)
        team = f"team{int(agent[5:]) % 20:02d}"
        day = 1 + (i * 365) // n_calls
        started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1767225600 + day * 86400 + rng.randint(0, 36000)))
        total = max(0.0, min(100.0, rng.gauss(85, 10)))
        batch_calls.append((call_id, agent, team, started, iso_week(started), "zh", "stereo", "default", "inbound",
                            f"/calls/{call_id}.wav", uuid.uuid4().hex, rng.uniform(60, 600), result_id, started))
        batch_scores.append((result_id, call_id, total, int(total >= 80), int(rng.random() < 0.02), "default", "1",
                             rng.random(), rng.random(), rng.uniform(0.5, 0.95), json.dumps({"total": total})))
        for _ in range(per_call):
            kind, cat = rng.choice(KINDS)
            status = rng.choice(["pass", "fail", "na"]) if kind == "script_step" else None
            batch_findings.append((uuid.uuid4().hex, result_id, call_id, uuid.uuid4().hex[:16], kind, f"zh.{cat or kind}",
                                   "1", "agent", rng.uniform(0, 500), rng.uniform(0, 500), "evidence", 0.9, "major",
                                   cat, status, "{}"))
        if rng.random() < 0.3:
            batch_queue.append((call_id, result_id, rng.uniform(0, 200), "risk", "risk", iso_week(started), agent, team,
                                "open", started, 0))
        if len(batch_calls) >= 5000 or i == n_calls - 1:
            with store.transaction():
                conn.executemany("INSERT INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch_calls)
                conn.executemany("INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch_scores)
                conn.executemany("INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch_findings)
                conn.executemany("INSERT INTO queue_items (call_id, result_id, priority, reason, source, week, agent_id,"
                                 " team, status, created_at, exemplary) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch_queue)
            batch_calls, batch_scores, batch_findings, batch_queue = [], [], [], []
    conn.execute("ANALYZE")
    print(f"generated {n_calls} calls, {n_calls * per_call} findings in {time.perf_counter() - t0:.0f} s: {db_path}")
    return store


WEEK_SCORECARD = """
SELECT c.agent_id, c.team, count(*) AS calls, sum(c.duration) / 3600.0 AS hours, avg(s.total) AS mean_score,
       avg(s.passed) AS pass_rate, sum(s.auto_fail) AS auto_fails,
       (SELECT count(*) FROM findings f JOIN calls c2 ON c2.current_result_id = f.result_id
         WHERE c2.agent_id = c.agent_id AND c2.week = :week AND f.kind = 'banned_phrase') AS banned
FROM calls c JOIN scores s ON s.result_id = c.current_result_id
WHERE c.week = :week GROUP BY c.agent_id, c.team ORDER BY c.team, mean_score DESC
"""


def timed(fn, repeat: int = 7) -> tuple[float, object]:
    """Median wall time of ``fn()`` in ms over ``repeat`` runs, and the last run's result."""
    samples, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000, out


def add_store_arguments(ap: argparse.ArgumentParser, db: Path,
                        reuse_help: str = "Reuse an existing generated database.") -> None:
    """The generated store's options, shared by the benchmarks built on it."""
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--findings-per-call", type=int, default=10)
    ap.add_argument("--db", type=Path, default=db)
    ap.add_argument("--reuse", action="store_true", help=reuse_help)


def open_or_generate(args: argparse.Namespace) -> tuple[Store, bool]:
    """The store of ``add_store_arguments``' options, and whether it was generated now (not reused)."""
    if args.reuse and args.db.exists():
        return Store(args.db), False
    return generate(args.db, args.calls, args.findings_per_call), True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_store_arguments(ap, Path("/tmp/qa_bench_store.db"))
    store, _ = open_or_generate(ap.parse_args())
    week = store.conn.execute("SELECT week FROM calls GROUP BY week ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    q_ms, _ = timed(lambda: list_queue(store, limit=50))
    q_kind_ms, _ = timed(lambda: list_queue(store, kind="banned_phrase", team="team03", limit=50))
    sc_ms, _ = timed(lambda: store.conn.execute(WEEK_SCORECARD, {"week": week}).fetchall(), repeat=3)
    n_calls = store.conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    n_findings = store.conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    print(f"database: {n_calls} calls, {n_findings} findings")
    print(f"queue list (top 50):                      {q_ms:8.1f} ms  (target < 100 ms)")
    print(f"queue list (team + finding-kind filter):  {q_kind_ms:8.1f} ms")
    print(f"week {week} per-agent scorecard query:     {sc_ms:8.1f} ms  (target < 1000 ms)")


if __name__ == "__main__":
    main()
