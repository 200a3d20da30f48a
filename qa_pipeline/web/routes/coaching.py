"""Coaching sessions: a coach opens one and closes it with an outcome; the agent acknowledges it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline.store import coaching, queue
from qa_pipeline.web.security import NotFound, check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, page, redirect, site

router = APIRouter()


def _words(value: Any) -> list[str]:
    return [w for w in str(value or "").replace(",", " ").split() if w]


@router.get("/coaching", response_class=HTMLResponse)
def coaching_page(request: Request, status: str = "", agent: str = "") -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    mine = user["name"] if user["role"] == "coach" and request.query_params.get("all") != "1" else None
    prefill = {"agent": agent, "calls": " ".join(request.query_params.getlist("call")),
               "findings": " ".join(request.query_params.getlist("finding"))}
    agents = queue.agent_ids(store)
    return page(request, "coaching.html", user, sessions=coaching.sessions(store, coach=mine, status=status or None),
                status=status, agents=agents, prefill=prefill, mine=mine)


@form_post(router, "/coaching")
def coaching_open(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    session_id = coaching.open_session(store, user["name"], str(form.get("agent_id") or ""),
                                       str(form.get("goals") or ""), str(form.get("due_date") or ""),
                                       _words(form.get("calls")), _words(form.get("findings")),
                                       _words(form.get("criteria")))
    return redirect(f"/coaching/{session_id}?msg=coaching_opened")


def _visible(request: Request, store: Any, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    user = need(request, store, *REVIEWERS, "agent")
    s = coaching.session(store, session_id)  # an unknown id: NotFoundError, a 404 page
    if user["role"] == "agent" and s["agent_id"] != user["agent_id"]:
        raise NotFound("no such coaching session")
    return user, s


@router.get("/coaching/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, session_id: str) -> Response:
    store = site(request).stores.get()
    user, s = _visible(request, store, session_id)
    return page(request, "coaching_session.html", user, s=s, outcomes=coaching.OUTCOMES,
                may_close=s["status"] != "closed" and (user["role"] == "qa_lead" or user["name"] == s["coach"]))


@form_post(router, "/coaching/{session_id}/acknowledge")
def session_acknowledge(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "agent")
    check_csrf(request, user, form)
    session_id = request.path_params["session_id"]
    coaching.acknowledge(store, user["name"], session_id, str(form.get("comment") or ""))
    return redirect(f"/coaching/{session_id}?msg=coaching_acknowledged")


@form_post(router, "/coaching/{session_id}/close")
def session_close(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    session_id = request.path_params["session_id"]
    coaching.close_session(store, user["name"], session_id, str(form.get("outcome") or ""), str(form.get("note") or ""))
    return redirect(f"/coaching/{session_id}?msg=coaching_closed")
