"""Sign in and out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_pipeline.store import auth
from qa_pipeline.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Forbidden,
    check_csrf,
    check_login_token,
    client_ip,
    need,
    new_login_token,
    safe_next,
)
from qa_pipeline.web.site import HOME, form_post, page, redirect, site

router = APIRouter()


def _login_page(request: Request, next_url: str, status_code: int = 200, error: str | None = None) -> Response:
    token = new_login_token()
    resp = page(request, "login.html", None, status_code=status_code, login_csrf=token, next=safe_next(next_url),
                error=error)
    resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                    secure=site(request).secure_cookies, path="/login")
    return resp


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    user = need(request, site(request).stores.get())
    return redirect(HOME.get(user["role"], "/login"))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, next)


@form_post(router, "/login")
def login_submit(request: Request, form: Any) -> Response:
    if not check_login_token(request, form):
        raise Forbidden("missing or wrong CSRF token on the login form (reload the page)")
    name, password = str(form.get("username") or "")[:100], str(form.get("password") or "")[:1000]
    result = auth.login(site(request).stores.get(), name, password, client_ip(request))
    if result.status != "ok":
        throttled = result.status == "throttled"
        return _login_page(request, str(form.get("next") or "/"), 429 if throttled else 401,
                           "Too many failed attempts: try again in 15 minutes." if throttled
                           else "Wrong user name or password.")
    target = safe_next(str(form.get("next") or "/"))
    if target == "/":
        target = HOME.get(result.user["role"], "/")
    resp = redirect(target)
    resp.set_cookie(SESSION_COOKIE, result.token, max_age=auth.SESSION_TTL_S, httponly=True, samesite="strict",
                    secure=site(request).secure_cookies, path="/")
    resp.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
    return resp


@form_post(router, "/logout")
def logout(request: Request, form: Any) -> Response:
    store = site(request).stores.get()
    user = need(request, store)
    check_csrf(request, user, form)
    auth.logout(store, request.cookies.get(SESSION_COOKIE))
    resp = redirect("/login")
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp
