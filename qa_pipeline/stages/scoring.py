"""Scorecard form: a YAML the QA lead edits, and the scoring of one call against it.

A criterion is bound to findings in one of two ways:
  require: {kind: script_step, step: greeting}   pass if the step passed; n/a if the step is n/a
  forbid:  {kind: banned_phrase, speaker: agent, categories: [...]}   pass if no such finding
Not-applicable criteria leave the total (earned / applicable weight × 100). Auto-fail
items set the total to 0 whatever was earned. Criteria or rules in assist mode are
shown with their evidence but not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from qa_pipeline.contracts import Call, Finding, Transcript

DEFAULT_FORM = Path(__file__).resolve().parents[1] / "defaults" / "forms" / "default.yaml"


class FormError(ValueError):
    def __init__(self, path: str | Path, field_name: str, message: str, line: int | None = None):
        self.path, self.field, self.line = str(path), field_name, line
        super().__init__(f"{path}{f', line {line}' if line else ''}: {field_name}: {message}")


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    weight: float
    section: str
    require: dict[str, Any] | None = None
    forbid: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    match: dict[str, Any]
    points: float = 0.0


@dataclass(frozen=True)
class Form:
    id: str
    version: str
    pass_mark: float
    criteria: tuple[Criterion, ...]
    sections: tuple[tuple[str, str], ...]  # (id, title)
    auto_fail: tuple[Rule, ...] = ()
    bonus: tuple[Rule, ...] = ()
    source: str = ""


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_MATCH_KEYS = {"kind", "speaker", "categories", "rules", "step", "auto_fail"}


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "__line__"}


def _check_match(path: Path, where: str, spec: Any, line: int | None) -> dict[str, Any]:
    if not isinstance(spec, dict) or "kind" not in spec:
        raise FormError(path, where, "expected a mapping with at least 'kind'", line)
    unknown = set(_clean(spec)) - _MATCH_KEYS
    if unknown:
        raise FormError(path, where, f"unknown key(s) {sorted(unknown)}; known: {sorted(_MATCH_KEYS)}", spec.get("__line__", line))
    return _clean(spec)


@lru_cache(maxsize=16)
def _load_form_cached(path: str, mtime: float) -> Form:
    file = Path(path)
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except OSError as exc:
        raise FormError(file, "<file>", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FormError(file, "<yaml>", str(getattr(exc, "problem", exc)), mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise FormError(file, "<root>", "expected a mapping")
    for key in ("id", "version", "sections"):
        if key not in data:
            raise FormError(file, key, "missing", data.get("__line__"))
    criteria: list[Criterion] = []
    sections: list[tuple[str, str]] = []
    seen: set[str] = set()
    for s_i, section in enumerate(data["sections"]):
        if not isinstance(section, dict) or "id" not in section or "criteria" not in section:
            raise FormError(file, f"sections[{s_i}]", "needs id and criteria", getattr(section, "get", lambda *_: None)("__line__"))
        sections.append((section["id"], section.get("title", section["id"])))
        for c_i, c in enumerate(section["criteria"]):
            where = f"sections[{s_i}].criteria[{c_i}]"
            line = c.get("__line__") if isinstance(c, dict) else None
            if not isinstance(c, dict) or "id" not in c:
                raise FormError(file, where, "needs an id", line)
            if c["id"] in seen:
                raise FormError(file, f"{where}.id", f"duplicate criterion id {c['id']!r}", line)
            seen.add(c["id"])
            weight = c.get("weight")
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
                raise FormError(file, f"{where}.weight", f"expected a positive number, got {weight!r}", line)
            if ("require" in c) == ("forbid" in c):
                raise FormError(file, where, "needs exactly one of 'require' or 'forbid'", line)
            criteria.append(Criterion(
                id=c["id"], title=c.get("title", c["id"]), weight=float(weight), section=section["id"],
                require=_check_match(file, f"{where}.require", c["require"], line) if "require" in c else None,
                forbid=_check_match(file, f"{where}.forbid", c["forbid"], line) if "forbid" in c else None,
            ))
    total = sum(c.weight for c in criteria)
    if abs(total - 100) > 1e-6:
        raise FormError(file, "sections", f"criterion weights sum to {total:g}, not 100", data.get("__line__"))

    def rules(key: str) -> tuple[Rule, ...]:
        out = []
        for i, r in enumerate(data.get(key) or []):
            where = f"{key}[{i}]"
            if not isinstance(r, dict) or "id" not in r:
                raise FormError(file, where, "needs an id", r.get("__line__") if isinstance(r, dict) else None)
            spec = r.get("match") or r.get("when")
            out.append(Rule(r["id"], r.get("title", r["id"]), _check_match(file, f"{where}.match", spec, r.get("__line__")),
                            float(r.get("points", 0))))
        return tuple(out)

    return Form(id=str(data["id"]), version=str(data["version"]), pass_mark=float(data.get("pass_mark", 80)),
                criteria=tuple(criteria), sections=tuple(sections), auto_fail=rules("auto_fail"),
                bonus=rules("bonus"), source=str(file))


def load_form(path: str | Path | None = None) -> Form:
    """The team's form at ``path``, or the packaged default."""
    file = Path(path) if path else DEFAULT_FORM
    if not file.exists():
        raise FormError(file, "<file>", "not found")
    return _load_form_cached(str(file.resolve()), file.stat().st_mtime)


