"""Finding calls: the search page (words and filters), its CSV download, and the user's saved searches."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline import redact_transcript, render_csv
from qa_pipeline.errors import ValidationError
from qa_pipeline.store import queue
from qa_pipeline.store import search as finder
from qa_pipeline.web.security import check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, page, redirect, site

router = APIRouter()

# form field -> SearchQuery field (the form's names are the CLI's options)
FIELDS = {"q": "text", "speaker": "speaker", "kind": "kind", "rule": "rule", "min_score": "min_score",
          "max_score": "max_score", "min_agitation": "min_agitation", "agitation_of": "agitation_of", "team": "team",
          "agent": "agent", "from": "date_from", "to": "date_to", "call_type": "call_type", "direction": "direction"}
NUMBERS = ("min_score", "max_score", "min_agitation")


def query_from(params: Any) -> finder.SearchQuery:
    """The query the form (or a URL) asks for; a number that is not one is a ValidationError (400)."""
    values: dict[str, Any] = {}
    for name, field in FIELDS.items():
        raw = str(params.get(name) or "").strip()
        if not raw:
            continue
        if field in NUMBERS:
            try:
                values[field] = float(raw)
            except ValueError:
                raise ValidationError(f"{name} must be a number, not {raw[:20]!r}") from None
        else:
            values[field] = raw[: finder.MAX_TEXT]
    return finder.SearchQuery(**values).checked()


def form_values(query: finder.SearchQuery) -> dict[str, str]:
    """The query as the form's fields (to fill the form in again, and for links)."""
    data = query.to_dict()
    return {name: (f"{data[field]:g}" if field in NUMBERS else str(data[field]))
            for name, field in FIELDS.items() if field in data and field != "limit"}


def _results(request: Request, store: Any, query: finder.SearchQuery) -> list[dict[str, Any]]:
    calls = finder.search_calls(store, query)
    here = site(request)
    if here.redacted:  # what matched is found; the personal data in it is not shown
        calls = finder.redact_hits(store, calls, lambda r: redact_transcript(r.transcript, r.findings, here.privacy))
    return calls


def _asked(request: Request, store: Any, user: dict[str, Any]) -> tuple[finder.SearchQuery, dict[str, Any] | None]:
    """The query of ?saved=ID (the user's own saved search) or of the form's fields."""
    saved_id = request.query_params.get("saved", "")
    if saved_id:
        saved = finder.saved_search(store, user["name"], saved_id)  # another user's: 404
        return finder.SearchQuery.from_dict(saved["query"]).checked(), saved
    return query_from(request.query_params), None


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    query, saved = _asked(request, store, user)
    asked = bool(query.to_dict()) or saved is not None
    calls = _results(request, store, query) if asked else []
    values = form_values(query)
    return page(request, "search.html", user, q=query.text, values=values, asked=asked, calls=calls,
                hits=[h for c in calls for h in c["hits"]], facets=queue.queue_facets(store), current=saved,
                saved=finder.saved_searches(store, user["name"]), query_string=urlencode(values),
                speakers=finder.SPEAKERS, directions=finder.DIRECTIONS, agitation_of=finder.AGITATION_OF)


@router.get("/search/export.csv")
def search_export(request: Request) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    query, _ = _asked(request, store, user)
    calls = _results(request, store, query)
    store.audit(user["name"], "search.export", "search", None, {"query": query.to_dict(), "calls": len(calls)})
    return Response(render_csv(finder.CSV_HEADER, finder.csv_rows(calls)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="search.csv"'})


@form_post(router, "/search/save")
def search_save(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    search_id = finder.save_search(store, user["name"], str(form.get("name") or ""), query_from(form))
    return redirect(f"/search?saved={search_id}&msg=search_saved")


@form_post(router, "/search/delete")
def search_delete(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    finder.delete_saved(store, user["name"], str(form.get("search_id") or ""))
    return redirect("/search?msg=search_deleted")
