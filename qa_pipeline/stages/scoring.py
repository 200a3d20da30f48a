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

from qa_pipeline.config.yamlfile import Reader, fail, load_yaml
from qa_pipeline.contracts import Call, CriterionScore, Evidence, Finding, RuleHit, Score, SectionScore, Transcript
from qa_pipeline.errors import FormError

DEFAULT_FORM = Path(__file__).resolve().parents[1] / "defaults" / "forms" / "default.yaml"


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


_MATCH_KEYS = ("kind", "speaker", "categories", "rules", "step", "auto_fail")


def _match(parent: Reader, key: str) -> dict[str, Any]:
    """A finding filter (``require``, ``forbid``, ``match``): known keys only, ``kind`` required."""
    r = Reader(parent.path, parent.get(key, dict, required=True), parent.field(key), parent.line_of(key), FormError)
    spec: dict[str, Any] = {"kind": r.get("kind", str, required=True)}
    for name in ("speaker", "step"):
        if name in r.data:
            spec[name] = r.get(name, str)
    for name in ("categories", "rules"):
        if name in r.data:
            spec[name] = r.strings(name)
    if "auto_fail" in r.data:
        spec["auto_fail"] = r.get("auto_fail", bool)
    r.finish()
    return spec


def _rules(top: Reader, key: str) -> tuple[Rule, ...]:
    out = []
    items = top.get(key, list, [])
    for i, item in enumerate(items):
        r = Reader(top.path, item, f"{key}[{i}]", top.line_of(key), FormError)
        when = "when" if "when" in r.data and "match" not in r.data else "match"
        out.append(Rule(r.get("id", str, required=True), r.get("title", str, "") or str(r.data.get("id")),
                        _match(r, when), r.get("points", float, 0.0)))
        r.finish()
    return tuple(out)


@lru_cache(maxsize=16)
def _load_form_cached(path: str, mtime: float) -> Form:
    file = Path(path)
    top = Reader(file, load_yaml(file, FormError), "", None, FormError)
    form_id, version = str(top.get("id", (str, int), required=True)), str(top.get("version", (str, int, float), required=True))
    pass_mark = top.get("pass_mark", float, 80.0)
    if not 0 <= pass_mark <= 100:
        raise top.error("pass_mark", f"must be within 0..100, got {pass_mark}")
    top.get("title", str, "")
    top.get("description", str, "")
    criteria: list[Criterion] = []
    sections: list[tuple[str, str]] = []
    seen: set[str] = set()
    for s_i, item in enumerate(top.get("sections", list, required=True)):
        s = Reader(file, item, f"sections[{s_i}]", top.line_of("sections"), FormError)
        section_id = s.get("id", str, required=True)
        sections.append((section_id, s.get("title", str, "") or section_id))
        for c_i, citem in enumerate(s.get("criteria", list, required=True)):
            c = Reader(file, citem, f"{s.field('criteria')}[{c_i}]", s.line_of("criteria"), FormError)
            cid = c.get("id", str, required=True)
            if cid in seen:
                raise c.error("id", f"duplicate criterion id {cid!r}")
            seen.add(cid)
            weight = c.get("weight", float, required=True)
            if weight <= 0:
                raise c.error("weight", f"expected a positive number, got {weight!r}")
            if ("require" in c.data) == ("forbid" in c.data):
                raise fail(FormError, file, c.where, "needs exactly one of 'require' or 'forbid'", c.line)
            criteria.append(Criterion(
                id=cid, title=c.get("title", str, "") or cid, weight=weight, section=section_id,
                require=_match(c, "require") if "require" in c.data else None,
                forbid=_match(c, "forbid") if "forbid" in c.data else None,
            ))
            c.finish()
        s.finish()
    total = sum(c.weight for c in criteria)
    if abs(total - 100) > 1e-6:
        raise top.error("sections", f"criterion weights sum to {total:g}, not 100")
    form = Form(id=form_id, version=version, pass_mark=pass_mark, criteria=tuple(criteria), sections=tuple(sections),
                auto_fail=_rules(top, "auto_fail"), bonus=_rules(top, "bonus"), source=str(file))
    top.finish()
    return form


