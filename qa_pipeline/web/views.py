"""View helpers: turn a call's result into what the call page draws (no rules, no queries)."""

from __future__ import annotations

import re
from typing import Any

from qa_pipeline import ToneSummary


def clock(t: float | None) -> str:
    t = float(t or 0.0)
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def overlaps(f: dict[str, Any], start: float, end: float) -> bool:
    f_end = max(float(f["end"]), float(f["start"]) + 0.01)
    return float(f["start"]) < end and f_end > start


def transcript_rows(segments: list[Any], findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Segments with the findings that touch them, and the text split into (piece, highlighted) parts."""
    rows = []
    for i, s in enumerate(segments):
        hits = [f for f in findings if overlaps(f, s.start, s.end) and marks_text(f)
                and (f["speaker"] in (s.speaker, "unknown", None) or s.speaker == "unknown")]
        rows.append({"idx": i, "speaker": s.speaker, "start": s.start, "end": s.end,
                     "parts": _highlight(s.text, [f["evidence"] or "" for f in hits]),
                     "finding_keys": [f["finding_key"] for f in hits], "flagged": bool(hits)})
    return rows


def marks_text(f: dict[str, Any]) -> bool:
    """A finding that points at speech: not a missing script step (no evidence, spans the whole call)."""
    return bool((f["evidence"] or "").strip()) or f["kind"] in ("silence", "overtalk")


def _highlight(text: str, needles: list[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into (piece, marked) parts; matching ignores case, spaces and punctuation."""
    keep = [i for i, ch in enumerate(text) if ch.isalnum()]
    norm = "".join(text[i] for i in keep).lower()
    marks = [False] * len(text)
    pieces = [p for n in needles for p in re.split(r"\s*(?:…|\.\.\.| / )\s*", n)]
    for needle in pieces:
        n = "".join(ch for ch in needle if ch.isalnum()).lower()
        if len(n) < 2:
            continue
        at = norm.find(n)
        while at >= 0:
            for k in range(keep[at], keep[at + len(n) - 1] + 1):
                marks[k] = True
            at = norm.find(n, at + len(n))
    parts: list[tuple[str, bool]] = []
    for ch, m in zip(text, marks):
        if parts and parts[-1][1] == m:
            parts[-1] = (parts[-1][0] + ch, m)
        else:
            parts.append((ch, m))
    return parts


def tone_chart(tone: ToneSummary, duration: float, width: int = 800, lane: int = 60,
               threshold: float = 0.6) -> dict[str, Any]:
    """Per-speaker agitation lanes for an inline SVG: one bar per segment, height = agitation."""
    timeline = tone.timeline
    speakers = [sp for sp in ("agent", "caller", "unknown") if any(r.speaker == sp for r in timeline)]
    duration = max(float(duration or 0.0), max((r.end for r in timeline), default=0.0), 1.0)
    scale = width / duration
    lanes = []
    for n, sp in enumerate(speakers):
        top = n * (lane + 20) + 16
        bars = []
        for r in timeline:
            if r.speaker != sp:
                continue
            a = max(0.0, min(1.0, r.agitation or 0.0))
            h = max(1.0, a * lane)
            bars.append({"x": round(r.start * scale, 1), "w": round(max(1.5, (r.end - r.start) * scale), 1),
                         "y": round(top + lane - h, 1), "h": round(h, 1), "agitation": a, "start": r.start,
                         "hot": a >= threshold})
        summary = tone.speakers.get(sp)
        lanes.append({"speaker": sp, "top": top, "bars": bars, "threshold_y": round(top + lane - threshold * lane, 1),
                      "base_y": top + lane, "agitation": summary.agitation if summary else None,
                      "trend": summary.trend.direction if summary and summary.trend else None})
    step = next((t for t in (5, 10, 15, 30, 60, 120, 300, 600, 1800) if duration / t <= 12), 3600)
    height = len(lanes) * (lane + 20) + 20
    ticks = [{"x": round(t * scale, 1), "label": clock(t)[:-2]} for t in range(0, int(duration) + 1, step)]
    return {"width": width, "height": height, "lanes": lanes, "duration": duration, "ticks": ticks,
            "tick_y": height - 4}


def findings_timeline(findings: list[dict[str, Any]], duration: float, width: int = 800,
                      height: int = 26) -> dict[str, Any]:
    """A mark per finding along the call (under the audio player): x and width from its seconds, at least a few
    pixels wide so a point in time stays clickable. A finding that points at no speech (a missing script step
    spans the whole call) is a thin mark where it starts, so it hides none of the others."""
    duration = max(float(duration or 0.0), max((float(f["end"] or 0.0) for f in findings), default=0.0), 1.0)
    scale = width / duration
    marks = []
    for n, f in enumerate(findings):
        start, end = float(f["start"] or 0.0), max(float(f["end"] or 0.0), float(f["start"] or 0.0))
        if not marks_text(f):
            end = start
        marks.append({"n": n, "key": f["finding_key"], "start": start, "x": round(start * scale, 1),
                      "w": round(max(4.0, (end - start) * scale), 1), "severity": f["severity"] or "minor",
                      "label": f"{clock(start)} {f['kind']} {f['rule_id']}"})
    step = next((t for t in (5, 10, 15, 30, 60, 120, 300, 600, 1800) if duration / t <= 12), 3600)
    ticks = [{"x": round(t * scale, 1), "label": clock(t)[:-2]} for t in range(0, int(duration) + 1, step)]
    return {"width": width, "height": height, "marks": marks, "ticks": ticks}


# The scorecard's columns (paths into a row, as in the CSV) as HR reads them.
COLUMN_TITLES = {
    "agent_id": "Agent", "agent_name": "Name", "team": "Team", "week": "Week", "status": "Status",
    "rank": "Rank in team", "tier": "Tier", "calls": "Calls", "audio_hours": "Audio hours",
    "mean_score": "Mean score", "ci_low": "Score range low (95%)", "ci_high": "Score range high (95%)",
    "pass_rate": "Passed", "auto_fails": "Auto-fails", "auto_fails_confirmed": "Auto-fails confirmed",
    "banned_total": "Banned phrases", "banned_confirmed": "Banned phrases confirmed",
    "emotional_agent_calls": "Emotional (agent) calls", "emotional_agent_confirmed": "Emotional confirmed",
    "escalated_calls": "Escalated calls", "calmed_calls": "Caller calmed", "reviewed_calls": "Reviewed calls",
    "reviewed_share": "Reviewed", "human_scored_calls": "Scores changed by a coach",
    "disputes_opened": "Disputes opened", "disputes_upheld": "Disputes upheld", "disputes_changed": "Disputes changed",
    "disputes_open": "Disputes open", "prev_mean_score": "Last week's mean", "delta_score": "Change vs last week",
    "prev_tier": "Last week's tier",
}
PERCENT_COLUMNS = ("pass_rate", "reviewed_share")


def column_title(col: str) -> str:
    """A readable heading: 'banned.refusal' is 'Banned: refusal', 'adherence.greeting' is 'Script step: greeting'."""
    if col in COLUMN_TITLES:
        return COLUMN_TITLES[col]
    group, _, name = col.partition(".")
    prefix = {"banned": "Banned", "adherence": "Script step"}.get(group, group.replace("_", " ").capitalize())
    return f"{prefix}: {name.replace('_', ' ')}" if name else prefix


def is_percent(col: str) -> bool:
    return col in PERCENT_COLUMNS or col.startswith("adherence.")


def column_cell(col: str, value: Any) -> str:
    """A cell as HR reads it: shares as percentages, scores to one decimal, nothing for a missing value."""
    if value is None or value == "":
        return ""
    if is_percent(col) and isinstance(value, int | float):
        return f"{value * 100:.0f}%"
    if isinstance(value, float):
        return f"{value:.1f}" if col != "audio_hours" else f"{value:.2f}"
    return str(value)
