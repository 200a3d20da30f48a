"""The review app's pages show what the database holds (checked with independent SQL) and its
forms change it through the review API: queue filters and claims, the call page, search, the QA
lead's calibration, runs and disputes, an agent's dispute."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import copy_db
from tests.web.web_helpers import add_users, csrf_of, login


@pytest.fixture(scope="module")
def env(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from qa_pipeline.web.app import create_app

    db = copy_db(sample_db, tmp_path_factory.mktemp("web_app"))
    add_users(db)
    return {"db": db, "app": create_app(db)}


def signed_in(env: dict, name: str) -> TestClient:
    client = TestClient(env["app"])
    assert login(client, name).status_code == 200
    return client


def sql(db: Path, query: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, params).fetchall()


def queue_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-call="([^"]+)">', html)


def test_queue_page_lists_open_items_by_priority_with_filters(env: dict) -> None:
    db = env["db"]
    coach = signed_in(env, "coach1")
    expected = [r[0] for r in sql(db, "SELECT call_id FROM queue_items WHERE status='open'"
                                      " ORDER BY priority DESC, call_id LIMIT 100")]
    assert expected and queue_ids(coach.get("/queue").text) == expected
    team = sql(db, "SELECT team FROM queue_items GROUP BY team ORDER BY count(*) DESC LIMIT 1")[0][0]
    assert queue_ids(coach.get("/queue", params={"team": team}).text) == [
        r[0] for r in sql(db, "SELECT call_id FROM queue_items WHERE status='open' AND team=?"
                              " ORDER BY priority DESC, call_id", team)]
    by_kind = [r[0] for r in sql(db, "SELECT q.call_id FROM queue_items q WHERE q.status='open' AND EXISTS"
                                     " (SELECT 1 FROM findings f WHERE f.result_id=q.result_id AND f.kind='banned_phrase')"
                                     " ORDER BY q.priority DESC, q.call_id")]
    assert by_kind and queue_ids(coach.get("/queue", params={"kind": "banned_phrase"}).text) == by_kind
    day = sql(db, "SELECT substr(c.started_at, 1, 10) FROM queue_items q JOIN calls c USING (call_id)"
                  " ORDER BY q.priority DESC LIMIT 1")[0][0]
    assert queue_ids(coach.get("/queue", params={"day": day}).text) == [
        r[0] for r in sql(db, "SELECT q.call_id FROM queue_items q JOIN calls c USING (call_id) WHERE q.status='open'"
                              " AND substr(c.started_at, 1, 10)=? ORDER BY q.priority DESC, q.call_id", day)]
    week = sql(db, "SELECT week FROM queue_items LIMIT 1")[0][0]
    agent = sql(db, "SELECT agent_id FROM queue_items WHERE week=? LIMIT 1", week)[0][0]
    assert queue_ids(coach.get("/queue", params={"week": week, "agent": agent}).text) == [
        r[0] for r in sql(db, "SELECT call_id FROM queue_items WHERE status='open' AND week=? AND agent_id=?"
                              " ORDER BY priority DESC, call_id", week, agent)]


def test_two_coaches_never_claim_the_same_call(env: dict) -> None:
    db = env["db"]
    one, two = signed_in(env, "coach1"), signed_in(env, "coach2")
    top = sql(db, "SELECT call_id FROM queue_items WHERE status='open' AND claimed_by IS NULL"
                  " ORDER BY priority DESC, call_id LIMIT 1")[0][0]
    resp = one.post("/queue/claim", data={"csrf": csrf_of(one.get("/queue").text)}, follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{top}?msg=claimed"
    resp = two.post("/queue/claim", data={"csrf": csrf_of(two.get("/queue").text), "call_id": top},
                    follow_redirects=False)
    assert resp.headers["location"].endswith("msg=claim_failed")
    assert sql(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", top) == [("coach1",)]
    # The next claim goes to the next item, not the claimed one.
    resp = two.post("/queue/claim", data={"csrf": csrf_of(two.get("/queue").text)}, follow_redirects=False)
    second = resp.headers["location"].split("/")[2].split("?")[0]
    assert second != top and sql(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", second) == [("coach2",)]


def test_call_page_shows_transcript_findings_score_and_tone(env: dict) -> None:
    db = env["db"]
    coach = signed_in(env, "coach1")
    call_id, result_json = sql(db, "SELECT c.call_id, r.result_json FROM calls c JOIN results r"
                                   " ON r.result_id=c.current_result_id JOIN queue_items q USING (call_id)"
                                   " ORDER BY q.priority DESC LIMIT 1")[0]
    html = coach.get(f"/calls/{call_id}").text
    result = json.loads(result_json)
    flagged = sql(db, "SELECT f.finding_key FROM findings f JOIN calls c ON c.current_result_id=f.result_id"
                      " WHERE c.call_id=? AND (f.kind != 'script_step' OR f.status='fail')", call_id)
    assert sorted(re.findall(r'<li class="finding[^"]*" data-seek="[^"]+" data-key="([^"]+)"', html)) == \
        sorted(k for (k,) in flagged)
    assert html.count('<li class="seg ') == len(result["transcript"]["segments"])
    tone = re.search(r'<svg class="tone"(.*?)</svg>', html, re.S).group(1)
    assert tone.count('<rect ') == len(result["tone"]["timeline"])
    timeline = re.search(r'<svg class="timeline" id="findings-timeline"(.*?)</svg>', html, re.S).group(1)
    assert sorted(re.findall(r'<rect [^>]*data-key="([^"]+)"', timeline)) == sorted(k for (k,) in flagged)
    assert f'id="machine-total">{result["score"]["total"]}<' in html
    for criterion in result["score"]["criteria"]:
        assert f'name="score_{criterion["id"]}"' in html
    assert '<audio id="player"' in html and f'src="/calls/{call_id}/audio?channel=both"' in html


def test_search_finds_transcript_text(env: dict) -> None:
    db = env["db"]
    coach = signed_in(env, "coach1")
    text = sql(db, "SELECT text FROM segments WHERE length(text) >= 6 ORDER BY call_id, idx LIMIT 1")[0][0]
    needle = text[:4]
    html = coach.get("/search", params={"q": needle}).text
    calls = {r[0] for r in sql(db, "SELECT DISTINCT call_id FROM segments WHERE text LIKE ?", f"%{needle}%")}
    assert calls and set(re.findall(r'<a href="/calls/([^"#]+)#t=', html)) == calls


def test_lead_sees_runs_quarantine_and_calibration_from_coach_verdicts(env: dict) -> None:
    db = env["db"]
    coach = signed_in(env, "coach2")
    rows = sql(db, "SELECT c.call_id, f.finding_key, f.rule_id FROM findings f JOIN calls c"
                   " ON c.current_result_id=f.result_id LEFT JOIN queue_items q ON q.call_id = c.call_id"
                   " WHERE f.kind='banned_phrase' AND (q.claimed_by IS NULL OR q.claimed_by = 'coach2')"  # not others'
                   " ORDER BY c.call_id, f.start")
    assert len(rows) >= 2
    by_call: dict[str, dict[str, str]] = {}
    for i, (call_id, key, _rule) in enumerate(rows):
        by_call.setdefault(call_id, {})[f"verdict_{key}"] = "confirm" if i % 3 else "reject"
    for call_id, verdicts in by_call.items():  # one review per call, by the coach who claimed it
        token = csrf_of(coach.get(f"/calls/{call_id}").text)
        assert coach.post("/queue/claim", data={"csrf": token, "call_id": call_id}, follow_redirects=False).status_code == 303
        resp = coach.post(f"/calls/{call_id}/review", data={"csrf": token, **verdicts}, follow_redirects=False)
        assert resp.status_code == 303
    lead = signed_in(env, "lead1")
    html = lead.get("/lead/calibration").text
    for rule_id, confirmed, rejected in sql(db, "SELECT v.rule_id, SUM(v.verdict='confirm'), SUM(v.verdict='reject')"
                                                " FROM finding_verdicts v JOIN reviews r USING (review_id)"
                                                " WHERE r.status = 'current' GROUP BY v.rule_id"):
        precision = round(confirmed / (confirmed + rejected), 3)
        row = re.search(rf'data-rule="{re.escape(rule_id)}">(.*?)</tr>', html, re.S)
        assert row, rule_id
        assert f'<td class="num">{confirmed}</td><td class="num">{rejected}</td>' in row.group(1)
        assert f'<td class="num precision">{precision}</td>' in row.group(1)
    runs = lead.get("/lead/runs").text
    for (run_id,) in sql(db, "SELECT run_id FROM runs"):
        assert run_id in runs
    for (path,) in sql(db, "SELECT path FROM quarantine"):
        assert path in runs


def test_agent_disputes_and_lead_changes_the_review(env: dict) -> None:
    db = env["db"]
    coach = signed_in(env, "coach1")
    call_id, agent_id, key = sql(db, "SELECT c.call_id, c.agent_id, f.finding_key FROM findings f JOIN calls c"
                                     " ON c.current_result_id=f.result_id WHERE f.kind != 'script_step'"
                                     " ORDER BY c.call_id DESC LIMIT 1")[0]
    token = csrf_of(coach.get(f"/calls/{call_id}").text)
    coach.post("/queue/claim", data={"csrf": token, "call_id": call_id})
    coach.post(f"/calls/{call_id}/review", data={"csrf": token, f"verdict_{key}": "confirm", "notes": "first"})
    review_id = sql(db, "SELECT review_id FROM reviews WHERE call_id=? AND notes='first'", call_id)[0][0]
    agent = signed_in(env, f"agent_{agent_id}")
    assert agent.get(f"/calls/{call_id}").status_code == 404  # not released yet
    lead = signed_in(env, "lead1")
    resp = lead.post(f"/reviews/{review_id}/release", data={"csrf": csrf_of(lead.get(f"/calls/{call_id}").text)},
                     follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{call_id}?msg=review_released"

    page = agent.get(f"/calls/{call_id}")
    assert page.status_code == 200 and f"/reviews/{review_id}/dispute" in page.text
    resp = agent.post(f"/reviews/{review_id}/dispute", data={"csrf": csrf_of(page.text), "reason": "I was polite"},
                      follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{call_id}?msg=disputed"
    dispute_id = sql(db, "SELECT dispute_id FROM disputes WHERE review_id=? AND status='open'", review_id)[0][0]

    assert dispute_id in lead.get("/lead/disputes").text
    token = csrf_of(lead.get(f"/calls/{call_id}").text)
    resp = lead.post(f"/lead/disputes/{dispute_id}/resolve",
                     data={"csrf": token, "decision": "changed", "note": "not rude", f"verdict_{key}": "reject",
                           "back": f"/calls/{call_id}"}, follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{call_id}?msg=resolved"
    assert sql(db, "SELECT status, resolved_by, resolution FROM disputes WHERE dispute_id=?", dispute_id) == [
        ("changed", "lead1", "not rude")]
    latest = sql(db, "SELECT r.reviewer, v.verdict FROM reviews r JOIN finding_verdicts v USING (review_id)"
                     " WHERE r.call_id=? AND v.finding_key=? ORDER BY r.rowid DESC LIMIT 1", call_id, key)
    assert latest == [("lead1", "reject")]


def pii_rows(db: Path) -> list[tuple]:
    return sql(db, "SELECT f.call_id, f.speaker, f.start, f.end, f.details FROM findings f JOIN calls c"
                   " ON c.current_result_id=f.result_id WHERE f.kind='pii' ORDER BY f.call_id, f.start")


def test_personal_data_is_covered_in_transcript_and_search(env: dict) -> None:
    """coach_view: redacted (the default): the digits a PII finding covers are not on the page or in search hits."""
    db = env["db"]
    rows = pii_rows(db)
    assert rows, "the sample calls have personal data (en_pii_readback, zh_pii_update)"
    coach = signed_in(env, "coach1")
    checked = 0
    for call_id, _speaker, _start, _end, details in rows:
        html = coach.get(f"/calls/{call_id}").text
        transcript = re.search(r'<ol class="transcript">(.*?)</ol>', html, re.S).group(1)
        items = re.findall(r'<li class="seg [^>]*>(.*?)</li>', transcript, re.S)
        email = json.loads(details)["type"] == "email"
        for si in {span[0] for span in json.loads(details)["spans"]}:
            raw = sql(db, "SELECT text FROM segments WHERE call_id=? AND idx=?", call_id, si)[0][0]
            shown = re.sub(r"<[^>]+>", "", items[si])
            if email:  # the address's domain is what identifies it on the page
                domains = re.findall(r"[\w-]+\.(?:com|org|net|cn)\b", raw)
                assert domains and "[EMAIL]" in shown and not any(d in shown for d in domains), (raw, shown)
                continue
            runs = [r for r in re.findall(r"\d{3,}", raw)]
            if not runs:  # an address or a name: covered by its placeholder
                assert "[" in shown, (raw, shown)
                continue
            assert not any(r in shown for r in runs), (raw, shown)
            assert "[" in shown
            checked += 1
            page = coach.get("/search", params={"q": runs[0]}).text
            hits = re.search(r'<table class="hits">(.*?)</table>', page, re.S).group(1)
            assert call_id in hits and runs[0] not in re.sub(r'href="[^"]*"', "", hits)
    assert checked


def test_personal_data_is_toned_out_of_the_audio(env: dict) -> None:
    import io

    import numpy as np
    import soundfile as sf

    from qa_pipeline.base.audio import load_audio
    from qa_pipeline.config import PrivacyConfig

    db = env["db"]
    call_id, speaker, start, end, _ = pii_rows(db)[0]
    audio_path, layout, result_json = sql(db, "SELECT c.audio_path, c.layout, r.result_json FROM calls c"
                                              " JOIN results r ON r.result_id=c.current_result_id WHERE c.call_id=?",
                                          call_id)[0]
    raw = load_audio(audio_path, agent_channel=json.loads(result_json)["call"]["agent_channel"],
                     layout="mono" if layout == "mono" else None)
    coach = signed_in(env, "coach1")
    served, rate = sf.read(io.BytesIO(coach.get(f"/calls/{call_id}/audio?channel=both").content), always_2d=True)
    assert rate == raw.rate and served.shape[0] == len(raw.channels[0])
    ch = 0 if len(raw.channels) == 1 or speaker == "agent" else 1
    pad = PrivacyConfig().pad_seconds
    a, b = int((start - pad) * rate), int((end + pad) * rate)
    covered = np.zeros(served.shape[0], dtype=bool)  # every PII span of the call on this channel, with a margin
    # (the page covers every number it masks, findings or not: qa.masked_numbers, as the audio route does)
    from qa_pipeline import call_result_from_dict, masked_numbers

    result = call_result_from_dict(json.loads(result_json))
    for span in masked_numbers(result.transcript, result.call, PrivacyConfig()):
        if len(raw.channels) == 1 or span.speaker in (speaker, "unknown"):
            covered[max(0, int((span.start - pad - 0.1) * rate)):int((span.end + pad + 0.1) * rate)] = True
    assert (~covered).sum() > rate  # enough audio left to compare
    assert np.max(np.abs(served[~covered, ch] - raw.channels[ch][~covered])) < 2e-4  # 16-bit rounding only
    inside = served[a + rate // 20:b - rate // 20, ch]
    assert np.max(np.abs(inside - raw.channels[ch][a + rate // 20:b - rate // 20])) > 0.01
    spectrum = np.abs(np.fft.rfft(inside))
    assert abs(np.argmax(spectrum) * rate / len(inside) - 1000.0) < 20  # the 1 kHz redaction tone


def test_hr_scorecard_downloads_equal_qa_scorecard(env: dict, tmp_path: Path) -> None:
    """The page's downloads are byte for byte what `qa scorecard` writes (CSV, HTML less its timestamp), XLSX opens."""
    import openpyxl
    from typer.testing import CliRunner

    from qa_pipeline.cli import app

    db = env["db"]
    week = sql(db, "SELECT week FROM calls GROUP BY week ORDER BY count(*) DESC, week LIMIT 1")[0][0]
    team = sql(db, "SELECT team FROM calls WHERE week=? LIMIT 1", week)[0][0]
    hr = signed_in(env, "hr1")
    page = hr.get("/scorecards", params={"week": week, "team": team})
    assert page.status_code == 200 and 'id="download-xlsx"' in page.text
    agents = {r[0] for r in sql(db, "SELECT DISTINCT agent_id FROM calls WHERE week=? AND team=?", week, team)}
    shown = set(re.findall(r"<tr><td>([^<]+)</td>", page.text))
    assert shown == agents
    for fmt in ("csv", "html", "xlsx"):
        resp = hr.get("/scorecards/export", params={"week": week, "team": team, "fmt": fmt})
        assert resp.status_code == 200
        assert resp.headers["content-disposition"] == f'attachment; filename="scorecard_{week}_{team}.{fmt}"'
        out = tmp_path / f"cli.{fmt}"
        result = CliRunner().invoke(app, ["scorecard", "--week", week, "--team", team, "--format", fmt,
                                          "--db", str(db), "--out", str(out)])
        assert result.exit_code == 0, result.output
        if fmt == "csv":
            assert resp.content == out.read_bytes()
        elif fmt == "html":
            def strip(b: bytes) -> str:
                return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "T", b.decode())
            assert strip(resp.content) == strip(out.read_bytes())
        else:
            path = tmp_path / "web.xlsx"
            path.write_bytes(resp.content)
            web_rows = [list(r) for ws in openpyxl.load_workbook(path).worksheets for r in ws.iter_rows(values_only=True)]
            cli_rows = [list(r) for ws in openpyxl.load_workbook(out).worksheets for r in ws.iter_rows(values_only=True)]
            assert web_rows == cli_rows and len(web_rows) > len(agents)
    assert sql(db, "SELECT count(*) FROM audit_log WHERE actor='hr1' AND action='scorecard.export'")[0][0] == 3


