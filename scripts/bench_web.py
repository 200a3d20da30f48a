#!/usr/bin/env python3
"""Latency of the review app's queue and call pages over a generated 100 k-call database.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_web.py [--calls 100000] [--db /tmp/qa_bench_web.db] [--reuse]

Builds the database with scripts/bench_store.py's generator (100 k calls, 1 M findings), gives a
sample of calls a full machine result (transcript, tone timeline, score breakdown from the real
scoring code over the call's generated findings), starts `qa serve` in a subprocess, signs in as a
coach over HTTP and prints p50/p95 of each page, measured by the client (whole request, server + wire).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import add_store_arguments, open_or_generate  # noqa: E402

from qa_pipeline.contracts import Call, CallResult, Finding, Segment, Transcript, Word, to_dict  # noqa: E402
from qa_pipeline.stages.scoring import load_form, score_call  # noqa: E402
from qa_pipeline.store.auth import hash_password  # noqa: E402
from qa_pipeline.store.db import Store  # noqa: E402
from qa_pipeline.store.users import add_user  # noqa: E402

PHRASES = ["您好，这里是客服中心，我是小王", "请问有什么可以帮您", "我的信用卡被盗刷了，你们怎么回事", "请您提供一下身份证后四位",
           "好的，我帮您查询一下，请稍等", "这个我不知道，你自己去问吧", "非常抱歉给您带来不便", "还有其他可以帮您的吗", "谢谢您的来电，再见"]


def give_results(store: Store, call_ids: list[str], seed: int = 11) -> None:
    """A realistic current result (≈80 segments, words, tone timeline, scored breakdown) for each call."""
    rng = random.Random(seed)
    form = load_form(None)
    for call_id in call_ids:
        row = dict(next(iter(store.db.query("SELECT * FROM calls WHERE call_id=?", [call_id]))))
        duration = float(row["duration"])
        n = 80
        segs, timeline = [], []
        for i in range(n):
            start = duration * i / n
            end = start + duration / n * 0.9
            speaker = "agent" if i % 2 == 0 else "caller"
            text = rng.choice(PHRASES)
            words = [Word(start + k * (end - start) / len(text), start + (k + 1) * (end - start) / len(text), ch, 0.9)
                     for k, ch in enumerate(text)]
            segs.append(Segment(speaker, round(start, 2), round(end, 2), text, text, -0.3, 0.01, words))
            timeline.append({"speaker": speaker, "start": round(start, 2), "end": round(end, 2),
                             "agitation": round(rng.random(), 3), "acoustic": 0.5, "text_negativity": 0.1,
                             "z": {}, "text": text})
        findings = [Finding(call_id, f["kind"], f["rule_id"], f["rule_version"], f["speaker"], f["start"], f["end"],
                            f["evidence"], f["confidence"], f["severity"],
                            {"category": f["category"], "status": f["status"],
                             "step": f["rule_id"].split(".")[-1] if f["kind"] == "script_step" else None})
                    for f in store.db.query("SELECT * FROM findings WHERE call_id=?", [call_id])]
        call = Call(call_id, row["audio_path"], row["sha256"], row["agent_id"], row["team"], row["started_at"])
        transcript = Transcript("zh", "base", {}, duration, segs)
        score = score_call(call, transcript, findings, form)
        tone = {"speakers": {"agent": {"agitation": 0.3}, "caller": {"agitation": 0.5}}, "timeline": timeline}
        result = CallResult(call, transcript, findings, tone, score, {"form": form.version})
        with store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO results (result_id, call_id, versions_key, versions, language, model_id,"
                         " run_id, created_at, result_json) VALUES (?,?,?,?,?,?,?,?,?)",
                         (row["current_result_id"], call_id, "bench-" + call_id, "{}", "zh", "base", None,
                          row["started_at"], json.dumps(to_dict(result), ensure_ascii=False)))
            conn.execute("DELETE FROM segments WHERE call_id=?", (call_id,))
            conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?)",
                             [(row["current_result_id"], call_id, i, s.speaker, s.start, s.end, s.text, s.avg_logprob)
                              for i, s in enumerate(segs)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(ap, Path("/tmp/qa_bench_web.db"), "Reuse a database this script generated before.")
    ap.add_argument("--requests", type=int, default=60, help="Requests per page.")
    args = ap.parse_args()

    store, generated = open_or_generate(args)
    if generated:
        queued = [r[0] for r in store.conn.execute("SELECT call_id FROM queue_items ORDER BY priority DESC LIMIT 200")]
        rng = random.Random(3)
        sample = sorted(set(queued[:100] + rng.sample([r[0] for r in store.conn.execute("SELECT call_id FROM calls")], 100)))
        t = time.perf_counter()
        give_results(store, sample)
        store.conn.execute("ANALYZE")
        print(f"gave {len(sample)} calls a full result in {time.perf_counter() - t:.0f} s")
        add_user(store, "bench_coach", "coach", None, hash_password("bench-password"))
    # The generator fills calls only; the queue's filter lists read the agents and teams tables.
    with store.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO agents (agent_id, name, team) SELECT agent_id, agent_id, min(team)"
                     " FROM calls GROUP BY agent_id")
        conn.execute("INSERT OR IGNORE INTO teams (team) SELECT DISTINCT team FROM calls")
    with_result = [r[0] for r in store.conn.execute(
        "SELECT c.call_id FROM calls c JOIN results r ON r.result_id = c.current_result_id ORDER BY c.call_id")]
    n_calls = store.conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    n_findings = store.conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    n_queue = store.conn.execute("SELECT count(*) FROM queue_items WHERE status='open'").fetchone()[0]
    day = store.conn.execute("SELECT substr(started_at, 1, 10) FROM calls WHERE call_id IN"
                             " (SELECT call_id FROM queue_items LIMIT 1)").fetchone()[0]
    store.close()

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "qa_pipeline", "serve", "--db", str(args.db), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
            for _ in range(100):
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            resp = client.post("/login", data={"username": "bench_coach", "password": "bench-password", "csrf": token})
            assert resp.status_code == 200 and "Review queue" in resp.text, resp.status_code
            rng = random.Random(5)
            pages = {
                "queue (top 100)": lambda: "/queue",
                "queue team+kind filter": lambda: f"/queue?team=team{rng.randrange(20):02d}&kind=banned_phrase",
                "queue day filter": lambda: f"/queue?day={day}",
                "call page": lambda: f"/calls/{rng.choice(with_result)}",
            }
            print(f"database: {n_calls} calls, {n_findings} findings, {n_queue} open queue items;"
                  f" {len(with_result)} calls with a full result")
            for name, url in pages.items():
                client.get(url())  # warm
                samples = []
                for _ in range(args.requests):
                    u = url()
                    t = time.perf_counter()
                    r = client.get(u)
                    samples.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, (u, r.status_code)
                p50, p95 = percentiles(samples)
                print(f"{name:26s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   ({len(samples)} requests, target < 200 ms)")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
