"""The coach's queue (list, claim, release, hand over). The search is routes/search.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline.errors import ConflictError
from qa_pipeline.store import queue
from qa_pipeline.web.security import CALL_ID, NotFound, check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, page, redirect, site

router = APIRouter()


FILTERS = ("team", "agent", "kind", "week", "day")


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, team: str = "", agent: str = "", kind: str = "", week: str = "", day: str = "",
               status: str = "open", sort: str = "priority", mine: str = "") -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    if status not in ("open", "done"):
        status = "open"
    sort = sort if sort in queue.SORTS else "priority"
    items = queue.list_queue(store, status, team or None, agent or None, kind or None, week or None,
                             limit=100, day=day or None, sort=sort,  # a week or day that does not exist: 400, with why
                             claimed_by=user["name"] if mine == "1" else None)
    filters = {"team": team, "agent": agent, "kind": kind, "week": week, "day": day, "status": status, "sort": sort,
               "mine": mine == "1"}
    return page(request, "queue.html", user, items=items, filters=filters, facets=queue.queue_facets(store))


@form_post(router, "/queue/claim")
def queue_claim(request: Request, form: Any) -> Response:
    """Claim a named call, or the next one that matches the queue's filters (sent with the form)."""
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    call_id = str(form.get("call_id") or "") or None
    if call_id and not CALL_ID.match(call_id):
        raise NotFound("no such call")
    filters = {k: str(form.get(k) or "") or None for k in FILTERS}
    try:
        item = queue.claim(store, user["name"], call_id, site(request).claim_ttl_minutes, **filters)
    except ConflictError:
        return redirect(f"/calls/{call_id}?msg=claim_failed")
    if item is None:
        return redirect("/queue?" + urlencode({"msg": "nothing", **{k: v for k, v in filters.items() if v}}))
    return redirect(f"/calls/{item['call_id']}?msg=claimed")


@form_post(router, "/queue/release")
def queue_release(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    call_id = str(form.get("call_id") or "")
    try:
        queue.release(store, user["name"], call_id)
    except ConflictError:
        back = f"/calls/{call_id}" if CALL_ID.match(call_id) and store.call(call_id) else "/queue"
        return redirect(f"{back}?msg=release_refused")
    return redirect("/queue?msg=released")


@form_post(router, "/queue/handover")
def queue_handover(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    call_id = str(form.get("call_id") or "")
    if not CALL_ID.match(call_id) or store.call(call_id) is None:
        raise NotFound("no such call")
    queue.handover(store, user["name"], call_id, str(form.get("to") or ""), site(request).claim_ttl_minutes)
    return redirect(f"/calls/{call_id}?msg=handed_over")