def test_concurrent_claims_over_http_get_distinct_calls(env: dict) -> None:
    """Many claims at once against the live server (worker threads, one connection each): no errors,
    no call claimed twice."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.web.web_helpers import live_server

    db = env["db"]
    open_before = sql(db, "SELECT count(*) FROM queue_items WHERE status='open' AND claimed_by IS NULL")[0][0]
    n = min(8, open_before)
    assert n >= 4
    with live_server(db) as base:
        clients = []
        for name in ("coach1", "coach2"):
            c = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
            assert login(c, name).status_code == 303
            clients.append((c, csrf_of(c.get("/queue").text)))

        def claim(i: int) -> str:
            c, token = clients[i % 2]
            resp = c.post("/queue/claim", data={"csrf": token})
            assert resp.status_code == 303, resp.text[:200]
            return resp.headers["location"]

        with ThreadPoolExecutor(n) as pool:
            locations = list(pool.map(claim, range(n)))
        for c, _ in clients:
            c.close()
    claimed = [loc.split("/")[2].split("?")[0] for loc in locations]
    assert len(set(claimed)) == n and all(loc.endswith("msg=claimed") for loc in locations)
    assert sql(db, "SELECT count(*) FROM queue_items WHERE status='open' AND claimed_by IS NULL")[0][0] == open_before - n
