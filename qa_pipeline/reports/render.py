"""Scorecards and daily reports as bytes: CSV (UTF-8 with BOM, for Excel), XLSX (a sheet per team),
self-contained HTML (inline SVG charts, no scripts, prints cleanly) and JSON.

CSV and XLSX share one column list whose names are paths into the JSON row
(``banned.refusal`` is ``row["banned"]["refusal"]``; lists are joined with spaces),
so every cell can be traced to the JSON and from there to the calls.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

from qa_pipeline.reports.scorecard import AgentWeek, DailyReport, Scorecard, call_url

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("csv", "xlsx", "html", "json")
DAILY_FORMATS = ("json", "html", "csv")
DRILL_KEYS = ("calls", "failed", "auto_fails", "banned", "emotional_agent", "escalated", "calmed", "reviewed",
              "human_scored", "disputes")
PERCENT_COLUMNS = ("pass_rate", "reviewed_share")


def to_jsonable(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def _json(obj: Any) -> bytes:
    return (json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


# ----------------------------------------------------------------------------- the table (CSV, XLSX)
def columns(card: Scorecard) -> list[str]:
    """Column names = paths into a JSON row."""
    return [
        "agent_id", "agent_name", "team", "week", "status", "rank", "tier", "calls", "audio_hours",
        "mean_score", "ci_low", "ci_high", "pass_rate", "auto_fails", "auto_fails_confirmed",
        "banned_total", "banned_confirmed", *[f"banned.{c}" for c in card.categories],
        *[f"adherence.{s}" for s in card.steps],
        "emotional_agent_calls", "emotional_agent_confirmed", "escalated_calls", "calmed_calls",
        "reviewed_calls", "reviewed_share", "human_scored_calls",
        "disputes_opened", "disputes_upheld", "disputes_changed", "disputes_open",
        "prev_mean_score", "delta_score", "prev_tier",
        "coaching_open", "coaching_overdue", "coaching_closed", "coaching_sessions",
        *[f"call_ids.{k}" for k in DRILL_KEYS],
        *[f"call_ids.step_fail:{s}" for s in card.steps], *[f"call_ids.banned:{c}" for c in card.categories],
    ]


def cell(row: dict[str, Any], path: str) -> Any:
    """The value of a column in a JSON row (lists joined with spaces; missing: None)."""
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if path.startswith("banned.") and value is None:
        return 0
    return value


def table(card: Scorecard) -> tuple[list[str], list[list[Any]]]:
    cols = columns(card)
    rows = [dataclasses.asdict(r) for r in card.rows]
    return cols, [[cell(r, c) for c in cols] for r in rows]


# A text cell starting with one of these is read as a formula by Excel, LibreOffice or Google Sheets
# (CSV/formula injection: an agent name "=HYPERLINK(...)" would run). OWASP's advice for CSV: a leading
# single quote, which spreadsheets show as text; in XLSX the cell is written as a string cell instead.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def render_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """A table as UTF-8 CSV (with a BOM, for Excel) whose text cells no spreadsheet runs as formulas."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_text(h) for h in header])
    for row in rows:
        writer.writerow([csv_text(v) for v in row])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")  # BOM: Excel opens it as UTF-8


