"""`qa serve`: the review web app. Thin: parse the request, check who may, call the API, render.

Every rule and query lives in the API modules (store, queue, review, calibration, auth, reports);
this module only wires them to pages. ``create_app(db_path)`` builds an app over one database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from qa_pipeline.base.audio import AudioError
from qa_pipeline.stages.pii.detect import redact_transcript
from qa_pipeline.store import auth, queue, review
from qa_pipeline.store.calibration import calibration_report
from qa_pipeline.store.review import ReviewError
from qa_pipeline.web import media, views
from qa_pipeline.web.security import (
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Forbidden,
    LoginRequired,
    NotFound,
    Stores,
    check_csrf,
    check_login_token,
    client_ip,
    current_user,
    need,
    new_login_token,
    safe_next,
)

HERE = Path(__file__).resolve().parent
CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
WEEK = re.compile(r"^\d{4}-W\d{2}$")
REVIEWERS = ("coach", "qa_lead")
MESSAGES = {
    "claimed": "Claimed: the call is yours for the next hour.",
    "claim_failed": "Could not claim: someone else holds it or it is already reviewed.",
    "nothing": "Nothing left to claim.",
    "released": "Released back to the queue.",
    "saved": "Review saved; the call is resolved.",
    "disputed": "Dispute opened; a QA lead will look at it.",
    "resolved": "Dispute resolved.",
    "assist": "Assist mode updated (applies from the next nightly run).",
}
HOME = {"coach": "/queue", "qa_lead": "/queue", "hr": "/scorecards", "agent": "/my"}


def create_app(db_path: str | Path, config: dict[str, Any] | None = None) -> FastAPI:
    """The web app over the database at ``db_path``.

    ``config``: ``secure_cookies`` (set the Secure flag; use behind HTTPS), ``claim_ttl_minutes``,
    ``tone_threshold`` (the agitation line drawn on the tone chart), ``privacy`` (a config.PrivacyConfig:
    with ``coach_view: redacted``, the default, transcripts, search hits and audio have personal data covered),
    ``report`` (a reports.ReportConfig for the scorecards, as `qa scorecard --config` builds it).
    """
    cfg = {"secure_cookies": False, "claim_ttl_minutes": None, "tone_threshold": None, "privacy": None,
           "report": None, **(config or {})}
    if cfg["privacy"] is None:
        from qa_pipeline.config import PrivacyConfig

        cfg["privacy"] = PrivacyConfig()
    redacted = cfg["privacy"].coach_view == "redacted"
    if cfg["tone_threshold"] is None:
        from qa_pipeline.stages.tone.emotion import ToneConfig

        cfg["tone_threshold"] = ToneConfig().flag_threshold
    stores = Stores(db_path)
    app = FastAPI(title="qa_pipeline review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.stores = stores
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["clock"] = views.clock
    templates.env.globals["nav_for"] = _nav_for

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    def page(request: Request, name: str, user: dict[str, Any] | None, status_code: int = 200, **ctx: Any) -> Response:
        msg = MESSAGES.get(request.query_params.get("msg", ""))
        return templates.TemplateResponse(request, name, {"user": user, "flash": msg, **ctx}, status_code=status_code)

    def post(path: str):
        """A form POST: the body is read on the event loop, then the handler runs in one worker thread
        with that thread's own connection (a connection is never shared between requests)."""

        def register(fn):
            async def endpoint(request: Request):
                form = await request.form()
                return await run_in_threadpool(fn, request, form)

            endpoint.__name__ = fn.__name__
            app.post(path)(endpoint)
            return fn

        return register

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        if request.method == "GET":
            return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)
        return Response("login required", status_code=401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        return templates.TemplateResponse(request, "error.html", {"user": None, "title": "Forbidden",
                                                                  "message": str(exc)}, status_code=403)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return templates.TemplateResponse(request, "error.html", {"user": None, "title": "Not found",
                                                                  "message": str(exc) or "no such page"}, status_code=404)

    @app.exception_handler(ReviewError)
    async def _review_error(request: Request, exc: ReviewError):
        return templates.TemplateResponse(request, "error.html", {"user": None, "title": "Cannot do that",
                                                                  "message": str(exc)}, status_code=400)

    # ------------------------------------------------------------------ sign in / out
    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        user = need(request, stores.get())
        return RedirectResponse(HOME.get(user["role"], "/login"), status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/"):
        token = new_login_token()
        resp = page(request, "login.html", None, login_csrf=token, next=safe_next(next), error=None)
        resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=cfg["secure_cookies"], path="/login")
        return resp

    @post("/login")
    def login_submit(request: Request, form: Any):
        if not check_login_token(request, form):
            raise Forbidden("missing or wrong CSRF token on the login form (reload the page)")
        name, password = str(form.get("username") or "")[:100], str(form.get("password") or "")[:1000]
        result = auth.login(stores.get(), name, password, client_ip(request))
        if result.status != "ok":
            token = new_login_token()
            throttled = result.status == "throttled"
            resp = page(request, "login.html", None, status_code=429 if throttled else 401, login_csrf=token,
                        next=safe_next(str(form.get("next") or "/")),
                        error="Too many failed attempts: try again in 15 minutes." if throttled
                        else "Wrong user name or password.")
            resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                            secure=cfg["secure_cookies"], path="/login")
            return resp
        target = safe_next(str(form.get("next") or "/"))
        if target == "/":
            target = HOME.get(result.user["role"], "/")
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, result.token, max_age=auth.SESSION_TTL_S, httponly=True, samesite="strict",
                        secure=cfg["secure_cookies"], path="/")
        resp.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
        return resp

    @post("/logout")
    def logout(request: Request, form: Any):
        store = stores.get()
        user = need(request, store)
        check_csrf(request, user, form)
        auth.logout(store, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    # ------------------------------------------------------------------ coach: queue, call, review, search
    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request, team: str = "", agent: str = "", kind: str = "", week: str = "", day: str = "",
                   status: str = "open"):
        store = stores.get()
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

    @post("/queue/claim")
    def queue_claim(request: Request, form: Any):
        store = stores.get()
        user = need(request, store, *REVIEWERS)
        check_csrf(request, user, form)
        call_id = str(form.get("call_id") or "") or None
        if call_id and not CALL_ID.match(call_id):
            raise NotFound("no such call")
        item = queue.claim(store, user["name"], call_id, cfg["claim_ttl_minutes"])
        if item is None:
            back = f"/calls/{call_id}" if call_id else "/queue"
            return RedirectResponse(f"{back}?msg={'claim_failed' if call_id else 'nothing'}", status_code=303)
        return RedirectResponse(f"/calls/{item['call_id']}?msg=claimed", status_code=303)

    @post("/queue/release")
    def queue_release(request: Request, form: Any):
        store = stores.get()
        user = need(request, store, *REVIEWERS)
        check_csrf(request, user, form)
        queue.release(store, user["name"], str(form.get("call_id") or ""))
        return RedirectResponse("/queue?msg=released", status_code=303)

    def visible_call(store: Any, user: dict[str, Any], call_id: str) -> dict[str, Any]:
        """The call, if this user may see it: reviewers any call, agents only their own reviewed ones."""
        if not CALL_ID.match(call_id):
            raise NotFound("no such call")
        call = store.call(call_id)
        if call is None:
            raise NotFound("no such call")
        if user["role"] == "agent":
            if not user["agent_id"] or call["agent_id"] != user["agent_id"] or review.latest_review(store, call_id) is None:
                raise NotFound("no such call")
        elif user["role"] not in REVIEWERS:
            raise Forbidden(f"{user['role']} may not open calls")
        return call

    @app.get("/calls/{call_id}", response_class=HTMLResponse)
    def call_page(request: Request, call_id: str):
        store = stores.get()
        user = need(request, store, "coach", "qa_lead", "agent")
        call = visible_call(store, user, call_id)
        store.audit(user["name"], "call.view", f"call:{call_id}")  # who opened which customer's call
        result = store.current_result(call_id)
        all_findings = store.findings(call_id)
        flagged = [f for f in all_findings if queue.is_flagged(f)]
        transcript = result.transcript if result else None
        if transcript is not None and redacted:
            transcript = redact_transcript(transcript, result.findings)
        segments = transcript.segments if transcript else []
        score = (result.score if result else None) or {}
        latest = review.latest_review(store, call_id)
        item = store.conn.execute("SELECT status, claimed_by, claim_expires, priority, reason FROM queue_items"
                                  " WHERE call_id=?", (call_id,)).fetchone()
        return page(
            request, "call.html", user, call=call, findings=flagged,
            passed_steps=[f for f in all_findings if not queue.is_flagged(f)],
            rows=views.transcript_rows(segments, flagged),
            chart=views.tone_chart(result.tone if result else {}, call["duration"] or 0.0,
                                   threshold=cfg["tone_threshold"]),
            score=score, review=latest, queue_item=dict(zip(("status", "claimed_by", "claim_expires", "priority",
                                                             "reason"), item)) if item else None,
            disputes=review.disputes(store, None, call_id), can_review=user["role"] in REVIEWERS,
        )

    @app.get("/calls/{call_id}/audio")
    def call_audio(request: Request, call_id: str, channel: str = "both"):
        store = stores.get()
        user = need(request, store, "coach", "qa_lead", "agent")
        call = visible_call(store, user, call_id)
        if channel not in media.CHANNELS:
            return Response("channel must be both, agent or caller", status_code=400)
        result = store.current_result(call_id)
        agent_channel = result.call.agent_channel if result else 0
        try:
            wav = media.call_wav(call, agent_channel, channel, (result.findings if result else []) if redacted else None,
                                 cfg["privacy"].audio_mode, cfg["privacy"].pad_seconds)
        except AudioError:
            raise NotFound("the recording of this call is not available") from None
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300"}
        try:
            rng = media.byte_range(request.headers.get("range"), len(wav))
        except ValueError:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{len(wav)}"})
        if rng is None:
            return Response(wav, media_type="audio/wav", headers=headers)
        first, last = rng
        headers["Content-Range"] = f"bytes {first}-{last}/{len(wav)}"
        return Response(wav[first:last + 1], status_code=206, media_type="audio/wav", headers=headers)

    @post("/calls/{call_id}/review")
    def call_review(request: Request, form: Any):
        call_id = request.path_params["call_id"]
        store = stores.get()
        user = need(request, store, *REVIEWERS)
        check_csrf(request, user, form)
        visible_call(store, user, call_id)
        verdicts, scores = _verdicts(form), {}
        for key, value in form.multi_items():
            if key.startswith("score_") and str(value).strip():
                try:
                    scores[key[6:]] = float(str(value))
                except ValueError:
                    raise ReviewError(f"human score for {key[6:]} must be a number") from None
        review.submit_review(store, user["name"], call_id, verdicts, scores, str(form.get("notes") or "")[:5000],
                             str(form.get("coaching_action") or "")[:5000])
        return RedirectResponse(f"/calls/{call_id}?msg=saved", status_code=303)

    @app.get("/search", response_class=HTMLResponse)
    def search_page(request: Request, q: str = ""):
        store = stores.get()
        user = need(request, store, *REVIEWERS)
        hits = store.search(q[:200], limit=100) if q.strip() else []
        if redacted:
            hits = _redacted_hits(store, hits)
        return page(request, "search.html", user, q=q, hits=hits)

    # ------------------------------------------------------------------ QA lead
    @app.get("/lead/runs", response_class=HTMLResponse)
    def runs_page(request: Request):
        store = stores.get()
        user = need(request, store, "qa_lead")
        return page(request, "runs.html", user, runs=store.runs(100), quarantined=store.quarantined()[:500])

    @app.get("/lead/calibration", response_class=HTMLResponse)
    def calibration_page(request: Request):
        store = stores.get()
        user = need(request, store, "qa_lead")
        return page(request, "calibration.html", user, report=calibration_report(store))

    @post("/lead/assist")
    def assist(request: Request, form: Any):
        store = stores.get()
        user = need(request, store, "qa_lead")
        check_csrf(request, user, form)
        review.set_assist(store, user["name"], str(form.get("target") or "")[:200], form.get("on") == "1",
                          str(form.get("reason") or "")[:1000])
        return RedirectResponse("/lead/calibration?msg=assist", status_code=303)

    @app.get("/lead/disputes", response_class=HTMLResponse)
    def disputes_page(request: Request, status: str = "open"):
        store = stores.get()
        user = need(request, store, "qa_lead")
        return page(request, "disputes.html", user, disputes=review.disputes(store, status if status != "all" else None),
                    status=status)

    @post("/lead/disputes/{dispute_id}/resolve")
    def dispute_resolve(request: Request, form: Any):
        store = stores.get()
        user = need(request, store, "qa_lead")
        check_csrf(request, user, form)
        review.resolve_dispute(store, user["name"], request.path_params["dispute_id"], str(form.get("decision") or ""),
                               str(form.get("note") or "")[:5000], _verdicts(form))
        back = safe_next(str(form.get("back") or "/lead/disputes"))
        return RedirectResponse(f"{back}?msg=resolved", status_code=303)

    # ------------------------------------------------------------------ agents
    @app.get("/my", response_class=HTMLResponse)
    def my_calls(request: Request):
        store = stores.get()
        user = need(request, store, "agent")
        calls = review.reviewed_calls(store, user["agent_id"]) if user["agent_id"] else []
        return page(request, "my.html", user, calls=calls)

    @post("/reviews/{review_id}/dispute")
    def dispute_open(request: Request, form: Any):
        review_id = request.path_params["review_id"]
        store = stores.get()
        user = need(request, store, "agent")
        check_csrf(request, user, form)
        reason = str(form.get("reason") or "").strip()[:5000]
        if not reason:
            raise ReviewError("say why you dispute the review")
        review.open_dispute(store, user["name"], review_id, reason)
        rows = store.conn.execute("SELECT call_id FROM reviews WHERE review_id=?", (review_id,)).fetchone()
        return RedirectResponse(f"/calls/{rows[0]}?msg=disputed" if rows else "/my", status_code=303)

    # ------------------------------------------------------------------ HR
    _scorecard_routes(app, stores, page, cfg)
    app.state.current_user = current_user
    return app


