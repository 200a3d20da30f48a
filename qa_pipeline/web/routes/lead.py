"""The QA lead's pages: runs and quarantine, calibration and assist mode, disputes, releasing reviews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline.store import disputes, release, review
from qa_pipeline.store.calibration import calibration_report
from qa_pipeline.web.routes.calls import verdicts
from qa_pipeline.web.security import check_csrf, need, safe_next
from qa_pipeline.web.site import form_post, page, redirect, site

router = APIRouter()


@router.get("/lead/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "qa_lead")
    return page(request, "runs.html", user, runs=store.runs(100), quarantined=store.quarantined()[:500])


@router.get("/lead/calibration", response_class=HTMLResponse)
def calibration_page(request: Request) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "qa_lead")
    return page(request, "calibration.html", user, report=calibration_report(store))


@form_post(router, "/lead/assist")
def assist(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "qa_lead")
    check_csrf(request, user, form)
    review.set_assist(store, user["name"], str(form.get("target") or ""), form.get("on") == "1",
                      str(form.get("reason") or ""))
    return redirect("/lead/calibration?msg=assist")


@router.get("/lead/disputes", response_class=HTMLResponse)
def disputes_page(request: Request, status: str = "open") -> Response:
    store = site(request).stores.get()
    user = need(request, store, "qa_lead")
    return page(request, "disputes.html", user, disputes=disputes.disputes(store, status if status != "all" else None),
                status=status)


@form_post(router, "/lead/disputes/{dispute_id}/resolve")
def dispute_resolve(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "qa_lead")
    check_csrf(request, user, form)
    scores = {k[6:]: str(v) for k, v in form.multi_items() if k.startswith("score_") and str(v).strip()}
    disputes.resolve_dispute(store, user["name"], request.path_params["dispute_id"], str(form.get("decision") or ""),
                             str(form.get("note") or ""), verdicts(form), scores)
    back = safe_next(str(form.get("back") or "/lead/disputes"))
    return redirect(f"{back}?msg=resolved")


@router.get("/lead/releases", response_class=HTMLResponse)
def releases_page(request: Request, team: str = "") -> Response:
    here = site(request)
    store = here.stores.get()
    user = need(request, store, "qa_lead")
    return page(request, "releases.html", user, pending=release.pending_releases(store, team or None), team=team,
                rates=release.team_rates(store, window_days=here.review.dispute_window_days))


@form_post(router, "/reviews/{review_id}/release")
def review_release(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, "qa_lead")
    check_csrf(request, user, form)
    review_id = request.path_params["review_id"]
    release.release_review(store, user["name"], review_id, str(form.get("at") or "") or None,
                           reschedule=form.get("reschedule") == "1")
    call_id = review.call_of(store, review_id)
    back = safe_next(str(form.get("back") or (f"/calls/{call_id}" if call_id else "/lead/releases")))
    return redirect(f"{back}?msg=review_released")