def matches(finding: Finding, spec: dict[str, Any]) -> bool:
    if finding.kind != spec["kind"]:
        return False
    if "speaker" in spec and spec["speaker"] != "any" and finding.speaker != spec["speaker"]:
        return False
    if "categories" in spec and finding.details.get("category") not in spec["categories"]:
        return False
    if "rules" in spec and finding.rule_id not in spec["rules"] and finding.rule_id.split(".")[-1] not in spec["rules"]:
        return False
    if "step" in spec and finding.details.get("step") != spec["step"]:
        return False
    if "auto_fail" in spec and bool(finding.details.get("auto_fail")) != bool(spec["auto_fail"]):
        return False
    return True


def evidence(f: Finding) -> dict[str, Any]:
    return {"kind": f.kind, "rule_id": f.rule_id, "speaker": f.speaker, "start": f.start, "end": f.end,
            "text": f.evidence, "confidence": f.confidence}


def score_call(
    call: Call,
    transcript: Transcript,
    findings: list[Finding],
    form: Form,
    assist: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Score one call. ``assist``: criterion or rule ids shown but not scored."""
    live = [f for f in findings if f.rule_id not in assist and not f.details.get("assist")]
    breakdown: list[dict[str, Any]] = []
    earned = applicable = 0.0
    for c in form.criteria:
        row: dict[str, Any] = {"id": c.id, "section": c.section, "title": c.title, "weight": c.weight}
        if c.require:
            hits = [f for f in live if matches(f, c.require)]
            statuses = {f.details.get("status") for f in hits}
            if not hits or statuses <= {"na"}:
                row["status"] = "na"
            else:
                row["status"] = "fail" if "fail" in statuses else "pass"
        else:
            hits = [f for f in live if matches(f, c.forbid or {})]
            row["status"] = "fail" if hits else "pass"
        row["evidence"] = [evidence(f) for f in hits]
        row["assist"] = c.id in assist
        row["points"] = c.weight if row["status"] == "pass" else 0.0
        if row["status"] != "na" and not row["assist"]:
            applicable += c.weight
            earned += row["points"]
        breakdown.append(row)
    raw = 100.0 * earned / applicable if applicable else 100.0
    bonus = [{"id": b.id, "title": b.title, "points": b.points, "evidence": [evidence(f) for f in live if matches(f, b.match)]}
             for b in form.bonus if b.id not in assist and any(matches(f, b.match) for f in live)]
    raw = min(100.0, raw + sum(b["points"] for b in bonus))
    auto = [{"id": r.id, "title": r.title, "evidence": [evidence(f) for f in live if matches(f, r.match)]}
            for r in form.auto_fail if r.id not in assist and any(matches(f, r.match) for f in live)]
    total = 0.0 if auto else round(raw, 2)
    sections = []
    for sid, title in form.sections:
        rows = [r for r in breakdown if r["section"] == sid and r["status"] != "na" and not r["assist"]]
        weight = sum(r["weight"] for r in rows)
        sections.append({"id": sid, "title": title, "weight": weight,
                         "points": sum(r["points"] for r in rows),
                         "percent": round(100 * sum(r["points"] for r in rows) / weight, 1) if weight else None})
    return {
        "form_id": form.id,
        "form_version": form.version,
        "total": total,
        "raw_total": round(raw, 2),
        "passed": not auto and total >= form.pass_mark,
        "pass_mark": form.pass_mark,
        "auto_fail": bool(auto),
        "auto_fail_reasons": auto,
        "bonus": bonus,
        "sections": sections,
        "criteria": breakdown,
    }