def _redacted_hits(store: Any, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Search hits with the text of the call's redacted transcript (personal data covered)."""
    out, cache = [], {}
    for hit in hits:
        if hit["call_id"] not in cache:
            result = store.current_result(hit["call_id"])
            cache[hit["call_id"]] = redact_transcript(result.transcript, result.findings).segments if result else []
        seg = next((s for s in cache[hit["call_id"]] if abs(s.start - float(hit["start"])) < 1e-6), None)
        out.append({**hit, "text": seg.text if seg else "[REDACTED]"})
    return out


def _verdicts(form: Any) -> dict[str, str]:
    return {k[8:]: str(v) for k, v in form.multi_items() if k.startswith("verdict_") and str(v) in review.VERDICTS}


def _nav_for(user: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not user:
        return []
    role = user["role"]
    links = []
    if role in REVIEWERS:
        links += [("/queue", "Queue"), ("/search", "Search")]
    if role == "qa_lead":
        links += [("/lead/runs", "Runs"), ("/lead/calibration", "Calibration"), ("/lead/disputes", "Disputes")]
    if role in ("hr", "qa_lead"):
        links += [("/scorecards", "Scorecards")]
    if role == "agent":
        links += [("/my", "My reviewed calls")]
    return links


def _reports() -> Any:
    """qa_pipeline.reports.scorecard, or None where it is not installed (the app still starts; the pages say so)."""
    try:
        from qa_pipeline.reports import scorecard as reports
    except ImportError:
        return None
    return reports if hasattr(reports, "weekly_scorecard") and hasattr(reports, "render_scorecard") else None


SCORECARD_TYPES = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8", "json": "application/json",
                   "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _table(card: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The scorecard's table as `qa scorecard --format csv` writes it, less the drill-down call lists."""
    if card is None:
        return [], []
    try:
        from qa_pipeline.reports.render import table
    except ImportError:
        return _scalar_columns(card.rows)
    header, rows = table(card)
    keep = [i for i, col in enumerate(header) if not col.startswith("call_ids.")]
    return [header[i] for i in keep], [{header[i]: row[i] for i in keep} for row in rows]


def _scalar_columns(rows: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The per-agent rows' plain fields (numbers, text), in the dataclass's order, for the page's table."""
    if not rows:
        return [], []
    dicts = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]
    columns = [k for k, v in dicts[0].items() if v is None or isinstance(v, (str, int, float, bool))]
    return columns, [{k: d.get(k) for k in columns} for d in dicts]


def _scorecard_routes(app: FastAPI, stores: Stores, page: Any, cfg: dict[str, Any]) -> None:
    """HR: weekly scorecards through qa_pipeline.reports.scorecard, the same numbers as `qa scorecard`."""

    def card_for(store: Any, week: str, team: str, agent: str) -> Any:
        reports = _reports()
        if reports is None:
            return None
        if not WEEK.match(week):
            raise ReviewError(f"week must look like 2026-W47, not {week[:20]!r}")
        return reports.weekly_scorecard(store, week, team or None, agent or None, cfg["report"])

    @app.get("/scorecards", response_class=HTMLResponse)
    def scorecards(request: Request, week: str = "", team: str = "", agent: str = ""):
        store = stores.get()
        user = need(request, store, "hr", "qa_lead")
        weeks = store.weeks()
        week = week or (weeks[0] if weeks else "")
        card = card_for(store, week, team, agent) if week else None
        columns, rows = _table(card)
        query = urlencode({k: v for k, v in (("week", week), ("team", team), ("agent", agent)) if v})
        return page(request, "scorecards.html", user, weeks=weeks, week=week, team=team, agent=agent, card=card,
                    columns=columns, rows=rows, query=query, available=_reports() is not None)

    @app.get("/scorecards/export")
    def scorecard_export(request: Request, week: str, fmt: str = "csv", team: str = "", agent: str = ""):
        store = stores.get()
        user = need(request, store, "hr", "qa_lead")
        if fmt not in SCORECARD_TYPES:
            return Response("fmt must be csv, xlsx, html or json", status_code=400)
        card = card_for(store, week, team, agent)
        if card is None:
            return Response("scorecards are not available (qa_pipeline.reports.scorecard is missing)", status_code=503)
        body = _reports().render_scorecard(card, fmt)
        name = "scorecard_" + "_".join(x for x in (week, team, agent) if x) + f".{fmt}"
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        store.audit(user["name"], "scorecard.export", f"week:{week}", None, {"team": team, "agent": agent, "fmt": fmt})
        return Response(body, media_type=SCORECARD_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
