#!/usr/bin/env python3
"""Time saved searches over a large store (default 100 k calls, 1 M findings, 800 k transcript lines).

    .venv/bin/python scripts/bench_search.py [--calls 100000] [--segments-per-call 8] [--db /tmp/qa_bench_search.db]

The calls, scores and findings are bench_store.py's synthetic rows; each call gets synthetic transcript lines
(Mandarin and English sentences from a small phrase list, so a word is in a known share of the calls) in
``segments`` and the trigram FTS table, and call types and directions. A few searches are saved for one coach
and run through ``run_saved`` (what the web page and `qa search --saved` do); each prints its median latency
and how many calls it returned. Target: under 200 ms each.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import add_store_arguments, open_or_generate, timed  # noqa: E402

from qa_pipeline.store import search as finder  # noqa: E402
from qa_pipeline.store.users import add_user  # noqa: E402

LINES = {
    "agent": ["您好，这里是信用卡中心，请问有什么可以帮您？", "请您提供一下身份证后四位。", "好的，我帮您查一下这笔消费。",
              "Thank you for calling, how can I help you today?", "Let me check that charge for you.",
              "I have refunded the second payment.", "请稍等，我帮您申请退款。", "您的信用卡额度已经调整好了。"],
    "caller": ["我的卡被扣了一笔年费，我要退款。", "为什么还显示逾期？", "我想提高一下额度。", "I want a refund for this fee.",
               "My card keeps getting declined.", "I never made this purchase.", "你们这是什么服务态度？",
               "Can I speak to your manager?"],
}

# Lines said in about one call in a thousand (``RARE``): the trigram index's case.
RARE = {"caller": ["请帮我办理销户手续。", "I want to close my account today."]}

SEARCHES = {
    "退款, team03, one month (common, 2 characters)": finder.SearchQuery(text="退款", team="team03",
                                                                      date_from="2026-03-01", date_to="2026-03-31"),
    "退款, said by the caller, score <= 70": finder.SearchQuery(text="退款", speaker="caller", max_score=70),
    "年费 anywhere (newest 100)": finder.SearchQuery(text="年费"),
    "refund, caller, score <= 70 (common, English)": finder.SearchQuery(text="refund", speaker="caller", max_score=70),
    "信用卡额度 + a banned phrase": finder.SearchQuery(text="信用卡额度", kind="banned_phrase"),
    "销户 (rare, 2 characters: every call's lines)": finder.SearchQuery(text="销户"),
    "close my account (rare: the trigram index)": finder.SearchQuery(text="close my account"),
    "办理销户手续, said by the caller (rare, index)": finder.SearchQuery(text="办理销户手续", speaker="caller"),
    "banned zh.refusal, agent agitation >= 0.8, team07": finder.SearchQuery(kind="banned_phrase", rule="zh.refusal",
                                                                            min_agitation=0.8, agitation_of="agent",
                                                                            team="team07"),
    "agent042, complaints, outbound, Q2": finder.SearchQuery(agent="agent042", call_type="complaint",
                                                             direction="outbound", date_from="2026-04-01",
                                                             date_to="2026-06-30"),
}


def add_transcripts(store, per_call: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    conn = store.conn
    t0 = time.perf_counter()
    calls = conn.execute("SELECT call_id, current_result_id FROM calls").fetchall()
    with store.transaction():
        conn.execute("UPDATE calls SET call_type = CASE abs(random()) % 3 WHEN 0 THEN 'complaint' WHEN 1 THEN"
                     " 'inbound_service' ELSE 'sales' END, direction = CASE abs(random()) % 4 WHEN 0 THEN 'outbound'"
                     " ELSE 'inbound' END")
    for i in range(0, len(calls), 5000):
        rows = []
        for call_id, result_id in calls[i:i + 5000]:
            t = 0.0
            for idx in range(per_call):
                speaker = "agent" if idx % 2 == 0 else "caller"
                text = rng.choice(RARE[speaker] if speaker in RARE and rng.random() < 0.0005 else LINES[speaker])
                rows.append((result_id, call_id, idx, speaker, t, t + 4.0, text, -0.2))
                t += 5.0
        with store.transaction():
            conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?)", rows)
            conn.executemany("INSERT INTO segments_fts (text, call_id, result_id, start, speaker) VALUES (?,?,?,?,?)",
                             [(r[6], r[1], r[0], r[4], r[3]) for r in rows])
    conn.execute("ANALYZE")
    print(f"added {len(calls) * per_call} transcript lines in {time.perf_counter() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_store_arguments(ap, Path("/tmp/qa_bench_search.db"))
    ap.add_argument("--segments-per-call", type=int, default=8)
    args = ap.parse_args()
    store, generated = open_or_generate(args)
    if generated:
        add_transcripts(store, args.segments_per_call)
    if store.conn.execute("SELECT count(*) FROM users WHERE name='bench_coach'").fetchone()[0] == 0:
        add_user(store, "bench_coach", "coach", actor="bench")
    ids = {name: finder.save_search(store, "bench_coach", name, q) for name, q in SEARCHES.items()}
    counts = [store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("calls", "findings", "segments")]
    print(f"database: {counts[0]} calls, {counts[1]} findings, {counts[2]} transcript lines")
    for name, search_id in ids.items():
        ms, calls = timed(lambda sid=search_id: finder.run_saved(store, "bench_coach", sid))
        print(f"{name:52s} {ms:8.1f} ms  {len(calls):4d} calls  (target < 200 ms)")


if __name__ == "__main__":
    main()
