"""One call: its page (transcript, findings at their seconds, tone chart, score), its audio, its review."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline import AudioError, Score, ToneSummary, masked_numbers, redact_transcript
from qa_pipeline.store import disputes, queue, release, review, users
from qa_pipeline.store import roles as role_store
from qa_pipeline.web import media, views
from qa_pipeline.web.security import CALL_ID, Forbidden, NotFound, check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, page, redirect, site

router = APIRouter()


def visible_call(store: Any, user: dict[str, Any], call_id: str) -> dict[str, Any]:
    """The call, if this user may see it: reviewers any call, agents only their own reviewed ones."""
    if not CALL_ID.match(call_id):
        raise NotFound("no such call")
    call = store.call(call_id)
    if call is None:
        raise NotFound("no such call")
    if user["role"] == "agent":  # an unreleased review does not exist for its agent
        if not user["agent_id"] or call["agent_id"] != user["agent_id"] or not release.latest_visible_version(
                store, call_id):
            raise NotFound("no such call")
    elif user["role"] not in REVIEWERS:
        raise Forbidden(f"{user['role']} may not open calls")
    return call


def verdicts(form: Any) -> dict[str, str]:
    return {k[8:]: str(v) for k, v in form.multi_items() if k.startswith("verdict_") and str(v) in review.VERDICTS}


def why_rejected(form: Any, given: dict[str, str]) -> dict[str, str]:
    """The reasons typed for the findings rejected (a reason left beside a finding then confirmed is dropped)."""
    return {k[7:]: str(v) for k, v in form.multi_items()
            if k.startswith("reason_") and str(v).strip() and given.get(k[7:]) == "reject"}


@router.get("/calls/{call_id}", response_class=HTMLResponse)
def call_page(request: Request, call_id: str) -> Response:
    here = site(request)
    store = here.stores.get()
    user = need(request, store, "coach", "qa_lead", "agent")
    call = visible_call(store, user, call_id)
    store.audit(user["name"], "call.view", f"call:{call_id}")  # who opened which customer's call
    result = store.current_result(call_id)
    all_findings = store.findings(call_id)
    flagged = [f for f in all_findings if queue.is_flagged(f)]
    transcript = result.transcript if result else None
    if transcript is not None and here.redacted:
        transcript = redact_transcript(transcript, result.findings, here.privacy)
    segments = transcript.segments if transcript else []
    held = queue.lease(store, call_id)
    current, history = review.current_review(store, call_id), review.review_history(store, call_id)
    call_disputes = disputes.disputes(store, None, call_id)
    if user["role"] == "agent":  # the versions released to them; the newest of those is "the" review
        shown = release.visible_review_ids(store, call_id)
        history = [v for v in history if v["review_id"] in shown]
        call_disputes = [d for d in call_disputes if d["review_id"] in shown]
        if current and current["review_id"] not in shown:
            current = next((v for v in reversed(history)), None)
    return page(
        request, "call.html", user, call=call, findings=flagged,
        passed_steps=[f for f in all_findings if not queue.is_flagged(f)],
        rows=views.transcript_rows(segments, flagged),
        chart=views.tone_chart(result.tone if result else ToneSummary(), call["duration"] or 0.0,
                               threshold=here.tone_threshold),
        timeline=views.findings_timeline(flagged, call["duration"] or 0.0),
        score=result.score if result else Score(), review=current, history=history,
        release=release_state(store, current, here.review.dispute_window_days),
        queue_item=queue.queue_state(store, call_id),
        lease=held, holds=bool(held and held["holder"] == user["name"]), can_review=user["role"] in REVIEWERS,
        reviewers=[n for n in users.reviewers(store) if n != user["name"]],
        disputes=call_disputes,
        roles=role_store.result_roles(store, call_id), role_history=role_store.decision_history(store, call_id),
    )


def release_state(store: Any, current: dict[str, Any] | None, window_days: int) -> dict[str, Any] | None:
    """The review's release, acknowledgement and dispute window, as the call page shows them."""
    if current is None:
        return None
    rel = release.current_release(store, current["review_id"])
    when = rel["release_at"] if rel else None
    return {"release": rel, "visible": release.is_visible(store, current["review_id"]),
            "ack": release.acknowledgement(store, current["review_id"]),
            "dispute_closes": release.dispute_closes(when, window_days),
            "window_open": release.window_open(when, window_days),
            "is_current": current["status"] == "current"}


@router.get("/calls/{call_id}/audio")
def call_audio(request: Request, call_id: str, channel: str = "both") -> Response:
    here = site(request)
    store = here.stores.get()
    user = need(request, store, "coach", "qa_lead", "agent")
    call = visible_call(store, user, call_id)
    if channel not in media.CHANNELS:
        return Response("channel must be both, agent or caller", status_code=400)
    result = store.current_result(call_id)
    agent_channel = result.call.agent_channel if result else 0
    try:
        covered = masked_numbers(result.transcript, result.call, here.privacy) if result else []
        wav = media.call_wav(call, agent_channel, channel, covered if here.redacted else None,
                             here.privacy.audio_mode, here.privacy.pad_seconds)
    except AudioError:
        raise NotFound("the recording of this call is not available") from None
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store"}  # voices and personal data: never cached
    try:
        rng = media.byte_range(request.headers.get("range"), len(wav))
    except ValueError:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{len(wav)}"})
    if rng is None:
        return Response(wav, media_type="audio/wav", headers=headers)
    first, last = rng
    headers["Content-Range"] = f"bytes {first}-{last}/{len(wav)}"
    return Response(wav[first:last + 1], status_code=206, media_type="audio/wav", headers=headers)


@form_post(router, "/calls/{call_id}/review")
def call_review(request: Request, form: Any) -> Response:
    call_id = request.path_params["call_id"]
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    visible_call(store, user, call_id)
    scores = {key[6:]: str(value) for key, value in form.multi_items() if key.startswith("score_") and str(value).strip()}
    given = verdicts(form)
    review.submit_review(store, user["name"], call_id, given, scores, str(form.get("notes") or ""),
                         str(form.get("coaching_action") or ""), str(form.get("reason") or ""),
                         as_lead=form.get("as_lead") == "1", why_rejected=why_rejected(form, given))
    return redirect(f"/calls/{call_id}?msg=saved")
