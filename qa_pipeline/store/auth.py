"""Password hashing with a memory-hard KDF (scrypt from the standard library)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

_N, _R, _P = 2**14, 8, 1  # ~16 MiB per hash: memory-hard, ~50 ms on one core


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


# ------------------------------------------------------------------ web sessions and login throttling
# Session ids are 256-bit random tokens; the database keeps only their SHA-256, so a copy of the
# database does not yield a live session. Each session carries its own CSRF token and expires
# SESSION_TTL_S after sign-in; disabling a user or changing their password ends their sessions
# (store.users), and a disabled user's session is refused even before then.

SESSION_TTL_S = 8 * 3600
THROTTLE_MAX_FAILURES = 5
THROTTLE_WINDOW_S = 15 * 60

# Verified against when the user does not exist, so an unknown name costs the same time as a wrong password.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginResult:
    status: str  # ok | bad | throttled
    token: str = ""
    csrf: str = ""
    user: dict[str, Any] | None = None


def recent_failures(store: Any, name: str, ip: str, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return int(store.conn.execute("SELECT count(*) FROM login_failures WHERE user=? AND ip=? AND at>?",
                                  (name, ip, now - THROTTLE_WINDOW_S)).fetchone()[0])


def login(store: Any, name: str, password: str, ip: str) -> LoginResult:
    """Check a password; on success open a session. 5 failures per user+IP in 15 minutes → throttled."""
    if recent_failures(store, name, ip) >= THROTTLE_MAX_FAILURES:
        store.audit(name, "login.throttled", f"user:{name}", None, {"ip": ip})
        return LoginResult("throttled")
    row = store.conn.execute("SELECT name, role, agent_id, password_hash, disabled_at FROM users WHERE name=?",
                             (name,)).fetchone()
    ok = verify_password(password, row[3] if row and row[3] else _DUMMY_HASH) and row is not None and bool(row[3])
    if ok and row[4]:  # a disabled account: the same answer as a wrong password, but the audit log says why
        store.audit(name, "login.disabled", f"user:{name}", None, {"ip": ip})
        return LoginResult("bad")
    if not ok:
        store.conn.execute("INSERT INTO login_failures (user, ip, at) VALUES (?,?,?)", (name, ip, time.time()))
        store.audit(name, "login.fail", f"user:{name}", None, {"ip": ip})
        return LoginResult("bad")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = time.time()
    with store.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE expires < ?", (now,))
        conn.execute("DELETE FROM login_failures WHERE user=? AND ip=?", (name, ip))
        conn.execute("INSERT INTO web_sessions VALUES (?,?,?,?,?,?)",
                     (_token_hash(token), name, csrf, ip, now, now + SESSION_TTL_S))
        store.audit(name, "login", f"user:{name}", None, {"ip": ip})
    return LoginResult("ok", token, csrf, {"name": row[0], "role": row[1], "agent_id": row[2]})


def session_user(store: Any, token: str | None) -> dict[str, Any] | None:
    """The signed-in user of a session token (name, role, agent_id, csrf), or None."""
    if not token or len(token) > 200:
        return None
    row = store.conn.execute(
        "SELECT u.name, u.role, u.agent_id, s.csrf FROM web_sessions s JOIN users u ON u.name = s.user"
        " WHERE s.token_hash=? AND s.expires > ? AND u.disabled_at IS NULL", (_token_hash(token), time.time())).fetchone()
    return dict(zip(("name", "role", "agent_id", "csrf"), row)) if row else None


def logout(store: Any, token: str | None) -> None:
    if not token:
        return
    row = store.conn.execute("SELECT user FROM web_sessions WHERE token_hash=?", (_token_hash(token),)).fetchone()
    if row:
        with store.transaction() as conn:
            conn.execute("DELETE FROM web_sessions WHERE token_hash=?", (_token_hash(token),))
            store.audit(row[0], "logout", f"user:{row[0]}")
