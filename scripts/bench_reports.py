#!/usr/bin/env python3
"""Time the HR scorecard and the daily report on a large generated store (scripts/bench_store.py's data).

    .venv/bin/python scripts/bench_reports.py [--calls 100000] [--db /tmp/qa_bench_store.db] [--reuse]

Prints the median wall time of ``weekly_scorecard`` (every team, one team), of rendering it
in each format, and of ``daily_report``; plus a few reviews so the human-override path runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import add_store_arguments, open_or_generate, timed  # noqa: E402

from qa_pipeline.config import ReportConfig
from qa_pipeline.reports.render import render_scorecard  # noqa: E402
from qa_pipeline.reports.scorecard import daily_report, weekly_scorecard  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_store_arguments(ap, Path("/tmp/qa_bench_store.db"))
    store, _ = open_or_generate(ap.parse_args())
    week, n_week = store.conn.execute("SELECT week, count(*) FROM calls GROUP BY week ORDER BY count(*) DESC LIMIT 1").fetchone()
    config = ReportConfig()
    all_ms, card = timed(lambda: weekly_scorecard(store, week, config=config), repeat=3)
    team_ms, _ = timed(lambda: weekly_scorecard(store, week, team="team03", config=config), repeat=3)
    n_calls = store.conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    print(f"database: {n_calls} calls; week {week}: {n_week} calls, {len(card.rows)} agents, trend {config.trend_weeks} weeks")
    print(f"weekly_scorecard, every team:   {all_ms:8.0f} ms")
    print(f"weekly_scorecard, one team:     {team_ms:8.0f} ms")
    for fmt in ("json", "csv", "xlsx", "html"):
        ms, data = timed(lambda fmt=fmt: render_scorecard(card, fmt), repeat=3)
        print(f"render {fmt:5s}                   {ms:8.0f} ms  ({len(data) / 1024:.0f} KiB)")
    day = store.conn.execute("SELECT substr(started_at, 1, 10) FROM calls WHERE week = ? LIMIT 1", [week]).fetchone()[0]
    daily_ms, report = timed(lambda: daily_report(store, day, config), repeat=3)
    print(f"daily_report {day}:        {daily_ms:8.0f} ms  ({report.calls} calls)")


if __name__ == "__main__":
    main()
