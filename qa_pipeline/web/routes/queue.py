"""The coach's queue (list, claim, release) and the search over transcripts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline import PrivacyConfig, redact_transcript
from qa_pipeline.errors import ConflictError
from qa_pipeline.store import queue
from qa_pipeline.web.security import CALL_ID, NotFound, check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, page, redirect, site

router = APIRouter()


FILTERS = ("team", "agent", "kind", "week", "day")


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, team: str = "", agent: str = "", kind: str = "", week: str = "", day: str = "",
               status: str = "open") -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    if status not in ("open", "done"):
        status = "open"
    items = queue.list_queue(store, status, team or None, agent or None, kind or None, week or None,
                             limit=100, day=day or None)  # a week or day that does not exist: 400, with why
    filters = {"team": team, "agent": agent, "kind": kind, "week": week, "day": day, "status": status}
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