def sheet_title(team: str, taken: set[str]) -> str:
    """A valid, unique worksheet title for a team (≤ 31 characters, none of []:*?/\\)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", team or "(no team)")[:31] or "_"
    title, i = base, 2
    while title.lower() in taken:
        suffix = f" ({i})"
        title, i = base[: 31 - len(suffix)] + suffix, i + 1
    taken.add(title.lower())
    return title


def append_text_safe(ws: Any, values: list[Any]) -> None:
    """Append a row whose text cells stay text: openpyxl makes any string starting with "=" a formula."""
    ws.append(values)
    for c in ws[ws.max_row]:
        if isinstance(c.value, str) and c.data_type == "f":
            c.data_type = "s"


def _xlsx(card: Scorecard) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    cols, rows = table(card)
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    percent = {i for i, c in enumerate(cols) if c in PERCENT_COLUMNS or c.startswith("adherence.")}
    teams = card.teams or [card.team or ""]
    for team in teams:
        ws = wb.create_sheet(sheet_title(team, taken))
        append_text_safe(ws, cols)
        for c in ws[1]:
            c.font = Font(bold=True)
            c.alignment = Alignment(wrap_text=True, vertical="top")
        for values, agent in zip(rows, card.rows):
            if agent.team == team:
                append_text_safe(ws, values)
        for r in ws.iter_rows(min_row=2):
            for i in percent:
                r[i].number_format = "0.0%"
        for i, name in enumerate(cols, 1):
            ws.column_dimensions[get_column_letter(i)].width = 14 if not name.startswith("call_ids") else 30
        ws.freeze_panes = "C2"  # header row and the agent's id and name stay in view
        ws.auto_filter.ref = ws.dimensions
    calls = wb.create_sheet(sheet_title("Calls (drill-down)", taken))
    head = ["call_id", "agent_id", "team", "week", "started_at", "score", "machine_score", "score_source",
            "reviewed", "passed", "auto_fail", "banned_total", "failed_steps", "url"]
    calls.append(head)
    for c in calls[1]:
        c.font = Font(bold=True)
    for agent in card.rows:
        for line in agent.calls_detail:
            append_text_safe(calls, [line.call_id, line.agent_id, line.team, line.week, line.started_at, line.score,
                          line.machine_score, line.score_source, line.reviewed, line.passed, line.auto_fail,
                          sum(line.banned.values()), " ".join(s for s, v in line.steps.items() if v == "fail"),
                          line.url])
    calls.freeze_panes = "B2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ----------------------------------------------------------------------------- charts (inline SVG)
def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def trend_svg(points: list[tuple[str, float | None, int]], width: int = 560, height: int = 170,
              line: float = 80.0, labels: bool = True) -> Markup:
    """Mean score per week (0–100), the pass line dashed; gaps where a week had no calls."""
    left, right, top, bottom = (34, 18, 10, 24) if labels else (4, 4, 4, 4)
    w, h = width - left - right, height - top - bottom
    n = max(1, len(points) - 1)

    def x(i: int) -> float:
        return left + w * i / n

    def y(v: float) -> float:
        return top + h * (1 - v / 100)

    parts = [f'<svg class="chart trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="weekly mean score">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>',
             f'<line class="pass-line" x1="{left}" x2="{left + w}" y1="{y(line):.1f}" y2="{y(line):.1f}" '
             f'stroke="#c60" stroke-dasharray="4 3"/>']
    if labels:
        for v in (0, 50, line, 100):
            parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:g}</text>')
    runs: list[list[tuple[float, float]]] = [[]]
    for i, (week, value, calls) in enumerate(points):
        if labels:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
                         f'{html.escape(week[-3:])}</text>')
        if value is None:
            runs.append([])
            continue
        runs[-1].append((x(i), y(value)))
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="{3 if labels else 2}" fill="#1f5fa8">'
                     f'<title>{html.escape(week)}: {value:.1f} ({calls} calls)</title></circle>')
    for run in runs:
        if len(run) > 1:
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in run)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def scorecard_trend_svg(row: AgentWeek, width: int = 360, height: int = 130) -> Markup:
    """An agent's weekly mean score over the scorecard's trend weeks, as the HTML report draws it (inline SVG)."""
    return trend_svg([(t.week, t.mean_score, t.calls) for t in row.trend], width, height)


def adherence_svg(steps: dict[str, float | None], counts: dict[str, int], width: int = 420) -> Markup:
    """One horizontal bar per script step: share of applicable calls where it passed."""
    row, label_w, bar_w = 20, 130, width - 130 - 80
    height = max(row, row * len(steps)) + 6
    parts = [f'<svg class="chart adherence" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="script adherence per step">']
    for i, (step, rate) in enumerate(steps.items()):
        yy = 3 + i * row
        share = rate or 0.0
        colour = "#2e7d32" if share >= 0.8 else "#ef6c00" if share >= 0.5 else "#c62828"
        passed = round(share * counts.get(step, 0))
        parts.append(f'<text x="{label_w - 6}" y="{yy + 13}" font-size="11" text-anchor="end">{html.escape(step)}</text>'
                     f'<rect x="{label_w}" y="{yy + 2}" width="{bar_w}" height="{row - 6}" fill="#eee"/>'
                     f'<rect class="bar" x="{label_w}" y="{yy + 2}" width="{bar_w * share:.1f}" height="{row - 6}" '
                     f'fill="{colour}"><title>{html.escape(step)}: {passed}/{counts.get(step, 0)}</title></rect>'
                     f'<text x="{label_w + bar_w + 6}" y="{yy + 13}" font-size="11">{share * 100:.0f} % '
                     f'({passed}/{counts.get(step, 0)})</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt
    env.filters["pct"] = lambda v: "–" if v is None else f"{v * 100:.0f} %"
    env.filters["slug"] = slug
    env.globals["call_url"] = call_url
    return env


def _html_scorecard(card: Scorecard) -> bytes:
    charts = {}
    for r in card.rows:
        points = [(t.week, t.mean_score, t.calls) for t in r.trend]
        charts[r.agent_id] = {"spark": trend_svg(points, 150, 40, labels=False), "trend": trend_svg(points),
                              "adherence": adherence_svg(r.adherence, r.adherence_n)}
    by_team: dict[str, list[AgentWeek]] = {t: [r for r in card.rows if r.team == t] for t in card.teams}
    text = _env().get_template("scorecard.html.j2").render(card=card, by_team=by_team, charts=charts)
    return text.encode("utf-8")


def render_scorecard(card: Scorecard, fmt: str) -> bytes:
    if fmt == "json":
        return _json(card)
    if fmt == "csv":
        return render_csv(*table(card))
    if fmt == "xlsx":
        return _xlsx(card)
    if fmt == "html":
        return _html_scorecard(card)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


# ----------------------------------------------------------------------------- the daily report
def daily_rows(report: DailyReport) -> list[list[Any]]:
    """Long format: section, key, value, call ids."""
    rows: list[list[Any]] = [
        ["summary", "date", report.date, ""],
        ["summary", "calls", report.calls, " ".join(report.call_ids)],
        ["summary", "audio_hours", report.audio_hours, ""],
        ["summary", "mean_score", report.mean_score, ""],
        ["summary", "pass_rate", report.pass_rate, ""],
        ["summary", "auto_fails", len(report.auto_fail_calls), " ".join(report.auto_fail_calls)],
        ["summary", "reviewed_calls", report.reviewed_calls,
         " ".join(c.call_id for c in report.calls_detail if c.reviewed)],
    ]
    rows += [["calls_by_team", team, n, " ".join(c.call_id for c in report.calls_detail if c.team == team)]
             for team, n in report.calls_by_team.items()]
    rows += [["flags_by_kind", kind, n, " ".join(report.flag_calls.get(kind, []))]
             for kind, n in report.flags_by_kind.items()]
    rows += [["backlog", "open", report.backlog["open"], " ".join(report.backlog["call_ids"])],
             ["backlog", "claimed", report.backlog["claimed"], ""]]
    rows += [["backlog_by_source", k, v, ""] for k, v in report.backlog["by_source"].items()]
    rows += [["top_findings", f"{t['kind']}/{t['rule_id']}", t["calls"], " ".join(t["call_ids"])]
             for t in report.top_findings]
    rows += [["exemplary", e["call_id"], e["score"], e["call_id"]] for e in report.exemplary]
    return rows


def render_daily(report: DailyReport, fmt: str) -> bytes:
    if fmt == "json":
        return _json(report)
    if fmt == "csv":
        return render_csv(["section", "key", "value", "call_ids"], daily_rows(report))
    if fmt == "html":
        return _env().get_template("daily.html.j2").render(r=report).encode("utf-8")
    raise ValueError(f"format must be one of {', '.join(DAILY_FORMATS)}, not {fmt!r}")
