"""Who says a sentence, by its meaning: the agent or the caller. The evidence of what is said for a mono call's
roles (stages/diarize.py ``settle_roles`` weighs it with the voices' other cues).

The pack already holds what each party says, written by the QA lead as examples: the agent's ordinary talk
(``neutral_agent``), the script steps' examples and phrasings (greeting, verification, recap, closing…), and
the caller's ordinary talk (``neutral_caller``) and escalations. A logistic regression over their e5
embeddings (the vectors the intent classifier already ships, so nothing new is embedded at start-up) gives
each segment the log-odds that an agent said it. Banned remarks are left out: they are agent speech that
sounds like an angry caller, and would teach the model that anger is the agent's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_pipeline.base.e5 import embed
from qa_pipeline.contracts import Transcript
from qa_pipeline.stages.rules.intents import MIN_EXAMPLE_TOKENS, example_vectors
from qa_pipeline.stages.rules.matcher import normalize_tokens
from qa_pipeline.stages.rules.pack import RulePack

C = 10.0  # inverse regularisation, chosen on the dev half of evalsets/utterances (sentence accuracy 0.72 en, 0.71 zh)
MAX_LOG_ODDS = 4.0  # one sentence cannot outweigh a whole call: each segment's log-odds is clipped to this
_lock = threading.Lock()
_models: dict[tuple[str, ...], RoleModel] = {}


@dataclass
class RoleModel:
    model: Any  # sklearn LogisticRegression, classes [caller, agent]

    def log_odds(self, units: np.ndarray) -> np.ndarray:
        if not len(units):
            return np.zeros(0)
        return np.clip(self.model.decision_function(units), -MAX_LOG_ODDS, MAX_LOG_ODDS)


def role_examples(pack: RulePack) -> tuple[list[str], list[str]]:
    """(agent sentences, caller sentences) from the pack."""
    agent = [*pack.intents.neutral_agent]
    for step in pack.steps.values():
        agent += [*pack.intents.by_id.get(step.id, []), *step.examples.positive,
                  *(p for p in step.phrases if len(normalize_tokens(p)) >= MIN_EXAMPLE_TOKENS[pack.language])]
    caller = [*pack.intents.neutral_caller]
    for rule in pack.rules.values():
        if rule.kind == "escalation":
            caller += [*pack.intents.by_id.get(rule.id, []), *rule.examples.positive]
    return agent, caller


def role_model(pack: RulePack) -> RoleModel | None:
    """The pack's agent-or-caller classifier (cached per pack), or None when the pack has no examples of one side."""
    key = (pack.language, pack.version, *pack.files)
    with _lock:
        if key not in _models:
            agent, caller = role_examples(pack)
            if not agent or not caller:
                return None
            from sklearn.linear_model import LogisticRegression

            vectors = example_vectors(agent + caller, pack.files)
            labels = np.array([1] * len(agent) + [0] * len(caller))
            _models[key] = RoleModel(LogisticRegression(C=C, class_weight="balanced", max_iter=500)
                                     .fit(vectors, labels))
        return _models[key]


def said_by_agent(transcript: Transcript, pack: RulePack) -> list[float]:
    """Per segment of ``transcript``, the log-odds (clipped to +-MAX_LOG_ODDS) that an agent said it; 0 for a
    segment without text or where the pack cannot tell."""
    model = role_model(pack)
    texts = [s.text.strip() for s in transcript.segments]
    keep = [i for i, t in enumerate(texts) if t]
    out = [0.0] * len(texts)
    if model is None or not keep:
        return out
    for i, value in zip(keep, model.log_odds(embed([texts[i] for i in keep]))):
        out[i] = round(float(value), 3)
    return out
