"""The semantic tier: each sentence classified by meaning against the pack's example sentences.

A speaker's sentences and the pack's examples are embedded with multilingual-e5-small (base/e5.py), and a
logistic regression trained on the examples gives each sentence a probability per class; the sentence takes
its most probable class when that probability reaches the pack's ``threshold`` and beats every other class,
the neutral one included, by the pack's ``margin``. The classes of the agent are the banned rules and the script
steps that have examples, plus ``neutral`` (ordinary agent talk and look-alikes, and the steps' near misses);
the caller's are the escalation rules plus the caller's neutral talk. One sentence gets one class, so a
compliant sentence that resembles a banned one is claimed by the neutral examples a QA lead wrote for it.

Ordinary talk is most of what is said, and a classifier that knows only service talk and banned remarks puts
any sentence unlike both (a question about the weather, a sigh, a sentence from the news) in whichever class it
lies nearest (on everyday Tatoeba sentences, one in three). So a sentence is only called a banned remark when it
is nearer to that remark's examples than to ordinary talk (``nearer_than_ordinary``): the pack's neutral
examples and everyday sentences from outside the call centre (``background.npz`` beside the packaged pack,
written by scripts/embed_background.py). The script steps are not checked so: they give credit, not blame.
(Training the classifier on the everyday sentences as well was tried: it cost the steps recall for no gain.)

Embedding the examples costs ~25 ms a sentence, so the packaged packs ship them (``intents.npz`` beside the
YAML, written by scripts/embed_intents.py) and any other example is embedded once and kept in the cache dir.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa_pipeline.base.e5 import MODEL_ID, embed
from qa_pipeline.contracts import Transcript
from qa_pipeline.stages.rules.matcher import BOUNDARY, Stream, normalize_tokens, sentences
from qa_pipeline.stages.rules.pack import DEFAULTS_DIR, RulePack

NEUTRAL = "neutral"
SAME_AS_EXAMPLE = 0.97  # cosine similarity at which a sentence is taken to be one of the examples
C = 30.0  # inverse regularisation of the classifier, chosen on the dev half of evalsets/utterances
MIN_EXAMPLE_TOKENS = {"zh": 8, "en": 5}  # characters / words of a step phrasing that counts as an example
# Chosen on the dev halves of evalsets/utterances against the dev part of Tatoeba (eval/corpora.py):
KNN = 3  # nearest sentences averaged on each side when a banned class is checked against ordinary talk
# An everyday sentence this similar to a banned example is that remark said outside a call ("There's nothing
# I can do about it."): it is left out of ordinary talk, or the remark would never be found by its meaning.
SAYS_A_REMARK = 0.93
_lock = threading.Lock()
_indexes: dict[tuple[str, ...], IntentIndex] = {}


@dataclass(frozen=True)
class IntentHit:
    label: str  # a rule id, a step id or "neutral"
    score: float  # the classifier's probability of the label
    margin: float  # score minus the runner-up class's
    nearest: str  # the label's nearest example


@dataclass
class IntentIndex:
    """A multinomial logistic regression over the examples' embeddings (balanced classes, as the neutral
    class holds more examples than any other); a sentence's hit is its most probable class."""

    labels: list[str]  # per example
    texts: list[str]
    vectors: np.ndarray  # (examples, 384), L2-normalised
    background: np.ndarray | None = None  # (sentences, 384): everyday sentences, ordinary talk with the neutral ones
    guarded: frozenset[str] = frozenset()  # classes that must be nearer to their examples than to ordinary talk
    model: LinearClassifier | None = None

    def __post_init__(self) -> None:
        if len(set(self.labels)) >= 2:
            self.model = fitted_classifier(self.vectors, self.labels)
        labels = np.array(self.labels)
        ordinary = [self.vectors[labels == NEUTRAL]]
        if self.background is not None and len(self.background):
            remarks = self.vectors[np.isin(labels, list(self.guarded))]
            near = (self.background @ remarks.T).max(axis=1) if len(remarks) else np.zeros(len(self.background))
            ordinary.append(self.background[near < SAYS_A_REMARK])
        self._ordinary = np.vstack(ordinary)

    def nearer_than_ordinary(self, unit: np.ndarray, sims: np.ndarray, label: str) -> bool:
        """Whether a sentence lies nearer to ``label``'s examples than to ordinary talk (mean of the KNN most
        similar on each side)."""
        own = np.sort(sims[np.array(self.labels) == label])[-KNN:].mean()
        ordinary = np.sort(self._ordinary @ unit)[-KNN:].mean()
        return bool(own >= ordinary)

    def classify(self, units: np.ndarray, guard: bool = True) -> list[IntentHit]:
        """The most probable class of each embedded sentence, with its margin over the runner-up. ``guard``:
        a banned class that is not nearer to its examples than to ordinary talk becomes neutral."""
        if not len(units) or self.model is None:
            return []
        probs = self.model.predict_proba(units)
        classes = list(self.model.classes_)
        labels = np.array(self.labels)
        out = []
        sims = units @ self.vectors.T
        for unit, row, sim in zip(units, probs, sims):
            closest = int(np.argmax(sim))
            if sim[closest] >= SAME_AS_EXAMPLE:
                # A sentence said as an example is said: the QA lead's example decides, not the model's fit.
                out.append(IntentHit(self.labels[closest], 1.0, 1.0, self.texts[closest]))
                continue
            order = np.argsort(row)[::-1]
            best = classes[order[0]]
            mine = np.flatnonzero(labels == best)
            nearest = mine[int(np.argmax(sim[mine]))]
            hit = IntentHit(best, round(float(row[order[0]]), 4), round(float(row[order[0]] - row[order[1]]), 4),
                            self.texts[nearest])
            if guard and best in self.guarded and not self.nearer_than_ordinary(unit, sim, best):
                hit = IntentHit(NEUTRAL, hit.score, 0.0, hit.nearest)  # (the score says what it resembled)
            out.append(hit)
        return out


