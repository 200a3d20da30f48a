"""HR: weekly scorecards, the same numbers as `qa scorecard`, and the agents' acknowledgement and dispute rates."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline import render_scorecard, scorecard_table, scorecard_trend_svg, weekly_scorecard
from qa_pipeline.store import release, validate
from qa_pipeline.web.security import need
from qa_pipeline.web.site import page, site

router = APIRouter()
SCORECARD_TYPES = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8", "json": "application/json",
                   "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _card(request: Request, store: Any, week: str, team: str, agent: str) -> Any:
    return weekly_scorecard(store, validate.iso_week(week), team or None, agent or None, site(request).report)


def _table(card: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The scorecard's table as `qa scorecard --format csv` writes it, less the drill-down call lists."""
    if card is None:
        return [], []
    header, rows = scorecard_table(card)
    keep = [i for i, col in enumerate(header) if not col.startswith("call_ids.")]
    return [header[i] for i in keep], [{header[i]: row[i] for i in keep} for row in rows]


@router.get("/scorecards", response_class=HTMLResponse)
def scorecards(request: Request, week: str = "", team: str = "", agent: str = "") -> Response:
    store = site(request).stores.get()
    user = need(request, store, "hr", "qa_lead")
    weeks = store.weeks()
    week = week or (weeks[0] if weeks else "")
    card = _card(request, store, week, team, agent) if week else None
    columns, rows = _table(card)
    query = urlencode({k: v for k, v in (("week", week), ("team", team), ("agent", agent)) if v})
    trends = [{"agent_id": r.agent_id, "name": r.agent_name, "team": r.team, "svg": scorecard_trend_svg(r),
               "weeks": [(t.week, t.mean_score, t.calls) for t in r.trend]} for r in (card.rows if card else [])]
    return page(request, "scorecards.html", user, weeks=weeks, week=week, team=team, agent=agent, card=card,
                columns=columns, rows=rows, query=query, trends=trends,
                rates=release.team_rates(store, window_days=site(request).review.dispute_window_days))


@router.get("/scorecards/export")
def scorecard_export(request: Request, week: str, fmt: str = "csv", team: str = "", agent: str = "") -> Response:
    store = site(request).stores.get()
    user = need(request, store, "hr", "qa_lead")
    if fmt not in SCORECARD_TYPES:
        return Response("fmt must be csv, xlsx, html or json", status_code=400)
    body = render_scorecard(_card(request, store, week, team, agent), fmt)
    name = "scorecard_" + "_".join(x for x in (week, team, agent) if x) + f".{fmt}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    store.audit(user["name"], "scorecard.export", f"week:{week}", None, {"team": team, "agent": agent, "fmt": fmt})
    return Response(body, media_type=SCORECARD_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})
