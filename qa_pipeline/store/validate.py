"""The one check of every human input, before anything is stored: the store's API calls these, so the CLI and
the web app get the same rules and the same messages. A bad input raises ValidationError (exit 2, HTTP 400)
naming the field; nothing is truncated or clamped behind the user's back."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from qa_pipeline.errors import ValidationError

# Characters a person may type into each free text (notes run long; a reason is a sentence or two).
LIMITS = {"notes": 5000, "coaching_action": 2000, "reason": 2000, "note": 5000, "target": 200, "goals": 5000,
          "comment": 2000}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def text(field: str, value: Any, limit: int | None = None, required: bool = False) -> str:
    """A free text: a string of at most ``limit`` characters (LIMITS[field] by default), no control characters
    but newlines and tabs; surrounding white space dropped."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text")
    value = value.strip()
    limit = LIMITS.get(field, 2000) if limit is None else limit
    if len(value) > limit:
        raise ValidationError(f"{field} is {len(value)} characters long; at most {limit} are kept")
    if _CONTROL.search(value):
        raise ValidationError(f"{field} contains a control character")
    if required and not value:
        raise ValidationError(f"{field} is required")
    return value


def number(field: str, value: Any) -> float:
    """A finite number (a string from a form or a command line is parsed)."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a number, not {value!r}")
    try:
        out = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(out):
        raise ValidationError(f"{field} must be a finite number, not {out}")
    return out


def human_scores(scores: dict[str, Any] | None, weights: dict[str, float]) -> dict[str, float]:
    """Points per criterion: each a criterion of the form version the call was scored with, each within
    [0, weight]. ``weights``: criterion id -> weight, from the call's score breakdown."""
    out: dict[str, float] = {}
    for cid, value in (scores or {}).items():
        if cid not in weights:
            known = ", ".join(sorted(weights)) or "none"
            raise ValidationError(f"the call's form has no criterion {str(cid)[:60]!r} (it has: {known})")
        points = number(f"score for {cid}", value)
        if not 0.0 <= points <= weights[cid]:
            raise ValidationError(f"score for {cid} must be between 0 and its weight {weights[cid]:g}, not {points:g}")
        out[cid] = points
    return out


def iso_week(value: Any) -> str:
    """``YYYY-Www`` naming a week that exists (W53 only in the years that have one)."""
    m = _WEEK.match(value if isinstance(value, str) else "")
    if not m:
        raise ValidationError(f"week must look like 2026-W47, not {str(value)[:20]!r}")
    try:
        dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ValidationError(f"{value} is not a week: {m.group(1)} has no week {m.group(2)}") from None
    return value


def week_monday(value: Any) -> dt.date:
    """The Monday of an ISO week that exists."""
    year, week = iso_week(value).split("-W")
    return dt.date.fromisocalendar(int(year), int(week), 1)


def day(value: Any) -> str:
    """``YYYY-MM-DD`` naming a day that exists."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValidationError(f"date must look like 2026-11-20, not {str(value)[:20]!r}")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value} is not a date") from None
    return value


def user_name(value: Any) -> str:
    """A user name: letters, digits and _ . @ -, up to 64 characters, starting with a letter or digit."""
    if not isinstance(value, str) or not _USER.match(value):
        raise ValidationError(f"a user name is 1-64 letters, digits or _.@- (starting with a letter or digit), "
                              f"not {str(value)[:70]!r}")
    return value


def choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationError(f"{field} must be {' or '.join(allowed)}, not {str(value)[:40]!r}")
    return value
