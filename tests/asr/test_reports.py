"""Weekly scorecards and the daily report on the real sample database, checked against
independent SQL; human overrides; every format (CSV, XLSX, HTML in Chromium, JSON); the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import statistics
import struct
import zlib
from pathlib import Path

import pytest
from scipy.stats import t as student_t
from typer.testing import CliRunner

from qa_pipeline.config import ReportConfig
from qa_pipeline.contracts import score_from_dict
from qa_pipeline.reports.render import cell, columns, render_daily, render_scorecard, sheet_title
from qa_pipeline.reports.scorecard import (
    daily_report,
    score_total,
    weekly_scorecard,
)
from qa_pipeline.store.db import Store
from tests.conftest import copy_db

WEEKS = ("2026-W45", "2026-W46", "2026-W47")
CFG = ReportConfig(min_calls=2)  # the sample has 1-2 calls per agent and week
NAMES = {"wang_fang": "王芳", "li_na": "李娜", "zhang_wei": "张伟"}  # HR's roster: Chinese names
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def db(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_db(sample_db, tmp_path_factory.mktemp("reports"))
    with sqlite3.connect(path) as conn:
        conn.executemany("UPDATE agents SET name=? WHERE agent_id=?", [(v, k) for k, v in NAMES.items()])
    return path


@pytest.fixture()
def writable_db(db: Path, tmp_path: Path) -> Path:
    return copy_db(db, tmp_path)


def q(conn: sqlite3.Connection, sql: str, *params) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


CURRENT = "FROM findings f JOIN calls c ON c.current_result_id = f.result_id"


def expected_row(conn: sqlite3.Connection, agent: str, week: str) -> dict:
    """An agent's week straight from the tables (no reviews in the fixture database)."""
    totals = [r[0] for r in q(conn, "SELECT s.total FROM calls c JOIN scores s ON s.result_id = c.current_result_id"
                                    " WHERE c.agent_id=? AND c.week=? ORDER BY c.started_at, c.call_id", agent, week)]
    n, hours, passed, auto = q(conn, "SELECT COUNT(*), SUM(c.duration)/3600.0, SUM(s.passed), SUM(s.auto_fail) FROM calls c"
                                     " JOIN scores s ON s.result_id = c.current_result_id WHERE c.agent_id=? AND c.week=?",
                               agent, week)[0]
    banned = dict(q(conn, f"SELECT f.category, COUNT(*) {CURRENT} WHERE c.agent_id=? AND c.week=?"
                          " AND f.kind='banned_phrase' AND f.speaker='agent' GROUP BY f.category", agent, week))
    steps = {s: (n_, p) for s, n_, p in q(conn,
             "SELECT step, COUNT(*), SUM(ok) FROM (SELECT c.call_id, json_extract(f.details, '$.step') AS step,"
             f" MIN(f.status = 'pass') AS ok {CURRENT} WHERE c.agent_id=? AND c.week=? AND f.kind='script_step'"
             " AND f.status IN ('pass','fail') AND COALESCE(json_extract(f.details, '$.order_violation'), 0) = 0"
             " GROUP BY c.call_id, step) GROUP BY step", agent, week)}
    emotional = q(conn, f"SELECT COUNT(DISTINCT c.call_id) {CURRENT} WHERE c.agent_id=? AND c.week=?"
                        " AND f.kind='tone' AND f.rule_id='emotional_agent'", agent, week)[0][0]
    escalated = [r[0] for r in q(conn, f"SELECT DISTINCT c.call_id {CURRENT} WHERE c.agent_id=? AND c.week=? AND"
                                       " ((f.kind='escalation' AND f.speaker='caller') OR (f.kind='tone' AND"
                                       " f.rule_id='emotional_caller'))", agent, week)]
    calmed = sum(q(conn, "SELECT json_extract(r.result_json, '$.tone.speakers.caller.trend.direction') = 'calmer'"
                         " FROM calls c JOIN results r ON r.result_id = c.current_result_id WHERE c.call_id=?", cid)[0][0]
                 for cid in escalated)
    ids = [r[0] for r in q(conn, "SELECT call_id FROM calls WHERE agent_id=? AND week=? ORDER BY started_at, call_id",
                           agent, week)]
    return {"calls": n, "hours": hours, "totals": totals, "passed": passed, "auto": auto, "banned": banned,
            "steps": steps, "emotional": emotional, "escalated": len(escalated), "calmed": calmed, "ids": ids}


