"""Rule packs: the QA lead's YAML files of banned phrases, escalation phrases and script steps.


A pack is data. Defaults for each language ship in ``qa_pipeline/defaults/rules/<lang>/*.yaml``; a team's own
files are loaded after them and override entries with the same id (or switch them off with
``disabled: true``). Every file carries a ``version``; the pack's version joins them, and every
finding carries it so a result can be reproduced.

A broken file fails with its path, the line and the field (the YAML loader below records the
line of every mapping key and list item), before a night's batch starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa_pipeline.config.yamlfile import Reader, load_yaml
from qa_pipeline.errors import RulePackError

DEFAULTS_DIR = Path(__file__).resolve().parents[2] / "defaults" / "rules"
RULE_KINDS = ("banned_phrase", "escalation")
SEVERITIES = ("minor", "major", "critical")
SPEAKERS = ("agent", "caller", "any")
TIERS = ("exact", "regex", "fuzzy", "semantic")  # each tier also runs the ones before it
TIER_RANK = {t: i for i, t in enumerate(TIERS)}
ANCHORS = ("start", "end")
# Fuzzy similarity (rapidfuzz ratio of the spelled-out sounds: pinyin syllables or English words) that a
# near match needs, unless a rule sets its own.
DEFAULT_THRESHOLD = {"zh": 0.85, "en": 0.85}
# Script steps give credit rather than blame (a false pass hides a coaching point, a false fail penalises an
# agent who did the step), so their phrasings tolerate one more garbled syllable: a 6-syllable phrasing
# with one syllable misheard (跟您确认一下 heard 跟凌晨凌一下, 感谢您的来电 heard 满天灵的来便) scores 0.82.
# Only phrasings of 5+ tokens use it (phrases.STEP_LOOSE_MIN_TOKENS); shorter ones keep 0.85.
DEFAULT_STEP_THRESHOLD = {"zh": 0.8, "en": 0.8}


# ---------------------------------------------------------------- the pack
@dataclass
class Examples:
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


@dataclass
class Rule:
    """A banned phrase or an escalation phrase."""

    id: str
    kind: str  # banned_phrase | escalation
    category: str
    severity: str = "major"
    speaker: str = "agent"  # agent | caller | any
    auto_fail: bool = False
    tier: str = "fuzzy"  # exact | regex | fuzzy (semantic is for script steps)
    phrases: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)  # regexes over normalised text
    exceptions: list[str] = field(default_factory=list)  # phrases that make a nearby match allowed
    exception_window: int = 8  # tokens (characters in Mandarin, words in English) around a match
    # The phrase counts only where it ends its clause: "I don't know." refuses, "I don't know who named this
    # dog" says what the speaker does not know (a fact). Words of no content (这个, 啊, sir) may follow.
    standalone: bool = False
    threshold: float = 0.0  # fuzzy: minimum similarity 0..1; 0 = the language default
    description: str = ""
    examples: Examples = field(default_factory=Examples)
    version: str = ""
    source: str = ""  # file:line, for messages


@dataclass
class Window:
    anchor: str  # start | end: from the first / to the last speech of the call
    seconds: float


@dataclass
class Step:
    """A required script step. Passes when every part matches, or when one whole phrasing matches."""

    id: str
    description: str = ""
    speaker: str = "agent"
    tier: str = "fuzzy"
    phrases: list[str] = field(default_factory=list)  # whole phrasings (the semantic tier compares these)
    parts: dict[str, list[str]] = field(default_factory=dict)  # all parts must occur (e.g. greeting + name)
    window: Window | None = None
    when: str | None = None  # cue id: the step applies only after the caller said one of its phrases
    ordered: bool = True  # takes part in the order check
    severity: str = "major"
    auto_fail: bool = False
    threshold: float = 0.0  # fuzzy similarity; 0 = the language default
    must_say: list[str] = field(default_factory=list)  # words that must be heard near the step's evidence
    restates: bool = False  # the step restates what was said before it (a recap)
    restate_min: float = 0.15  # ... this share of its content at least
    confirmations: list[str] = field(default_factory=list)  # endings of a confirmation question (…对吗, …right)
    examples: Examples = field(default_factory=Examples)
    version: str = ""
    source: str = ""


@dataclass
class Cue:
    """Phrases that trigger a conditional step (e.g. a caller's complaint triggers empathy)."""

    id: str
    speaker: str = "caller"
    tier: str = "fuzzy"
    phrases: list[str] = field(default_factory=list)
    include_escalations: bool = True  # any escalation finding of the speaker also triggers
    threshold: float = 0.0
    version: str = ""
    source: str = ""


@dataclass
class Intents:
    """What the rules and steps mean, as example sentences: the semantic tier classifies each sentence by
    its nearest examples (stages/rules/intents.py). A QA lead teaches the pack by adding sentences here, not
    regexes. ``by_id``: examples per rule id (banned and escalation) and per step id; ``neutral_*``:
    ordinary talk of that speaker that must not be given any of them (look-alikes first)."""

    by_id: dict[str, list[str]] = field(default_factory=dict)
    neutral_agent: list[str] = field(default_factory=list)
    neutral_caller: list[str] = field(default_factory=list)
    step_near_misses: list[str] = field(default_factory=list)
    threshold: float = 0.0  # cosine similarity (mean of the k nearest) a sentence needs; 0: INTENT_DEFAULTS
    margin: float = 0.0  # ... and by how much it must beat the nearest other class, neutral included
    version: str = ""


# Measured on the dev half of evalsets/utterances (docs/evaluation.md); a pack may set its own.
INTENT_DEFAULTS = {"threshold": 0.5, "margin": 0.05}


@dataclass
class RulePack:
    language: str
    version: str
    rules: dict[str, Rule] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    cues: dict[str, Cue] = field(default_factory=dict)
    call_types: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    intents: Intents = field(default_factory=lambda: Intents())

    def steps_for(self, call_type: str | None) -> list[Step]:
        """The ordered steps of a call type; unknown types get ``default``."""
        ids = self.call_types.get(call_type or "default") or self.call_types.get("default") or list(self.steps)
        return [self.steps[i] for i in ids if i in self.steps]


# ---------------------------------------------------------------- validation
def _reader(path: Path, data: Any, where: str, line: int | None = None) -> Reader:
    return Reader(path, data, where, line, RulePackError)


def _examples(r: Reader) -> Examples:
    data = r.get("examples", dict, None)
    if data is None:
        return Examples()
    er = _reader(r.path, data, f"{r.where}.examples")
    ex = Examples(er.strings("positive"), er.strings("negative"))
    er.finish()
    return ex


def _rule(path: Path, data: Any, where: str, version: str) -> Rule:
    r = _reader(path, data, where)
    rule = Rule(
        id=r.get("id", str, required=True),
        kind=r.choice("kind", RULE_KINDS, "banned_phrase"),
        category=r.get("category", str, required=True),
        severity=r.choice("severity", SEVERITIES, "major"),
        speaker=r.choice("speaker", SPEAKERS, "agent"),
        auto_fail=r.get("auto_fail", bool, False),
        tier=r.choice("tier", TIERS[:3], "fuzzy"),
        phrases=r.strings("phrases"),
        patterns=r.strings("patterns"),
        exceptions=r.strings("exceptions"),
        exception_window=r.get("exception_window", int, 8),
        standalone=r.get("standalone", bool, False),
        threshold=r.unit("threshold", 0.0),
        description=r.get("description", str, ""),
        examples=_examples(r),
        version=version,
        source=r.source(),
    )
    if not rule.phrases and not rule.patterns:
        raise RulePackError(path, r.line, f"{where}.phrases", "a rule needs phrases or patterns")
    for i, pattern in enumerate(rule.patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            lines = getattr(r.data["patterns"], "lines", [])
            raise RulePackError(path, lines[i] if i < len(lines) else r.line_of("patterns"),
                                f"{where}.patterns[{i}]", f"invalid regex: {exc}") from None
    if rule.patterns and rule.tier == "exact":
        raise r.error("tier", "a rule with patterns needs tier regex or fuzzy")
    r.finish()
    return rule


def _step(path: Path, data: Any, where: str, version: str) -> Step:
    r = _reader(path, data, where)
    window = None
    wdata = r.get("window", dict, None)
    if wdata is not None:
        wr = _reader(path, wdata, f"{where}.window")
        window = Window(wr.choice("anchor", ANCHORS, "start"), wr.get("seconds", float, required=True))
        if window.seconds <= 0:
            raise wr.error("seconds", "must be > 0")
        wr.finish()
    parts: dict[str, list[str]] = {}
    pdata = r.get("parts", dict, {})
    if pdata:
        pr = _reader(path, pdata, f"{where}.parts")
        for name in list(pdata):
            parts[str(name)] = pr.strings(str(name))
            if not parts[str(name)]:
                raise pr.error(str(name), "a part needs at least one phrase")
        pr.finish()
    step = Step(
        id=r.get("id", str, required=True),
        description=r.get("description", str, ""),
        speaker=r.choice("speaker", SPEAKERS, "agent"),
        tier=r.choice("tier", TIERS, "fuzzy"),
        phrases=r.strings("phrases"),
        parts=parts,
        window=window,
        when=r.get("when", str, None),
        ordered=r.get("ordered", bool, True),
        severity=r.choice("severity", SEVERITIES, "major"),
        auto_fail=r.get("auto_fail", bool, False),
        threshold=r.unit("threshold", 0.0),
        must_say=r.strings("must_say"),
        restates=r.get("restates", bool, False),
        restate_min=r.unit("restate_min", 0.15),
        confirmations=r.strings("confirmations"),
        examples=_examples(r),
        version=version,
        source=r.source(),
    )
    if not step.phrases and not step.parts:
        raise RulePackError(path, r.line, f"{where}.phrases", "a step needs phrases or parts")
    r.finish()
    return step


def _cue(path: Path, data: Any, where: str, version: str) -> Cue:
    r = _reader(path, data, where)
    cue = Cue(
        id=r.get("id", str, required=True),
        speaker=r.choice("speaker", SPEAKERS, "caller"),
        tier=r.choice("tier", TIERS[:3], "fuzzy"),
        phrases=r.strings("phrases"),
        include_escalations=r.get("include_escalations", bool, True),
        threshold=r.unit("threshold", 0.0),
        version=version,
        source=r.source(),
    )
    r.finish()
    return cue


def _intents(r: Reader, version: str) -> Intents:
    intents = Intents(version=version)
    for key in ("rules", "steps"):
        group = r.get(key, dict, {})
        if group:
            gr = _reader(r.path, group, f"intents.{key}")
            for item_id in list(group):
                intents.by_id[str(item_id)] = gr.strings(str(item_id))
            gr.finish()
    intents.neutral_agent = r.strings("neutral_agent")
    intents.neutral_caller = r.strings("neutral_caller")
    intents.step_near_misses = r.strings("step_near_misses")
    intents.threshold = r.unit("threshold", 0.0)
    intents.margin = r.get("margin", float, 0.0)
    r.finish()
    return intents


def read_pack_file(path: Path) -> dict[str, Any]:
    """Parse and validate one pack file; returns its parts (not yet merged)."""
    data = load_yaml(path, RulePackError)
    top = _reader(path, data, "")
    top.where = ""
    version = str(top.get("version", (str, int, float), required=True))
    language = top.get("language", str, None)
    out: dict[str, Any] = {"version": version, "language": language, "rules": [], "steps": [], "cues": [],
                           "call_types": {}, "disabled": []}
    for key, builder in (("rules", _rule), ("steps", _step), ("cues", _cue)):
        items = top.get(key, list, [])
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("disabled") is True and set(item) <= {"id", "disabled"}:
                out["disabled"].append((key, str(item.get("id"))))
                continue
            obj = builder(path, item, f"{key}[{i}]", version)
            if obj.id in seen:
                raise RulePackError(path, getattr(item, "line", None), f"{key}[{i}].id",
                                    f"duplicate id {obj.id!r} (first at line {seen[obj.id]})")
            seen[obj.id] = getattr(item, "line", 0)
            out[key].append(obj)
    data_intents = top.get("intents", dict, None)
    if data_intents is not None:
        out["intents"] = _intents(_reader(path, data_intents, "intents"), version)
    types = top.get("call_types", dict, {})
    if types:
        tr = _reader(path, types, "call_types")
        for name in list(types):
            out["call_types"][str(name)] = tr.strings(str(name))
        tr.finish()
    top.finish()
    return out


def pack_files(paths: list[Path] | None, language: str) -> list[Path]:
    files = sorted((DEFAULTS_DIR / language).glob("*.yaml"))
    for p in paths or []:
        p = Path(p)
        if p.is_dir():
            found = sorted(p.glob("*.yaml")) + sorted((p / language).glob("*.yaml"))
            if not found:
                raise RulePackError(p, None, "<dir>", "no *.yaml rule files in this folder")
            files += found
        else:
            files.append(p)
    return list(dict.fromkeys(f.resolve() for f in files))  # the packaged folder given again is read once


def load_rule_pack(paths: list[Path] | None = None, language: str = "zh") -> RulePack:
    """The package defaults for ``language``, then each of ``paths`` (files or folders) on top.

    Entries with the same id replace earlier ones; ``{id: X, disabled: true}`` removes X;
    ``call_types`` entries replace the type's step list. Files whose ``language`` differs are skipped.
    The pack is read once per process and file state (path, size, mtime): every call of a night's
    batch shares it (parsing the YAML was 0.2 s a call), and an edited file is read again. Treat the
    returned pack as read-only; copy it to change it.
    """
    language = language if language in ("zh", "en") else "zh"
    files = pack_files(paths, language)
    state = []
    for path in files:
        try:
            st = Path(path).stat()
        except OSError:
            state.append((str(path), -1, -1))  # read_pack_file reports the missing file
        else:
            state.append((str(path), st.st_size, st.st_mtime_ns))
    return _load_rule_pack(tuple(state), language)


@lru_cache(maxsize=32)
def _load_rule_pack(state: tuple[tuple[str, int, int], ...], language: str) -> RulePack:
    files = [Path(p) for p, _, _ in state]
    pack = RulePack(language=language, version="")
    versions: list[str] = []
    for path in files:
        part = read_pack_file(path)
        if part["language"] not in (None, language):
            continue
        pack.files.append(str(path))
        versions.append(f"{path.stem}@{part['version']}")
        for key, item_id in part["disabled"]:
            getattr(pack, key).pop(item_id, None)
            pack.intents.by_id.pop(item_id, None)  # a rule switched off takes its examples with it
        for rule in part["rules"]:
            pack.rules[rule.id] = rule
        for step in part["steps"]:
            pack.steps[step.id] = step
        for cue in part["cues"]:
            pack.cues[cue.id] = cue
        pack.call_types.update(part["call_types"])
        if "intents" in part:
            new = part["intents"]
            pack.intents.by_id.update(new.by_id)
            for name in ("neutral_agent", "neutral_caller", "step_near_misses"):
                setattr(pack.intents, name, [*getattr(pack.intents, name), *getattr(new, name)])
            pack.intents.threshold = new.threshold or pack.intents.threshold
            pack.intents.margin = new.margin or pack.intents.margin
    pack.version = "+".join(versions) or "empty"
    for item in [*pack.rules.values(), *pack.cues.values()]:
        item.threshold = item.threshold or DEFAULT_THRESHOLD[language]
    for step in pack.steps.values():
        step.threshold = step.threshold or DEFAULT_STEP_THRESHOLD[language]
    pack.intents.threshold = pack.intents.threshold or INTENT_DEFAULTS["threshold"]
    pack.intents.margin = pack.intents.margin or INTENT_DEFAULTS["margin"]
    _check_references(pack)
    return pack


def _check_references(pack: RulePack) -> None:
    for name, ids in pack.call_types.items():
        for step_id in ids:
            if step_id not in pack.steps:
                raise RulePackError(pack.files[-1] if pack.files else "<pack>", None, f"call_types.{name}",
                                    f"unknown step {step_id!r}; known: {', '.join(sorted(pack.steps))}")
    for step in pack.steps.values():
        if step.when and step.when not in pack.cues:
            path, _, line = step.source.rpartition(":")
            raise RulePackError(path, int(line) if line.isdigit() else None, f"steps.{step.id}.when",
                                f"unknown cue {step.when!r}; known: {', '.join(sorted(pack.cues))}")
    known = {*pack.rules, *pack.steps}
    for item_id in pack.intents.by_id:
        if item_id not in known:
            raise RulePackError(pack.files[-1] if pack.files else "<pack>", None, f"intents.{item_id}",
                                "no rule or step has this id")
