"""Who may act: users, their roles, and offboarding (disable, enable, remove, a new password).

Disabling a user, removing them or changing their password ends every web session they have open and hands
their claims on calls back to the queue; each lands in the audit log. Removing a user deletes the account,
never their decisions: reviews, verdicts and the audit log keep the name.
"""

from __future__ import annotations

import time
from typing import Any

from qa_pipeline.errors import ConflictError, NotFoundError, PermissionDenied, ReviewError
from qa_pipeline.store import clock, validate

ROLES = ("coach", "qa_lead", "hr", "agent")
REVIEWERS = ("coach", "qa_lead")
_COLUMNS = "name, role, agent_id, password_hash, created_at, disabled_at, disabled_by, password_changed_at"


def add_user(store: Any, name: str, role: str, agent_id: str | None = None, password_hash: str | None = None,
             actor: str = "admin") -> None:
    """Add a user, or change an existing user's role and agent id (and password, when one is given)."""
    validate.user_name(name)
    if role not in ROLES:
        raise ReviewError(f"role must be one of {ROLES}, not {role!r}")
    agent_id = validate.text("agent_id", agent_id, 100) or None
    with store.transaction() as conn:
        before = conn.execute("SELECT role, agent_id FROM users WHERE name=?", (name,)).fetchone()
        conn.execute("INSERT INTO users (name, role, agent_id, password_hash, created_at) VALUES (?,?,?,?,?)"
                     " ON CONFLICT(name) DO UPDATE SET role=excluded.role, agent_id=excluded.agent_id,"
                     " password_hash=COALESCE(excluded.password_hash, users.password_hash)",
                     (name, role, agent_id, password_hash, clock.now()))
        after = {"role": role, "agent_id": agent_id, "password_set": bool(password_hash)}
        if before and password_hash:  # a new password for an existing user: the old one's sessions end
            conn.execute("UPDATE users SET password_changed_at=? WHERE name=?", (clock.now(), name))
            after["sessions_ended"] = end_sessions(store, name)
        store.audit(actor, "user.add", f"user:{name}", dict(zip(("role", "agent_id"), before)) if before else None,
                    after)


def user(store: Any, name: str) -> dict[str, Any] | None:
    rows = list(store.db.query(f"SELECT {_COLUMNS} FROM users WHERE name=?", [name]))
    return rows[0] if rows else None


def users(store: Any) -> list[dict[str, Any]]:
    """Every user with role, agent id, state and open sessions (no password hashes)."""
    return list(store.db.query(
        "SELECT u.name, u.role, u.agent_id, u.created_at, u.disabled_at, u.disabled_by, u.password_changed_at,"
        " u.password_hash IS NOT NULL AS has_password,"
        " (SELECT count(*) FROM web_sessions s WHERE s.user = u.name AND s.expires > ?) AS sessions"
        " FROM users u ORDER BY u.name", [time.time()]))


def reviewers(store: Any) -> list[str]:
    """Active coaches and QA leads: whom a call can be handed over to."""
    return [r[0] for r in store.conn.execute(
        "SELECT name FROM users WHERE role IN ('coach', 'qa_lead') AND disabled_at IS NULL ORDER BY name")]


def require_role(store: Any, name: str, *roles: str) -> dict[str, Any]:
    """The user ``name``, if they exist, are not disabled and have one of ``roles``."""
    u = user(store, name)
    if u is None:
        raise NotFoundError(f"unknown user {name!r}; add it with `qa users add`")
    if u["disabled_at"]:
        raise PermissionDenied(f"user {name!r} is disabled (since {u['disabled_at']})")
    if roles and u["role"] not in roles:
        raise PermissionDenied(f"user {name!r} is {u['role']}; this needs {' or '.join(roles)}")
    return u


def _existing(store: Any, name: str) -> dict[str, Any]:
    u = user(store, name)
    if u is None:
        raise NotFoundError(f"unknown user {name!r}")
    return u


def end_sessions(store: Any, name: str) -> int:
    """Sign the user out everywhere (inside the caller's transaction). Returns how many sessions ended."""
    return store.conn.execute("DELETE FROM web_sessions WHERE user=?", (name,)).rowcount


def _release_claims(store: Any, name: str) -> list[str]:
    rows = store.conn.execute("UPDATE queue_items SET claimed_by=NULL, claimed_at=NULL, claim_expires=NULL"
                              " WHERE claimed_by=? RETURNING call_id", (name,)).fetchall()
    return sorted(r[0] for r in rows)


def disable(store: Any, name: str, actor: str = "admin") -> dict[str, Any]:
    """The user can no longer sign in or act; their sessions end and their claims go back to the queue."""
    u = _existing(store, name)
    if u["disabled_at"]:
        raise ConflictError(f"user {name!r} is already disabled (since {u['disabled_at']})")
    with store.transaction() as conn:
        conn.execute("UPDATE users SET disabled_at=?, disabled_by=? WHERE name=?", (clock.now(), actor, name))
        done = {"sessions_ended": end_sessions(store, name), "claims_released": _release_claims(store, name)}
        store.audit(actor, "user.disable", f"user:{name}", {"disabled": False}, {"disabled": True, **done})
    return done


def enable(store: Any, name: str, actor: str = "admin") -> None:
    u = _existing(store, name)
    if not u["disabled_at"]:
        raise ConflictError(f"user {name!r} is not disabled")
    with store.transaction() as conn:
        conn.execute("UPDATE users SET disabled_at=NULL, disabled_by=NULL WHERE name=?", (name,))
        store.audit(actor, "user.enable", f"user:{name}", {"disabled": True}, {"disabled": False})


def remove(store: Any, name: str, actor: str = "admin") -> dict[str, Any]:
    """Delete the account (its decisions stay, under its name); its sessions end and its claims go back."""
    u = _existing(store, name)
    with store.transaction() as conn:
        done = {"sessions_ended": end_sessions(store, name), "claims_released": _release_claims(store, name)}
        conn.execute("DELETE FROM users WHERE name=?", (name,))
        store.audit(actor, "user.remove", f"user:{name}", {"role": u["role"], "agent_id": u["agent_id"]}, done)
    return done


def set_password(store: Any, name: str, password_hash: str, actor: str = "admin") -> int:
    """A new password; every session opened with the old one ends. Returns how many sessions ended."""
    _existing(store, name)
    with store.transaction() as conn:
        conn.execute("UPDATE users SET password_hash=?, password_changed_at=? WHERE name=?",
                     (password_hash, clock.now(), name))
        ended = end_sessions(store, name)
        store.audit(actor, "user.passwd", f"user:{name}", None, {"sessions_ended": ended})
    return ended