def test_scorecard_numbers_match_database(db: Path) -> None:
    store = Store(db)
    conn = sqlite3.connect(db)
    seen_ranked = seen_insufficient = 0
    for i, week in enumerate(WEEKS):
        card = weekly_scorecard(store, week, config=CFG)
        agents = [r[0] for r in q(conn, "SELECT DISTINCT agent_id FROM calls WHERE week=? ORDER BY agent_id", week)]
        assert sorted(r.agent_id for r in card.rows) == agents
        for row in card.rows:
            e = expected_row(conn, row.agent_id, week)
            assert row.calls == e["calls"] and row.call_ids["calls"] == e["ids"]
            assert row.audio_hours == pytest.approx(e["hours"], abs=1e-3)
            mean = statistics.fmean(e["totals"])
            assert row.mean_score == pytest.approx(mean, abs=0.01)
            if len(e["totals"]) > 1:
                half = student_t.ppf(0.975, len(e["totals"]) - 1) * statistics.stdev(e["totals"]) / math.sqrt(len(e["totals"]))
                assert row.ci_low == pytest.approx(max(0, mean - half), abs=0.01)
                assert row.ci_high == pytest.approx(min(100, mean + half), abs=0.01)
            else:
                assert row.ci_low is None and row.ci_high is None
            assert row.pass_rate == pytest.approx(e["passed"] / e["calls"], abs=1e-3)
            assert row.auto_fails == e["auto"]
            assert row.banned == e["banned"] and row.banned_total == sum(e["banned"].values())
            assert row.adherence_n == {s: v[0] for s, v in e["steps"].items()}
            assert row.adherence == {s: pytest.approx(v[1] / v[0], abs=1e-3) for s, v in e["steps"].items()}
            assert row.emotional_agent_calls == e["emotional"]
            assert (row.escalated_calls, row.calmed_calls) == (e["escalated"], e["calmed"])
            assert row.reviewed_calls == 0 and row.disputes_opened == 0
            assert NAMES.get(row.agent_id, row.agent_id) == row.agent_name
            if e["calls"] < CFG.min_calls:
                assert (row.status, row.tier, row.rank) == ("insufficient data", None, None)
                seen_insufficient += 1
            else:
                want = "gold" if mean >= 90 else "silver" if mean >= 80 else "bronze" if mean >= 70 else "iron"
                assert (row.status, row.tier) == ("ranked", want)
                better = [r for r in card.rows if r.team == row.team and r.status == "ranked"
                          and r.mean_score > row.mean_score]
                assert row.rank == 1 + len(better)
                seen_ranked += 1
            if i:
                prev = [r[0] for r in q(conn, "SELECT s.total FROM calls c JOIN scores s ON s.result_id ="
                                              " c.current_result_id WHERE c.agent_id=? AND c.week=?", row.agent_id, WEEKS[i - 1])]
                assert row.prev_mean_score == (pytest.approx(statistics.fmean(prev), abs=0.01) if prev else None)
            trend = {p.week: p for p in row.trend}
            for w in WEEKS[: i + 1]:
                assert trend[w].calls == len(expected_row(conn, row.agent_id, w)["ids"])
    assert seen_ranked and seen_insufficient
    # each team filter gives the team's rows
    for team in ("cards_east", "cards_west"):
        card = weekly_scorecard(store, "2026-W46", team=team, config=CFG)
        assert {r.team for r in card.rows} == {team}
        assert sum(r.calls for r in card.rows) == q(conn, "SELECT COUNT(*) FROM calls WHERE week='2026-W46' AND team=?",
                                                    team)[0][0]