def agent_index(pack: RulePack) -> IntentIndex:
    """Banned rules and script steps with examples, against the agent's neutral talk. A rule's or a step's
    own positive examples (its tests in the pack) teach its class too, and its negative ones the neutral class."""
    labels, texts = [], []
    neutral = [*pack.intents.neutral_agent, *pack.intents.step_near_misses]
    for rule in pack.rules.values():
        if rule.kind == "banned_phrase" and rule.speaker in ("agent", "any"):
            examples = [*pack.intents.by_id.get(rule.id, []), *rule.examples.positive]
            labels += [rule.id] * len(examples)
            texts += examples
            neutral += rule.examples.negative
    for step in pack.steps.values():
        # A step's whole phrasings are examples too (fragments such as 我已经帮您 embed close to anything).
        examples = [*pack.intents.by_id.get(step.id, []), *step.examples.positive,
                    *(p for p in step.phrases if len(normalize_tokens(p)) >= MIN_EXAMPLE_TOKENS[pack.language])]
        labels += [step.id] * len(examples)
        texts += examples
        neutral += step.examples.negative
    banned = frozenset(r.id for r in pack.rules.values() if r.kind == "banned_phrase")
    return _index(pack, "agent", labels + [NEUTRAL] * len(neutral), texts + neutral, background(pack.language), banned)


def caller_index(pack: RulePack) -> IntentIndex:
    """Escalation rules with examples, against the caller's neutral talk (and the rules' negative examples)."""
    labels, texts = [], []
    neutral = list(pack.intents.neutral_caller)
    for rule in pack.rules.values():
        if rule.kind == "escalation":
            examples = [*pack.intents.by_id.get(rule.id, []), *rule.examples.positive]
            labels += [rule.id] * len(examples)
            texts += examples
            neutral += rule.examples.negative
    return _index(pack, "caller", labels + [NEUTRAL] * len(neutral), texts + neutral)


def _index(pack: RulePack, role: str, labels: list[str], texts: list[str], ordinary: np.ndarray | None = None,
           guarded: frozenset[str] = frozenset()) -> IntentIndex:
    key = (pack.language, pack.version, role, *pack.files)
    with _lock:
        if key not in _indexes:
            _indexes[key] = IntentIndex(labels, texts, example_vectors(texts, pack.files), ordinary, guarded)
        return _indexes[key]


@functools.lru_cache(maxsize=4)
def background(language: str) -> np.ndarray | None:
    """The packaged ordinary sentences of ``language`` (int8 embeddings, scale 127), or None. Read once."""
    path = DEFAULTS_DIR / language / "background.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        return data["vectors"].astype(np.float32) / 127.0