def load_form(path: str | Path | None = None) -> Form:
    """The team's form at ``path``, or the packaged default."""
    file = Path(path) if path else DEFAULT_FORM
    if not file.is_file():
        raise FormError(file, "<file>", "not found" if not file.exists() else "not a file")
    return _load_form_cached(str(file.resolve()), file.stat().st_mtime)


def matches(finding: Finding, spec: dict[str, Any]) -> bool:
    if finding.kind != spec["kind"]:
        return False
    if "speaker" in spec and spec["speaker"] != "any" and finding.speaker != spec["speaker"]:
        return False
    if "categories" in spec and finding.category not in spec["categories"]:
        return False
    if "rules" in spec and finding.rule_id not in spec["rules"] and finding.rule_id.split(".")[-1] not in spec["rules"]:
        return False
    if "step" in spec and getattr(finding.details, "step", None) != spec["step"]:
        return False
    if "auto_fail" in spec and finding.auto_fail != bool(spec["auto_fail"]):
        return False
    return True


def evidence(f: Finding) -> Evidence:
    return Evidence(kind=f.kind, rule_id=f.rule_id, speaker=f.speaker, start=f.start, end=f.end, text=f.evidence,
                    confidence=f.confidence)


def score_call(
    call: Call,
    transcript: Transcript,
    findings: list[Finding],
    form: Form,
    assist: set[str] | frozenset[str] = frozenset(),
) -> Score:
    """Score one call. ``assist``: criterion or rule ids shown but not scored."""
    live = [f for f in findings if f.rule_id not in assist and not f.details.assist]
    breakdown: list[CriterionScore] = []
    earned = applicable = 0.0
    for c in form.criteria:
        if c.require:
            hits = [f for f in live if matches(f, c.require)]
            statuses = {f.status for f in hits}
            status = "na" if not hits or statuses <= {"na"} else "fail" if "fail" in statuses else "pass"
        else:
            hits = [f for f in live if matches(f, c.forbid or {})]
            status = "fail" if hits else "pass"
        row = CriterionScore(id=c.id, section=c.section, title=c.title, weight=c.weight, status=status,
                             points=c.weight if status == "pass" else 0.0, assist=c.id in assist,
                             evidence=[evidence(f) for f in hits])
        if row.status != "na" and not row.assist:
            applicable += c.weight
            earned += row.points
        breakdown.append(row)
    raw = 100.0 * earned / applicable if applicable else 100.0
    bonus = [RuleHit(b.id, b.title, b.points, [evidence(f) for f in live if matches(f, b.match)])
             for b in form.bonus if b.id not in assist and any(matches(f, b.match) for f in live)]
    raw = min(100.0, raw + sum(b.points for b in bonus))
    auto = [RuleHit(r.id, r.title, 0.0, [evidence(f) for f in live if matches(f, r.match)])
            for r in form.auto_fail if r.id not in assist and any(matches(f, r.match) for f in live)]
    total = 0.0 if auto else round(raw, 2)
    sections = []
    for sid, title in form.sections:
        rows = [r for r in breakdown if r.section == sid and r.status != "na" and not r.assist]
        weight = sum(r.weight for r in rows)
        points = sum(r.points for r in rows)
        sections.append(SectionScore(sid, title, weight, points, round(100 * points / weight, 1) if weight else None))
    return Score(form_id=form.id, form_version=form.version, total=total, raw_total=round(raw, 2),
                 passed=not auto and total >= form.pass_mark, pass_mark=form.pass_mark, auto_fail=bool(auto),
                 auto_fail_reasons=auto, bonus=bonus, sections=sections, criteria=breakdown)