def test_stored_totals_are_reproduced(db: Path) -> None:
    """Human points are re-totalled by the form's rule; on the machine breakdown it gives the stored total."""
    conn = sqlite3.connect(db)
    rows = q(conn, "SELECT total, passed, breakdown FROM scores")
    assert rows
    for total, passed, breakdown in rows:
        assert score_total(score_from_dict(json.loads(breakdown))) == (pytest.approx(total, abs=0.01), bool(passed))


def _applicable(conn: sqlite3.Connection, call_id: str) -> tuple[float, float]:
    """(applicable weight, earned points) of the call's machine breakdown, by SQL over its JSON."""
    return q(conn, "SELECT SUM(json_extract(j.value, '$.weight')), SUM(json_extract(j.value, '$.points'))"
                   " FROM calls c JOIN scores s ON s.result_id = c.current_result_id, json_each(s.breakdown, '$.criteria') j"
                   " WHERE c.call_id=? AND json_extract(j.value, '$.status') != 'na'"
                   " AND NOT json_extract(j.value, '$.assist')", call_id)[0]


def test_human_override_changes_scorecard(writable_db: Path) -> None:
    from qa_pipeline.store.disputes import open_dispute, resolve_dispute
    from qa_pipeline.store.release import release_review
    from qa_pipeline.store.users import add_user
    from tests.review_helpers import review as submit_review  # claims the call, then reviews it

    store = Store(writable_db)
    conn = sqlite3.connect(writable_db)
    add_user(store, "mei", "coach")
    add_user(store, "lead", "qa_lead")
    # 1. human points for a criterion the machine passed, on a call with no auto-fail and no bonus
    cid, agent, week, total, crit, weight = q(conn,
        "SELECT c.call_id, c.agent_id, c.week, s.total, json_extract(j.value, '$.id'), json_extract(j.value, '$.weight')"
        " FROM calls c JOIN scores s ON s.result_id = c.current_result_id, json_each(s.breakdown, '$.criteria') j"
        " WHERE s.auto_fail = 0 AND json_array_length(s.breakdown, '$.bonus') = 0"
        " AND json_extract(j.value, '$.status') = 'pass' AND c.week = '2026-W46'"
        " AND EXISTS (SELECT 1 FROM calls c2 WHERE c2.agent_id = c.agent_id AND c2.week = '2026-W47')"
        " ORDER BY c.call_id LIMIT 1")[0]
    before = next(r for r in weekly_scorecard(store, week, config=CFG).rows if r.agent_id == agent)
    applicable, earned = _applicable(conn, cid)
    review_id = submit_review(store, "mei", cid, human_scores={crit: 0})
    after = next(r for r in weekly_scorecard(store, week, config=CFG).rows if r.agent_id == agent)
    line = next(c for c in after.calls_detail if c.call_id == cid)
    want = round(100 * (earned - weight) / applicable, 2)
    assert line.score == pytest.approx(want, abs=0.01) and line.machine_score == total
    assert (line.score_source, line.human_criteria, line.reviewed) == ("human", [crit], True)
    others = [c.score for c in after.calls_detail if c.call_id != cid]
    assert after.mean_score == pytest.approx(statistics.fmean([want, *others]), abs=0.01)
    assert after.mean_score < before.mean_score
    assert (after.reviewed_calls, after.human_scored_calls) == (1, 1) and after.call_ids["human_scored"] == [cid]
    # the next week's change and trend use the overridden score too
    nxt = next(r for r in weekly_scorecard(store, "2026-W47", config=CFG).rows if r.agent_id == agent)
    assert nxt.prev_mean_score == pytest.approx(after.mean_score, abs=0.01)
    assert next(p for p in nxt.trend if p.week == week).mean_score == pytest.approx(after.mean_score, abs=0.01)

    # 2. a rejected banned phrase leaves the counts; the call is scored again without it
    fkey, bcid, bagent, bweek, category, btotal = q(conn,
        f"SELECT f.finding_key, c.call_id, c.agent_id, c.week, f.category, s.total {CURRENT}"
        " JOIN scores s ON s.result_id = c.current_result_id WHERE f.kind='banned_phrase' AND f.speaker='agent'"
        # the only evidence of a failed criterion: rejecting it must give back what it cost
        " AND EXISTS (SELECT 1 FROM json_each(s.breakdown, '$.criteria') j WHERE json_extract(j.value, '$.status')"
        "      = 'fail' AND json_array_length(j.value, '$.evidence') = 1"
        "      AND json_extract(j.value, '$.evidence[0].rule_id') = f.rule_id"
        "      AND json_extract(j.value, '$.evidence[0].start') = f.start)"
        " AND NOT (c.agent_id = ? AND c.week = ?)"  # part 5 checks the first part's agent-week again
        " ORDER BY c.call_id LIMIT 1", agent, week)[0]
    row0 = next(r for r in weekly_scorecard(store, bweek, config=CFG).rows if r.agent_id == bagent)
    submit_review(store, "mei", bcid, verdicts={fkey: "reject"})
    row1 = next(r for r in weekly_scorecard(store, bweek, config=CFG).rows if r.agent_id == bagent)
    left = q(conn, f"SELECT COUNT(*) {CURRENT} WHERE c.agent_id=? AND c.week=? AND f.kind='banned_phrase'"
                   " AND f.speaker='agent' AND f.category=? AND f.finding_key NOT IN"
                   " (SELECT finding_key FROM finding_verdicts WHERE verdict='reject')", bagent, bweek, category)[0][0]
    assert row1.banned.get(category, 0) == left == row0.banned[category] - 1
    bline = next(c for c in row1.calls_detail if c.call_id == bcid)
    assert bline.rejected == 1 and bline.score_source == "human"
    # independently: criteria and auto-fail items whose only evidence was that finding no longer count against the call
    rule, start = q(conn, "SELECT rule_id, start FROM findings WHERE finding_key=? AND call_id=?", fkey, bcid)[0]
    crit_rows = q(conn, "SELECT json_extract(j.value, '$.weight'), json_extract(j.value, '$.evidence') FROM calls c"
                        " JOIN scores s ON s.result_id = c.current_result_id, json_each(s.breakdown, '$.criteria') j"
                        " WHERE c.call_id=? AND json_extract(j.value, '$.status') = 'fail'", bcid)
    regained = sum(w for w, ev in crit_rows if all(e["rule_id"] == rule and e["start"] == start for e in json.loads(ev)))
    auto_left = q(conn, "SELECT COUNT(*) FROM calls c JOIN scores s ON s.result_id = c.current_result_id,"
                        " json_each(s.breakdown, '$.auto_fail_reasons') a, json_each(a.value, '$.evidence') e"
                        " WHERE c.call_id=? AND NOT (json_extract(e.value, '$.rule_id') = ?"
                        " AND json_extract(e.value, '$.start') = ?)", bcid, rule, start)[0][0]
    applicable, earned = _applicable(conn, bcid)
    assert regained > 0
    assert bline.auto_fail == bool(auto_left)
    if not auto_left:
        assert bline.score == pytest.approx(min(100, round(100 * (earned + regained) / applicable, 2)), abs=0.01)
        assert bline.score > btotal
    others = q(conn, f"SELECT COUNT(*) {CURRENT} WHERE c.call_id=? AND f.kind='banned_phrase' AND f.speaker='agent'"
                     " AND f.finding_key != ?", bcid, fkey)[0][0]
    # 3. a confirmed finding is counted as human-confirmed
    if others:
        okey = q(conn, f"SELECT f.finding_key {CURRENT} WHERE c.call_id=? AND f.kind='banned_phrase'"
                       " AND f.speaker='agent' AND f.finding_key != ?", bcid, fkey)[0][0]
        submit_review(store, "mei", bcid, verdicts={fkey: "reject", okey: "confirm"}, reason="the other one is real")
        row2 = next(r for r in weekly_scorecard(store, bweek, config=CFG).rows if r.agent_id == bagent)
        assert row2.banned_confirmed == 1

    # 4. a rejected script-step failure flips to a pass: adherence and score go up
    skey, scid, sagent, sweek, step = q(conn,
        f"SELECT f.finding_key, c.call_id, c.agent_id, c.week, json_extract(f.details, '$.step') {CURRENT}"
        " JOIN scores s ON s.result_id = c.current_result_id WHERE f.kind='script_step' AND f.status='fail'"
        " AND s.auto_fail = 0 AND COALESCE(json_extract(f.details, '$.order_violation'), 0) = 0"
        " AND c.call_id NOT IN (?, ?) AND NOT (c.agent_id = ? AND c.week = ?) ORDER BY c.call_id LIMIT 1",
        cid, bcid, agent, week)[0]
    srow0 = next(r for r in weekly_scorecard(store, sweek, config=CFG).rows if r.agent_id == sagent)
    submit_review(store, "mei", scid, verdicts={skey: "reject"})
    srow1 = next(r for r in weekly_scorecard(store, sweek, config=CFG).rows if r.agent_id == sagent)
    n = srow0.adherence_n[step]
    assert srow1.adherence[step] == pytest.approx(srow0.adherence[step] + 1 / n, abs=1e-3)
    assert scid not in srow1.call_ids.get(f"step_fail:{step}", [])
    assert srow1.mean_score > srow0.mean_score

    # 5. disputes: opened, then upheld by the QA lead
    add_user(store, "agent_x", "agent", agent_id=agent)
    release_review(store, "lead", review_id)
    dispute = open_dispute(store, "agent_x", review_id, "I did greet")
    row = next(r for r in weekly_scorecard(store, week, config=CFG).rows if r.agent_id == agent)
    assert (row.disputes_opened, row.disputes_open, row.call_ids["disputes"]) == (1, 1, [cid])
    resolve_dispute(store, "lead", dispute, "upheld", "the greeting was missing")
    row = next(r for r in weekly_scorecard(store, week, config=CFG).rows if r.agent_id == agent)
    assert (row.disputes_opened, row.disputes_upheld, row.disputes_open) == (1, 1, 0)
    assert row.mean_score == pytest.approx(after.mean_score, abs=0.01)  # upheld: the review stands

    # the formats carry the override
    data = json.loads(render_scorecard(weekly_scorecard(store, week, config=CFG), "json"))
    jrow = next(r for r in data["rows"] if r["agent_id"] == agent)
    assert jrow["human_scored_calls"] == 1
    assert next(c for c in jrow["calls_detail"] if c["call_id"] == cid)["score_source"] == "human"