@dataclass(frozen=True)
class LinearClassifier:
    """A fitted logistic regression as its weights: what sklearn's predict_proba computes, without sklearn."""

    classes_: np.ndarray
    coef: np.ndarray  # (classes, 384), or (1, 384) for two classes
    intercept: np.ndarray

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        scores = x @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:  # two classes: sklearn's binary form, a sigmoid for the second
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)


# The packaged packs' classifiers ship fitted (scripts/embed_intents.py): a fresh machine, an air-gapped one and
# every test session start without the fit.
PACKAGED_MODELS = DEFAULTS_DIR / "intent_models"


def classifier_digest(vectors: np.ndarray, labels: list[str]) -> str:
    """What a fitted classifier is the classifier of: the embedding model, C, the labels and the vectors."""
    return hashlib.sha1(f"{MODEL_ID}\x00{C}\x00".encode() + "\x1f".join(labels).encode()
                        + np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()


def fitted_classifier(vectors: np.ndarray, labels: list[str]) -> LinearClassifier:
    """The classifier of these examples: packaged, or from the cache dir when these exact examples were fitted
    before (a fit costs seconds at every start-up, and sklearn's import as much again), else fitted and cached."""
    digest = classifier_digest(vectors, labels)
    path = _cache_file().parent / "intent_models" / f"{digest}.npz"
    for known in (PACKAGED_MODELS / f"{digest}.npz", path):
        try:
            with np.load(known, allow_pickle=False) as data:
                return LinearClassifier(data["classes"], data["coef"], data["intercept"])
        except (OSError, ValueError, KeyError):
            pass  # not fitted yet (or a damaged file): fit again
    from sklearn.linear_model import LogisticRegression

    # newton-cg: converges in ~10 iterations here, where lbfgs takes ~90 and ten times as long.
    model = LogisticRegression(C=C, solver="newton-cg", max_iter=300, class_weight="balanced").fit(vectors, labels)
    out = LinearClassifier(model.classes_.astype(str), model.coef_.astype(np.float64),
                           model.intercept_.astype(np.float64))
    try:
        save_classifier(out, path)
    except OSError:
        pass  # a read-only cache only costs the fit again next time
    return out


def save_classifier(model: LinearClassifier, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, classes=model.classes_, coef=model.coef, intercept=model.intercept)
    os.replace(tmp, path)


def text_key(text: str) -> str:
    return hashlib.sha1(f"{MODEL_ID}\x00{text}".encode()).hexdigest()


def example_vectors(texts: list[str], pack_files: list[str]) -> np.ndarray:
    """Embeddings of the examples: from the ``intents.npz`` files beside the pack files, else the disk cache,
    else computed (and cached)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    known: dict[str, np.ndarray] = {}
    for folder in dict.fromkeys(Path(f).parent for f in pack_files):
        known.update(_read_npz(folder / "intents.npz"))
    cache = _cache_file()
    known.update(_read_npz(cache))
    missing = [t for t in dict.fromkeys(texts) if text_key(t) not in known]
    if missing:
        for text, vec in zip(missing, embed(missing)):
            known[text_key(text)] = vec
        _write_cache(cache, {text_key(t): known[text_key(t)] for t in missing})
    return np.stack([known[text_key(t)] for t in texts]).astype(np.float32)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip((str(k) for k in data["keys"]), data["vectors"]))
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is rebuilt; the packaged file is checked by a test


def write_npz(path: Path, vectors: dict[str, np.ndarray]) -> None:
    keys = sorted(vectors)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, keys=np.array(keys), vectors=np.stack([vectors[k] for k in keys]).astype(np.float32))
    os.replace(tmp, path)


def _cache_file() -> Path:
    root = Path(os.environ.get("QA_CACHE_DIR") or Path.home() / ".cache" / "qa_pipeline")
    return root / "intent_examples.npz"


def _write_cache(path: Path, new: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(path, {**_read_npz(path), **new})
    except OSError:
        pass  # a read-only cache only costs the embedding again next time


@dataclass(frozen=True)
class Sentence:
    start: int  # token span in its stream
    end: int
    text: str
    hit: IntentHit


def classify_stream(stream: Stream, index: IntentIndex, segment_texts: dict[tuple[float, float], str]) -> list[Sentence]:
    """Every sentence of one speaker's stream with its best class. A sentence that is a whole segment is
    embedded as the segment's text, the very string text sentiment embeds, so the call pays once."""
    spans = sentences(stream)
    texts = [segment_texts.get((round(stream.tokens[a].start, 2), round(stream.tokens[b - 1].end, 2)))
             or stream.display(a, b) for a, b in spans]
    keep = [i for i, text in enumerate(texts) if text.strip()]
    hits = index.classify(embed([texts[i] for i in keep])) if keep else []
    return [Sentence(spans[i][0], spans[i][1], texts[i], hit) for i, hit in zip(keep, hits)]


@dataclass
class CallIntents:
    """The sentences of a call classified once, read by the banned rules, escalation and the script steps."""

    agent: dict[str, list[Sentence]]  # stream speaker -> sentences, classified with the agent's classes
    caller: dict[str, list[Sentence]]
    threshold: float
    margin: float
    streams: dict[str, Stream] = field(default_factory=dict)
    agent_index: IntentIndex | None = None
    blame: frozenset[str] = frozenset()  # the agent's classes that accuse (banned rules)
    _turns: dict[tuple[str, int, int], IntentHit | None] = field(default_factory=dict)

    def hits(self, label: str, role: str) -> list[tuple[str, Sentence]]:
        """(stream speaker, sentence) of every sentence given ``label`` with the pack's threshold and margin,
        less the agent's sentences whose turn, read whole, says something else (``excused``)."""
        table = self.agent if role == "agent" else self.caller
        return [(speaker, s) for speaker, items in table.items() for s in items
                if s.hit.label == label and s.hit.score >= self.threshold and s.hit.margin >= self.margin
                and not (role == "agent" and label in self.blame and self.excused(speaker, s.start, s.end))]

    def excused(self, speaker: str, start: int, end: int) -> bool:
        """Whether the agent's turn around tokens [start, end) — the sentence with the ones just before and
        after it — reads as compliant talk: "I don't know that one. Let me ask a colleague" is an honest
        check, "…otherwise I'll have to end the call" after a polite warning is allowed firmness."""
        stream = self.streams.get(speaker)
        if stream is None or self.agent_index is None:
            return False
        spans = sentences(stream)
        at = next((n for n, (a, b) in enumerate(spans) if a <= start < b), None)
        if at is None:
            return False
        lo, hi = at, at
        while lo > 0 and _same_turn(stream, spans[lo - 1], spans[lo]):
            lo -= 1
            if at - lo >= TURN_SENTENCES:
                break
        while hi + 1 < len(spans) and _same_turn(stream, spans[hi], spans[hi + 1]):
            hi += 1
            if hi - at >= TURN_SENTENCES:
                break
        if lo == hi:
            return False  # the sentence is the whole turn: nothing around it to excuse it
        key = (speaker, spans[lo][0], spans[hi][1])
        if key not in self._turns:
            text = stream.display(spans[lo][0], spans[hi][1])
            # (unguarded: the question is whether the turn reads as compliant talk, not whether it proves blame)
            self._turns[key] = (self.agent_index.classify(embed([text]), guard=False) or [None])[0]
        turn = self._turns[key]
        return turn is not None and turn.label not in self.blame and turn.score >= EXCUSE


TURN_SENTENCES = 1  # sentences read either side of an accused one
EXCUSE = 0.0  # probability of a compliant class that the turn needs to excuse its sentence
TURN_GAP = 1.5  # seconds: sentences closer than this, with no boundary between, are one turn


def _same_turn(stream: Stream, first: tuple[int, int], second: tuple[int, int]) -> bool:
    gap = stream.tokens[second[0]].start - stream.tokens[first[1] - 1].end
    return gap <= TURN_GAP and BOUNDARY not in stream.keys[first[0]:second[1]]


def call_intents(transcript: Transcript, streams: dict[str, Stream], pack: RulePack) -> CallIntents:
    segment_texts = {(round(s.start, 2), round(s.end, 2)): s.text for s in transcript.segments}
    agent, caller = agent_index(pack), caller_index(pack)
    by_agent = {sp: classify_stream(st, agent, segment_texts) for sp, st in streams.items() if sp in ("agent", "unknown")}
    by_caller = {sp: classify_stream(st, caller, segment_texts) for sp, st in streams.items() if sp in ("caller", "unknown")}
    blame = frozenset(r.id for r in pack.rules.values() if r.kind == "banned_phrase")
    return CallIntents(by_agent, by_caller, pack.intents.threshold, pack.intents.margin, streams, agent, blame)
