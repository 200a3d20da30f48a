"""What every page handler needs: the per-thread stores, the templates, the settings, and two helpers
(render a page, register a form POST). Held on ``app.state.site``; handlers reach it through the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from qa_pipeline import PrivacyConfig, QAConfig, ReportConfig, ReviewConfig
from qa_pipeline.web import views
from qa_pipeline.web.security import Stores

HERE = Path(__file__).resolve().parent
REVIEWERS = ("coach", "qa_lead")
HOME = {"coach": "/queue", "qa_lead": "/queue", "hr": "/scorecards", "agent": "/my"}
MESSAGES = {
    "claimed": "Claimed: the call is yours until the time shown.",
    "claim_failed": "Could not claim: someone else holds it or it is already reviewed.",
    "nothing": "Nothing left to claim.",
    "released": "Released back to the queue.",
    "release_refused": "Not released: you do not hold this call (someone else does, or nobody).",
    "handed_over": "Handed over: the call is theirs now.",
    "saved": "Review saved; the call is resolved (earlier versions are kept in its history).",
    "disputed": "Dispute opened; a QA lead will look at it.",
    "resolved": "Dispute resolved.",
    "assist": "Assist mode updated (applies from the next nightly run).",
    "review_released": "Review released to the agent (or set to be released at the time shown).",
    "acknowledged": "Review acknowledged; thank you.",
    "coaching_opened": "Coaching session opened; the agent sees it on their page.",
    "coaching_acknowledged": "Coaching session acknowledged.",
    "coaching_closed": "Coaching session closed with its outcome.",
    "search_saved": "Search saved: it is in your saved searches (only you see it).",
    "search_deleted": "Saved search deleted.",
    "roles_swapped": "Agent and caller swapped: the call is scored again with the new roles (kept by later runs).",
}


@dataclass
class Site:
    stores: Stores
    templates: Jinja2Templates
    privacy: PrivacyConfig
    report: ReportConfig
    secure_cookies: bool = False
    claim_ttl_minutes: float | None = None
    tone_threshold: float = 0.5  # ToneConfig().flag_threshold
    qa: QAConfig | None = None  # what a role swap re-scores with (`qa serve --config`); None: load_config()
    review: ReviewConfig = field(default_factory=ReviewConfig)  # the agents' dispute window

    @property
    def redacted(self) -> bool:
        return self.privacy.coach_view == "redacted"


def site(request: Request) -> Site:
    return request.app.state.site


def page(request: Request, name: str, user: dict[str, Any] | None, status_code: int = 200, **ctx: Any) -> Response:
    msg = MESSAGES.get(request.query_params.get("msg", ""))
    return site(request).templates.TemplateResponse(request, name, {"user": user, "flash": msg, **ctx},
                                                    status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def form_post(router: APIRouter, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A form POST: the body is read on the event loop, then the handler runs in one worker thread
    with that thread's own connection (a connection is never shared between requests)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Any:
            form = await request.form()
            return await run_in_threadpool(fn, request, form)

        endpoint.__name__ = fn.__name__
        router.post(path)(endpoint)
        return fn

    return register


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.globals["clock"] = views.clock
    t.env.globals["column_title"] = views.column_title
    t.env.globals["column_cell"] = views.column_cell
    t.env.globals["nav_for"] = nav_for
    return t


def nav_for(user: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not user:
        return []
    role = user["role"]
    links = []
    if role in REVIEWERS:
        links += [("/queue", "Queue"), ("/search", "Search")]
    if role == "qa_lead":
        links += [("/lead/runs", "Runs"), ("/lead/calibration", "Calibration"), ("/lead/disputes", "Disputes"),
                  ("/lead/releases", "Releases")]
    if role in REVIEWERS:
        links += [("/coaching", "Coaching")]
    if role in ("hr", "qa_lead"):
        links += [("/scorecards", "Scorecards")]
    if role == "agent":
        links += [("/my", "My reviewed calls"), ("/my#coaching", "My coaching")]
    return links