def test_scorecard_formats_agree(db: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    card = weekly_scorecard(Store(db), "2026-W46", config=CFG)
    data = json.loads(render_scorecard(card, "json").decode("utf-8"))
    assert data["week"] == "2026-W46" and len(data["rows"]) == len(card.rows) > 0
    cols = columns(card)
    # CSV: UTF-8 with BOM, one row per agent, every cell equal to the JSON
    raw = render_scorecard(card, "csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "李娜" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == cols and len(rows) == 1 + len(data["rows"])
    for values, jrow in zip(rows[1:], data["rows"]):
        for name, value in zip(cols, values):
            want = cell(jrow, name)
            assert value == ("" if want is None else str(want)), name
    # XLSX: a sheet per team with a frozen header, values equal to the JSON
    path = tmp_path / "card.xlsx"
    path.write_bytes(render_scorecard(card, "xlsx"))
    wb = load_workbook(path)
    taken: set[str] = set()
    team_sheets = {team: sheet_title(team, taken) for team in card.teams}
    assert set(team_sheets.values()) <= set(wb.sheetnames) and len(wb.sheetnames) == len(card.teams) + 1
    for team, title in team_sheets.items():
        ws = wb[title]
        assert ws.freeze_panes == "C2"
        got = [list(r) for r in ws.iter_rows(values_only=True)]
        assert got[0] == cols
        jrows = [r for r in data["rows"] if r["team"] == team]
        assert len(got) - 1 == len(jrows)
        for values, jrow in zip(got[1:], jrows):
            for name, value in zip(cols, values):
                want = cell(jrow, name)
                if isinstance(want, float):
                    assert value == pytest.approx(want), name
                else:
                    assert value == (None if want in ("", None) else want), name
    calls = wb[wb.sheetnames[-1]]
    assert calls.max_row - 1 == sum(r["calls"] for r in data["rows"])
    # HTML: self-contained, UTF-8, a link for every call, no scripts or network
    html = render_scorecard(card, "html").decode("utf-8")
    assert '<meta charset="utf-8">' in html and "李娜" in html
    for jrow in data["rows"]:
        for cid in jrow["call_ids"]["calls"]:
            assert f'href="/calls/{cid}"' in html
    assert "<script" not in html.lower() and "<link" not in html.lower() and "src=" not in html.lower()
    assert html.count('class="chart trend"') == 2 * len(card.rows)
    assert "@media print" in html
    with pytest.raises(ValueError):
        render_scorecard(card, "pdf")


def _png_pixels_vary(png: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed image data)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_scorecard_html_in_chromium(db: Path, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (scripts/install_test_packages.sh)")
    playwright = pytest.importorskip("playwright.sync_api")
    card = weekly_scorecard(Store(db), "2026-W47", config=CFG)
    page_file = tmp_path / "scorecard.html"
    page_file.write_bytes(render_scorecard(card, "html"))
    png = tmp_path / "scorecard.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        assert page.locator("svg.chart.trend").count() == 2 * len(card.rows)
        assert page.locator("svg.chart.trend circle").count() >= len(card.rows)
        assert page.locator("svg.chart.adherence rect.bar").count() == sum(len(r.adherence) for r in card.rows)
        assert page.locator("tr.agent-row").count() == len(card.rows)
        first = card.rows[0].calls_detail[0].call_id
        assert page.locator(f'a[href="/calls/{first}"]').count() >= 1
        assert "王芳" in page.inner_text("body")
        page.screenshot(path=str(png), full_page=False)
        pdf = page.pdf(format="A4", landscape=True)  # the print stylesheet
        browser.close()
    assert requests == [page_file.as_uri()]  # nothing but the file itself
    width, height, distinct = _png_pixels_vary(png.read_bytes())
    assert (width, height) == (1200, 1600) and distinct > 50 and png.stat().st_size > 20_000
    assert pdf[:5] == b"%PDF-" and len(pdf) > 10_000


def test_daily_report_matches_database(db: Path) -> None:
    store = Store(db)
    conn = sqlite3.connect(db)
    date = "2026-11-12"
    report = daily_report(store, date, CFG)
    ids = [r[0] for r in q(conn, "SELECT call_id FROM calls WHERE substr(started_at,1,10)=? ORDER BY started_at, call_id",
                           date)]
    assert report.call_ids == ids and report.calls == len(ids) > 0
    flags = dict(q(conn, f"SELECT f.kind, COUNT(*) {CURRENT} WHERE substr(c.started_at,1,10)=? AND"
                         " (f.kind != 'script_step' OR f.status = 'fail') GROUP BY f.kind", date))
    assert report.flags_by_kind == flags
    assert report.backlog["open"] == q(conn, "SELECT COUNT(*) FROM queue_items WHERE status='open'")[0][0]
    assert report.window == ["2026-11-06", date]
    top = q(conn, f"SELECT f.rule_id, COUNT(DISTINCT c.call_id) AS n {CURRENT} WHERE substr(c.started_at,1,10)"
                  " BETWEEN '2026-11-06' AND ? AND (f.kind != 'script_step' OR f.status = 'fail')"
                  " GROUP BY f.kind, f.rule_id, f.category ORDER BY n DESC", date)
    assert report.top_findings and report.top_findings[0]["calls"] == top[0][1]
    for t in report.top_findings:
        assert t["calls"] == len(t["call_ids"])
    exemplary = {r[0] for r in q(conn, "SELECT call_id FROM queue_items WHERE exemplary=1")}
    for e in report.exemplary:
        assert e["call_id"] in ids and (e["call_id"] in exemplary or e["score"] >= CFG.exemplary_min_score)
    # formats
    data = json.loads(render_daily(report, "json"))
    assert data["flags_by_kind"] == flags
    text = render_daily(report, "csv")
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert ["summary", "calls", str(len(ids)), " ".join(ids)] in rows
    html = render_daily(report, "html").decode("utf-8")
    for cid in ids:
        assert f'href="/calls/{cid}"' in html
    assert "案例教学" in html
    empty = daily_report(store, "2026-11-29", CFG)
    assert empty.calls == 0 and empty.mean_score is None
    assert render_daily(empty, "html")


def test_cli(db: Path, tmp_path: Path) -> None:
    from qa_pipeline.cli import app

    runner = CliRunner()
    conf = tmp_path / "qa.yaml"
    conf.write_text("reports:\n  min_calls: 2\n", encoding="utf-8")
    res = runner.invoke(app, ["scorecard", "--week", "2026-W46", "--format", "json", "--db", str(db), "--config", str(conf)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout_bytes)
    assert data["config"]["min_calls"] == 2
    assert sum(r["calls"] for r in data["rows"]) == q(sqlite3.connect(db), "SELECT COUNT(*) FROM calls"
                                                                          " WHERE week='2026-W46'")[0][0]
    for fmt in ("csv", "xlsx", "html"):
        out = tmp_path / f"card.{fmt}"
        res = runner.invoke(app, ["scorecard", "--week", "2026-W46", "--team", "cards_west", "--format", fmt,
                                  "--out", str(out), "--db", str(db)])
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 500
    res = runner.invoke(app, ["scorecard", "--week", "2026-W47", "--agent", "wang_fang", "--format", "csv", "--db", str(db)])
    assert res.exit_code == 0 and "王芳" in res.stdout_bytes.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(res.stdout_bytes.decode("utf-8-sig"))))) == 2
    res = runner.invoke(app, ["scorecard", "--week", "2026-W30", "--db", str(db)])  # no calls: a header, exit 0
    assert res.exit_code == 0 and len(res.stdout_bytes.decode("utf-8-sig").splitlines()) == 1
    for args, code in ((["--week", "2026-47"], 2), (["--week", "2026-W60"], 2), (["--week", "2026-W46", "--format", "pdf"], 2),
                       (["--week", "2026-W46", "--db", str(tmp_path / "none.db")], 2)):
        res = runner.invoke(app, ["scorecard", *args] + ([] if "--db" in args else ["--db", str(db)]))
        assert res.exit_code == code, (args, res.output)
    bad = tmp_path / "bad.yaml"
    bad.write_text("reports:\n  tiers: {gold: 90}\n", encoding="utf-8")
    res = runner.invoke(app, ["scorecard", "--week", "2026-W46", "--db", str(db), "--config", str(bad)])
    assert res.exit_code == 4
    res = runner.invoke(app, ["report", "daily", "--date", "2026-11-12", "--format", "csv", "--db", str(db)])
    assert res.exit_code == 0 and res.stdout_bytes.startswith(b"\xef\xbb\xbf")
    res = runner.invoke(app, ["report", "daily", "--date", "2026-11-12", "--db", str(db)])
    assert res.exit_code == 0 and json.loads(res.stdout_bytes)["date"] == "2026-11-12"
    res = runner.invoke(app, ["report", "daily", "--date", "12/11/2026", "--db", str(db)])
    assert res.exit_code == 2
