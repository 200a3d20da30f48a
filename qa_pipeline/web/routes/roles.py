"""A coach swaps agent and caller on a call (qa_pipeline.swap_roles): the stored transcript scored again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

import qa_pipeline as qa
from qa_pipeline.web.routes.calls import visible_call
from qa_pipeline.web.security import check_csrf, need
from qa_pipeline.web.site import REVIEWERS, form_post, redirect, site

router = APIRouter()


@form_post(router, "/calls/{call_id}/swap-roles")
def swap_roles(request: Request, form: Any) -> Response:
    call_id = request.path_params["call_id"]
    here = site(request)
    store = here.stores.get()
    user = need(request, store, *REVIEWERS)
    check_csrf(request, user, form)
    visible_call(store, user, call_id)
    qa.swap_roles(store, user["name"], call_id, here.qa or qa.load_config(), str(form.get("reason") or ""),
                  as_lead=form.get("as_lead") == "1")
    return redirect(f"/calls/{call_id}?msg=roles_swapped")
