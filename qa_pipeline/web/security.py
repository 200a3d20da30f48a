"""Who is asking and may they: session cookie → user, role checks, CSRF, security headers.

- The session cookie holds a random 256-bit token (HttpOnly, SameSite=Strict; Secure when the
  app is told it sits behind HTTPS); the database holds only its SHA-256 (qa_pipeline.store.auth).
- Every state-changing request carries the session's CSRF token (form field ``csrf`` or header
  ``X-CSRF-Token``); the login form carries a pre-session token checked against its own cookie.
- Every route names the roles that may use it; agents are further limited to their own calls.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from pathlib import Path
from typing import Any

from fastapi import Request

from qa_pipeline.store import auth
from qa_pipeline.store.db import Store

CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")  # what a call id in a URL may look like
SESSION_COOKIE = "qa_session"
LOGIN_COOKIE = "qa_login"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self';"
       " frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class NotFound(Exception):
    pass


class Stores:
    """One Store (SQLite connection) per worker thread: a connection is never shared between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.local = threading.local()
        Store(self.path).close()  # created or migrated once, before the first request

    def get(self) -> Store:
        store = getattr(self.local, "store", None)
        if store is None:
            store = self.local.store = Store(self.path)
        return store


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def current_user(request: Request, store: Store) -> dict[str, Any] | None:
    return auth.session_user(store, request.cookies.get(SESSION_COOKIE))


def need(request: Request, store: Store, *roles: str) -> dict[str, Any]:
    """The signed-in user, if their role is one of ``roles``; else LoginRequired / Forbidden."""
    user = current_user(request, store)
    if user is None:
        raise LoginRequired()
    if roles and user["role"] not in roles:
        raise Forbidden(f"{user['role']} may not do this")
    return user


def check_csrf(request: Request, user: dict[str, Any], form: Any = None) -> None:
    sent = request.headers.get("x-csrf-token") or (form.get("csrf") if form is not None else None) or ""
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), user["csrf"].encode()):
        raise Forbidden("missing or wrong CSRF token")


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def check_login_token(request: Request, form: Any) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    sent = form.get("csrf") or ""
    return bool(cookie) and isinstance(sent, str) and hmac.compare_digest(cookie.encode(), sent.encode())


def safe_next(target: str | None) -> str:
    """Only same-site absolute paths: no scheme, no host, no protocol-relative //host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
