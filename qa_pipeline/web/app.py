"""`qa serve`: the review web app. Thin: parse the request, check who may, call the API, render.

Every rule and query lives in the public API and the store; the routers in ``routes/`` only wire them
to pages. ``create_app(db_path)`` builds an app over one database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from qa_pipeline import PrivacyConfig, ReportConfig, ReviewConfig, ReviewError, ToneConfig
from qa_pipeline.errors import ConflictError, NotFoundError
from qa_pipeline.web import site as site_module
from qa_pipeline.web.routes import agent, auth, calls, coaching, lead, queue, roles, scorecards, search
from qa_pipeline.web.security import SECURITY_HEADERS, Forbidden, LoginRequired, NotFound, Stores, current_user


def create_app(db_path: str | Path, config: dict[str, Any] | None = None) -> FastAPI:
    """The web app over the database at ``db_path``.

    ``config``: ``secure_cookies`` (set the Secure flag; use behind HTTPS), ``claim_ttl_minutes``,
    ``tone_threshold`` (the agitation line drawn on the tone chart), ``privacy`` (a PrivacyConfig: with
    ``coach_view: redacted``, the default, transcripts, search hits and audio have personal data covered),
    ``report`` (a ReportConfig for the scorecards, as `qa scorecard --config` builds it), ``qa`` (the QAConfig
    a coach's role swap re-scores the call with; default ``load_config()``), ``review`` (a ReviewConfig: the agents'
    dispute window).
    """
    cfg = {"secure_cookies": False, "claim_ttl_minutes": None, "tone_threshold": None, "privacy": None,
           "report": None, "qa": None, "review": None, **(config or {})}
    app = FastAPI(title="qa_pipeline review", docs_url=None, redoc_url=None, openapi_url=None)
    templates = site_module.templates()
    app.state.site = site_module.Site(
        stores=Stores(db_path), templates=templates, privacy=cfg["privacy"] or PrivacyConfig(),
        report=cfg["report"] or ReportConfig(), secure_cookies=bool(cfg["secure_cookies"]),
        claim_ttl_minutes=cfg["claim_ttl_minutes"], qa=cfg["qa"], review=cfg["review"] or ReviewConfig(),
        tone_threshold=ToneConfig().flag_threshold if cfg["tone_threshold"] is None else cfg["tone_threshold"])
    app.state.current_user = current_user
    app.mount("/static", StaticFiles(directory=site_module.HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    def error_page(request: Request, title: str, message: str, status: int) -> Response:
        return templates.TemplateResponse(request, "error.html", {"user": None, "title": title, "message": message},
                                          status_code=status)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET":  # back to the same page, filters and all, after signing in
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)
        return Response("login required", status_code=401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, "Forbidden", str(exc), 403)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return error_page(request, "Not found", str(exc) or "no such page", 404)

    @app.exception_handler(ReviewError)
    async def _review_error(request: Request, exc: ReviewError) -> Response:
        # a human input the store refused: 404 unknown, 409 someone else holds it or it is decided, else 400
        status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else 400
        return error_page(request, "Cannot do that", str(exc), status)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # Starlette answers an unhandled error outside the middleware above: the headers are set here too.
        response = error_page(request, "Internal error", "Something went wrong; the server log has the details.", 500)
        response.headers.update(SECURITY_HEADERS)
        return response

    for module in (auth, queue, search, calls, roles, lead, agent, coaching, scorecards):
        app.include_router(module.router)
    return app
