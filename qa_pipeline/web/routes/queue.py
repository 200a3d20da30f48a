"""The coach's queue (list, claim, release) and the search over transcripts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline import PrivacyConfig, redact_transcript
from qa_pipeline.store import queue
from qa_pipeline.web.security import CALL_ID, NotFound, check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, page, redirect, site

router = APIRouter()


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, team: str = "", agent: str = "", kind: str = "", week: str = "", day: str = "",
               status: str = "open") -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    if status not in ("open", "done"):
        status = "open"
    if day:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            day = ""
    items = queue.list_queue(store, status, team or None, agent or None, kind or None, week or None,
                             limit=100, day=day or None)
    filters = {"team": team, "agent": agent, "kind": kind, "week": week, "day": day, "status": status}
    return page(request, "queue.html", user, items=items, filters=filters, facets=queue.queue_facets(store))


@form_post(router, "/queue/claim")
def queue_claim(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    call_id = str(form.get("call_id") or "") or None
    if call_id and not CALL_ID.match(call_id):
        raise NotFound("no such call")
    item = queue.claim(store, user["name"], call_id, site(request).claim_ttl_minutes)
    if item is None:
        back = f"/calls/{call_id}" if call_id else "/queue"
        return redirect(f"{back}?msg={'claim_failed' if call_id else 'nothing'}")
    return redirect(f"/calls/{item['call_id']}?msg=claimed")


@form_post(router, "/queue/release")
def queue_release(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    queue.release(store, user["name"], str(form.get("call_id") or ""))
    return redirect("/queue?msg=released")


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = "") -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    hits = store.search(q[:200], limit=100) if q.strip() else []
    if site(request).redacted:
        hits = _redacted_hits(store, hits, site(request).privacy)
    return page(request, "search.html", user, q=q, hits=hits)


def _redacted_hits(store: Any, hits: list[dict[str, Any]], site_privacy: PrivacyConfig) -> list[dict[str, Any]]:
    """Search hits with the text of the call's redacted transcript (personal data covered)."""
    out, cache = [], {}
    for hit in hits:
        if hit["call_id"] not in cache:
            result = store.current_result(hit["call_id"])
            cache[hit["call_id"]] = redact_transcript(result.transcript, result.findings, site_privacy).segments if result else []
        seg = next((s for s in cache[hit["call_id"]] if abs(s.start - float(hit["start"])) < 1e-6), None)
        out.append({**hit, "text": seg.text if seg else "[REDACTED]"})
    return out
