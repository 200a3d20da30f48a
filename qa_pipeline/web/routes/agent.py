"""The agent's pages: their reviewed calls, and disputing a review."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline.store import disputes, review
from qa_pipeline.web.security import check_csrf, need
from qa_pipeline.web.site import form_post, page, redirect, site

router = APIRouter()


@router.get("/my", response_class=HTMLResponse)
def my_calls(request: Request) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "agent")
    calls = review.reviewed_calls(store, user["agent_id"]) if user["agent_id"] else []
    return page(request, "my.html", user, calls=calls)


@form_post(router, "/reviews/{review_id}/dispute")
def dispute_open(request: Request, form: Any) -> Response:
    review_id = request.path_params["review_id"]
    store = site(request).stores.get()
    user = need(request, store, "agent")
    check_csrf(request, user, form)
    disputes.open_dispute(store, user["name"], review_id, str(form.get("reason") or ""))
    row = store.conn.execute("SELECT call_id FROM reviews WHERE review_id=?", (review_id,)).fetchone()
    return redirect(f"/calls/{row[0]}?msg=disputed" if row else "/my")
