"""The smaller points of issue 16: short searches take % and _ literally; signing in keeps the query string of
the page you came from; "claim the next call" honours the queue's filters; releasing a call someone else holds
is refused with a message; call audio (voices, personal data) is never cached."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.review_helpers import qa, sql, users_db, web
from tests.web.web_helpers import PASSWORD, csrf_of


@pytest.fixture()
def db(reference_db: Path, tmp_path: Path) -> Path:
    return users_db(reference_db, tmp_path)


def test_short_searches_take_percent_and_underscore_literally(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        call_id, idx = conn.execute("SELECT call_id, idx FROM segments ORDER BY call_id, idx LIMIT 1").fetchone()
        conn.execute("UPDATE segments SET text = text || ' 50%_off' WHERE call_id=? AND idx=?", (call_id, idx))
    for needle in ("%", "_", "%_"):
        calls = json.loads(qa("search", needle, "--db", db, "--json").stdout)  # one entry per call, its lines
        assert [(c["call_id"], h["idx"]) for c in calls for h in c["hits"]] == [(call_id, idx)], needle
    page = web(db, "coach1").get("/search", params={"q": "_"}).text
    assert set(re.findall(r'<a href="/calls/([^"#]+)#t=', page)) == {call_id}
    # A short query without wildcards still scans as before.
    text = sql(db, "SELECT text FROM segments WHERE call_id LIKE 'zh_%' LIMIT 1")[0][0]
    two = next(text[i:i + 2] for i in range(len(text)) if text[i:i + 2].isalnum() and len(text[i:i + 2]) == 2)
    expected = {r[0] for r in sql(db, "SELECT DISTINCT call_id FROM segments WHERE instr(text, ?) > 0", two)}
    assert {h["call_id"] for h in json.loads(qa("search", two, "--db", db, "--json").stdout)} == expected


def test_signing_in_returns_to_the_page_with_its_query_string(db: Path) -> None:
    client = web(db)
    team = sql(db, "SELECT team FROM queue_items LIMIT 1")[0][0]
    week = sql(db, "SELECT week FROM queue_items WHERE team=? LIMIT 1", team)[0][0]
    resp = client.get("/queue", params={"team": team, "week": week}, follow_redirects=False)
    assert resp.status_code == 303
    next_url = parse_qs(urlparse(resp.headers["location"]).query)["next"][0]
    assert next_url == f"/queue?team={team}&week={week}"
    page = client.get(resp.headers["location"])
    assert f'name="next" value="/queue?team={team}&amp;week={week}"' in page.text
    resp = client.post("/login", data={"username": "coach1", "password": PASSWORD, "csrf": csrf_of(page.text),
                                       "next": next_url}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == next_url


def test_claim_the_next_call_honours_the_filters(db: Path) -> None:
    top_team = sql(db, "SELECT team FROM queue_items WHERE status='open' ORDER BY priority DESC, call_id LIMIT 1")[0][0]
    team = sql(db, "SELECT team FROM queue_items WHERE team != ? LIMIT 1", top_team)[0][0]
    expected = sql(db, "SELECT call_id FROM queue_items WHERE status='open' AND team=? ORDER BY priority DESC, call_id",
                   team)
    coach = web(db, "coach1")
    page = coach.get("/queue", params={"team": team}).text
    assert f'<input type="hidden" name="team" value="{team}">' in page  # the claim form carries the filters
    resp = coach.post("/queue/claim", data={"csrf": csrf_of(page), "team": team}, follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{expected[0][0]}?msg=claimed"
    out = json.loads(qa("queue", "claim", "--db", db, "--user", "coach2", "--team", team, "--json").stdout)
    assert out["call_id"] == expected[1][0]
    kind_calls = {r[0] for r in sql(db, "SELECT q.call_id FROM queue_items q WHERE q.status='open' AND q.claimed_by"
                                        " IS NULL AND EXISTS (SELECT 1 FROM findings f WHERE f.result_id=q.result_id"
                                        " AND f.kind='pii')")}
    out = json.loads(qa("queue", "claim", "--db", db, "--user", "coach2", "--kind", "pii", "--json").stdout)
    assert out["call_id"] in kind_calls
    # Nothing left with these filters: say so, and keep the filters.
    from qa_pipeline.store.db import Store
    from qa_pipeline.store.queue import claim

    store = Store(db)
    while claim(store, "coach2", team=team):
        pass
    store.close()
    assert "nothing to claim with these filters" in qa("queue", "claim", "--db", db, "--user", "coach2", "--team",
                                                       team, code=1).output
    resp = coach.post("/queue/claim", data={"csrf": csrf_of(page), "team": team}, follow_redirects=False)
    assert resp.headers["location"] == f"/queue?msg=nothing&team={team}"


def test_releasing_a_call_someone_else_holds_is_refused(db: Path) -> None:
    call_id = sql(db, "SELECT call_id FROM queue_items WHERE status='open' ORDER BY priority DESC LIMIT 1")[0][0]
    qa("queue", "claim", call_id, "--db", db, "--user", "coach1")
    out = qa("queue", "release", call_id, "--db", db, "--user", "coach2", code=2)
    assert "claimed by coach1" in out.output and "only the holder" in out.output
    other = web(db, "coach2")
    resp = other.post("/queue/release", data={"csrf": csrf_of(other.get("/queue").text), "call_id": call_id},
                      follow_redirects=False)
    assert resp.headers["location"] == f"/calls/{call_id}?msg=release_refused"
    assert "Not released" in other.get(resp.headers["location"]).text
    assert sql(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", call_id) == [("coach1",)]
    assert "nothing to release" in qa("queue", "release", "nope", "--db", db, "--user", "coach2", code=2).output
    qa("queue", "release", call_id, "--db", db, "--user", "coach1")
    assert sql(db, "SELECT claimed_by FROM queue_items WHERE call_id=?", call_id) == [(None,)]


def test_call_audio_is_never_cached(db: Path) -> None:
    call_id = sql(db, "SELECT call_id FROM calls ORDER BY call_id LIMIT 1")[0][0]
    coach = web(db, "coach1")
    for headers in ({}, {"Range": "bytes=0-99"}):
        resp = coach.get(f"/calls/{call_id}/audio", headers=headers)
        assert resp.status_code in (200, 206) and resp.headers["cache-control"] == "no-store"
