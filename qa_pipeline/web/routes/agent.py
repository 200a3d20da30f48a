"""The agent's pages: the reviews released to them, acknowledging or disputing one, their coaching sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline.store import coaching, disputes, release, review
from qa_pipeline.web.security import check_csrf, need
from qa_pipeline.web.site import form_post, page, redirect, site

router = APIRouter()


@router.get("/my", response_class=HTMLResponse)
def my_calls(request: Request) -> Response:
    here = site(request)
    store = here.stores.get()
    user = need(request, store, "agent")
    agent_id = user["agent_id"]
    calls = release.released_calls(store, agent_id, here.review.dispute_window_days) if agent_id else []
    sessions = coaching.sessions(store, agent_id=agent_id) if agent_id else []
    return page(request, "my.html", user, calls=calls, sessions=sessions)


@form_post(router, "/reviews/{review_id}/dispute")
def dispute_open(request: Request, form: Any) -> Response:
    review_id = request.path_params["review_id"]
    here = site(request)
    store = here.stores.get()
    user = need(request, store, "agent")
    check_csrf(request, user, form)
    disputes.open_dispute(store, user["name"], review_id, str(form.get("reason") or ""),
                          here.review.dispute_window_days)
    call_id = review.call_of(store, review_id)
    return redirect(f"/calls/{call_id}?msg=disputed" if call_id else "/my")


@form_post(router, "/reviews/{review_id}/acknowledge")
def acknowledge(request: Request, form: Any) -> Response:
    review_id = request.path_params["review_id"]
    store = site(request).stores.get()
    user = need(request, store, "agent")
    check_csrf(request, user, form)
    release.acknowledge(store, user["name"], review_id, str(form.get("comment") or ""))
    call_id = review.call_of(store, review_id)
    return redirect(f"/calls/{call_id}?msg=acknowledged" if call_id else "/my")
