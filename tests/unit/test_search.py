"""Finding calls (issue 19, point 4) on the reference database: words in Mandarin (any length: a two-character
word goes through the LIKE scan) and English with filters, each filter on its own against plain SQL, saved
searches that belong to one user, the CLI's filters and formula-safe CSV, the web page's redacted hits."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.review_helpers import qa, sql, users_db, web

CURRENT = "SELECT c.call_id FROM calls c JOIN scores s ON s.result_id = c.current_result_id"


@pytest.fixture(scope="module")
def db(reference_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return users_db(reference_db, tmp_path_factory.mktemp("search"))


@pytest.fixture()
def store(db: Path):
    from qa_pipeline.store.db import Store

    s = Store(db)
    yield s
    s.close()


def found(store, **fields) -> list[str]:
    from qa_pipeline.store.search import SearchQuery, search_calls

    return [c["call_id"] for c in search_calls(store, SearchQuery(**fields))]


def ids(db: Path, query: str, *params) -> set[str]:
    return {r[0] for r in sql(db, query, *params)}


def test_a_two_character_mandarin_word_with_a_team_finds_the_right_calls(db: Path, store) -> None:
    # 年费 (annual fee) is said in one cards_east call; the trigram index cannot answer two characters.
    everywhere = ids(db, "SELECT call_id FROM segments WHERE instr(text, '年费') > 0")
    assert everywhere == {"zh_banned_refusal"}
    assert found(store, text="年费", team="cards_east") == ["zh_banned_refusal"]
    assert found(store, text="年费", team="cards_west") == []
    assert found(store, text="年费", speaker="agent") == ["zh_banned_refusal"]  # 年费是怎么扣的，我不知道。
    from qa_pipeline.store.search import SearchQuery, search_calls

    calls = {c["call_id"]: c for c in search_calls(store, SearchQuery(text="年费", speaker="caller"))}
    assert [h["speaker"] for h in calls["zh_banned_refusal"]["hits"]] == ["caller"] * 3


def test_longer_mandarin_and_english_queries_use_the_index_and_agree_with_a_scan(db: Path, store) -> None:
    for text in ("信用卡", "后四位", "card", "double charge", "Harbor Bank"):
        expected = ids(db, "SELECT call_id FROM segments WHERE text LIKE ?", f"%{text}%")
        assert expected, text
        assert set(found(store, text=text)) == expected, text
    # English with filters: said by the caller, in calls scored at most 80
    expected = ids(db, f"{CURRENT} JOIN segments g ON g.call_id = c.call_id WHERE g.text LIKE '%card%'"
                       " AND g.speaker = 'caller' AND s.total <= 80")
    got = found(store, text="card", speaker="caller", max_score=80)
    assert set(got) == expected and "en_pii_readback" in got
    assert found(store, text="CARD", speaker="caller", max_score=80) == got  # Latin letters: any case


def test_each_filter_agrees_with_plain_sql(db: Path, store) -> None:
    cases = [
        ({"kind": "banned_phrase"}, "SELECT DISTINCT f.call_id FROM findings f JOIN calls c ON c.current_result_id ="
                                    " f.result_id WHERE f.kind = 'banned_phrase'"),
        ({"rule": "zh.provocation"}, "SELECT DISTINCT f.call_id FROM findings f JOIN calls c ON c.current_result_id ="
                                     " f.result_id WHERE f.rule_id = 'zh.provocation'"),
        ({"kind": "script_step", "rule": "greeting"}, "SELECT DISTINCT f.call_id FROM findings f JOIN calls c ON"
         " c.current_result_id = f.result_id WHERE f.rule_id = 'greeting' AND f.status = 'fail'"),
        ({"min_score": 50, "max_score": 90}, f"{CURRENT} WHERE s.total BETWEEN 50 AND 90"),
        ({"min_agitation": 0.4, "agitation_of": "caller"}, f"{CURRENT} WHERE s.agitation_caller >= 0.4"),
        ({"min_agitation": 0.3}, f"{CURRENT} WHERE s.agitation_caller >= 0.3 OR s.agitation_agent >= 0.3"),
        ({"agent": "li_na"}, "SELECT call_id FROM calls WHERE agent_id = 'li_na'"),
        ({"date_from": "2026-11-10", "date_to": "2026-11-12"},
         "SELECT call_id FROM calls WHERE started_at >= '2026-11-10' AND started_at < '2026-11-13'"),
        ({"call_type": "complaint", "direction": "inbound"},
         "SELECT call_id FROM calls WHERE call_type = 'complaint' AND direction = 'inbound'"),
        ({"direction": "outbound"}, "SELECT call_id FROM calls WHERE direction = 'outbound'"),
    ]
    for fields, query in cases:
        expected = ids(db, query)
        assert set(found(store, **fields)) == expected, fields
        assert expected or fields == {"direction": "outbound"}, fields  # a filter that is tested, not empty
    # everything together narrows to the intersection; results come newest first
    both = found(store, kind="banned_phrase", team="cards_west", max_score=60)
    assert set(both) == ids(db, f"{CURRENT} WHERE c.team = 'cards_west' AND s.total <= 60 AND EXISTS (SELECT 1"
                                " FROM findings f WHERE f.result_id = c.current_result_id AND f.kind='banned_phrase')")
    assert both and found(store) == [r[0] for r in sql(db, "SELECT call_id FROM calls ORDER BY started_at DESC, call_id")]


def test_percent_underscore_quotes_and_bad_input(db: Path, store) -> None:
    from qa_pipeline.errors import ValidationError

    with sqlite3.connect(db) as conn:  # a line with FTS and LIKE syntax in it
        conn.execute("UPDATE segments SET text = text || ' 5%_off \"quoted\" 100%' WHERE call_id='en_missing_closing'"
                     " AND idx=0")
        conn.execute("INSERT INTO segments_fts (text, call_id, result_id, start, speaker) SELECT text, call_id,"
                     " result_id, start, speaker FROM segments WHERE call_id='en_missing_closing' AND idx=0")
    for text in ("%", "_", "%_", '"quoted"', "100%"):
        assert found(store, text=text) == ["en_missing_closing"], text
    assert found(store, text="a%b") == []
    for bad in ({"speaker": "boss"}, {"kind": "nonsense"}, {"min_score": 90, "max_score": 10},
                {"date_from": "2026-11-31"}, {"date_from": "2026-11-20", "date_to": "2026-11-01"},
                {"min_agitation": 2}, {"limit": 0}, {"text": "x" * 201}):
        with pytest.raises(ValidationError):
            found(store, **bad)


def test_saved_searches_belong_to_their_user(db: Path, store) -> None:
    from qa_pipeline.errors import NotFoundError, PermissionDenied
    from qa_pipeline.store import search as finder

    zh = finder.save_search(store, "coach1", "年费投诉", finder.SearchQuery(text="年费", team="cards_east"))
    en = finder.save_search(store, "coach1", "card, caller, low score",
                            finder.SearchQuery(text="card", speaker="caller", max_score=80))
    assert [c["call_id"] for c in finder.run_saved(store, "coach1", zh)] == ["zh_banned_refusal"]
    assert [c["call_id"] for c in finder.run_saved(store, "coach1", "card, caller, low score")] == \
        found(store, text="card", speaker="caller", max_score=80)
    assert {s["name"] for s in finder.saved_searches(store, "coach1")} == {"年费投诉", "card, caller, low score"}
    # another coach neither sees nor runs nor deletes them, by id or by name
    assert finder.saved_searches(store, "coach2") == []
    for ref in (zh, "年费投诉", en):
        with pytest.raises(NotFoundError):
            finder.run_saved(store, "coach2", ref)
        with pytest.raises(NotFoundError):
            finder.delete_saved(store, "coach2", ref)
    with pytest.raises(PermissionDenied):
        finder.save_search(store, "hr1", "mine", finder.SearchQuery(text="card"))
    # saving under the same name replaces the query (the id stays); the audit log has both
    assert finder.save_search(store, "coach1", "年费投诉", finder.SearchQuery(text="年费")) == zh
    assert finder.saved_search(store, "coach1", zh)["query"] == {"text": "年费"}
    assert sql(Path(store.path), "SELECT count(*) FROM audit_log WHERE action='search.save' AND actor='coach1'") == [(3,)]
    finder.delete_saved(store, "coach1", en)
    assert [s["search_id"] for s in finder.saved_searches(store, "coach1")] == [zh]


def test_cli_filters_saved_searches_and_formula_safe_csv(db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(db) as conn:  # an agent id that a spreadsheet would run
        conn.execute("UPDATE calls SET agent_id='=HYPERLINK(\"http://x\")' WHERE call_id='zh_banned_refusal'")
    try:
        out = qa("search", "年费", "--team", "cards_east", "--format", "csv", "--db", db).stdout
        rows = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
        assert [r["call_id"] for r in rows] == ["zh_banned_refusal"]
        assert rows[0]["agent_id"] == "'=HYPERLINK(\"http://x\")" and rows[0]["hits"] == "4"
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE calls SET agent_id='wang_fang' WHERE call_id='zh_banned_refusal'")
    qa("search", "card", "--speaker", "caller", "--max-score", "80", "--save", "cards", "--user", "coach2", "--db", db)
    listed = json.loads(qa("search", "--list-saved", "--user", "coach2", "--json", "--db", db).stdout)
    assert [(s["name"], s["query"]) for s in listed] == [("cards", {"text": "card", "speaker": "caller", "max_score": 80.0})]
    ran = json.loads(qa("search", "--saved", "cards", "--user", "coach2", "--json", "--db", db).stdout)
    direct = json.loads(qa("search", "card", "--speaker", "caller", "--max-score", "80", "--json", "--db", db).stdout)
    assert [c["call_id"] for c in ran] == [c["call_id"] for c in direct] and ran
    assert "no saved search" in qa("search", "--saved", "cards", "--user", "coach1", "--db", db, code=2).stderr
    qa("search", "--saved", "cards", "--db", db, code=2)  # whose? --user is needed
    qa("search", "card", "--speaker", "boss", "--db", db, code=2)


def test_web_search_filters_saves_and_keeps_personal_data_covered(db: Path) -> None:
    from qa_pipeline import load_config, redact_transcript
    from qa_pipeline.store.db import Store
    from tests.web.web_helpers import csrf_of

    coach = web(db, "coach1")
    page = coach.get("/search", params={"q": "年费", "team": "cards_east", "speaker": "caller"}).text
    assert re.findall(r'<tr data-call="([^"]+)"', page) == ["zh_banned_refusal"]
    assert page.count('class="hit"') == 3
    resp = coach.post("/search/save", data={"csrf": csrf_of(page), "name": "fees", "q": "年费", "team": "cards_east"},
                      follow_redirects=False)
    assert resp.status_code == 303
    search_id = re.search(r"saved=([0-9a-f]+)", resp.headers["location"]).group(1)
    page = coach.get(f"/search?saved={search_id}").text
    assert re.findall(r'<tr data-call="([^"]+)"', page) == ["zh_banned_refusal"] and "fees" in page
    other = web(db, "coach2")
    assert other.get(f"/search?saved={search_id}").status_code == 404
    assert "fees" not in other.get("/search").text
    assert other.post("/search/delete", data={"csrf": csrf_of(other.get("/search").text), "search_id": search_id},
                      follow_redirects=False).status_code == 404
    assert coach.get("/search", params={"min_score": "lots"}).status_code == 400
    # coach_view: redacted (the default): the call is found by the name said in it, the name is not shown
    store = Store(db)
    result = store.current_result("en_pii_readback")
    covered = redact_transcript(result.transcript, result.findings, load_config(None).privacy).segments
    for needle, idx in (("Emily", 3), ("card number is", 7)):
        page = coach.get("/search", params={"q": needle}).text
        assert re.findall(r'<tr data-call="([^"]+)"', page) == ["en_pii_readback"]
        shown = re.sub(r"<[^>]+>", "", re.search(r'<table class="hits">(.*?)</table>', page, re.S).group(1))
        assert covered[idx].text in shown.replace("&#39;", "'")
        assert "Emily" not in shown and "zero three six six" not in shown
        csv_text = coach.get("/search/export.csv", params={"q": needle}).text
        assert "en_pii_readback" in csv_text and "Emily" not in csv_text and "zero three six six" not in csv_text


def test_a_common_phrase_checked_call_by_call_finds_what_the_index_finds(store, monkeypatch) -> None:
    """Past COMMON matching lines the calls are checked one by one, newest first: the same calls and lines."""
    from qa_pipeline.store import search as finder

    queries = [{"text": "年费"}, {"text": "年费", "speaker": "caller"}, {"text": "card", "max_score": 80},
               {"text": "CARD", "speaker": "caller"}, {"text": "后四位", "team": "cards_west"}, {"text": "信用卡"},
               {"text": "no such words"}]
    indexed = {i: finder.search_calls(store, finder.SearchQuery(**q)) for i, q in enumerate(queries)}
    assert finder.matching_calls(store, "card", None) is not None  # the reference calls are few: the index
    monkeypatch.setattr(finder, "COMMON", 0)
    assert finder.matching_calls(store, "card", None) is None
    for i, q in enumerate(queries):
        assert finder.search_calls(store, finder.SearchQuery(**q)) == indexed[i], q
    assert any(indexed.values()) and not indexed[len(queries) - 1]
