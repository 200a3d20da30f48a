"""Mono calls: who spoke when, and which of the two is the agent.

A stereo call needs none of this (one channel per speaker). For a mixed mono
call: Silero VAD finds speech; Resemblyzer's speaker encoder (weights ship in its
wheel, no download) embeds overlapping windows of speech; the windows are
clustered into two voices; every 10 ms of speech gets a score (how much closer
the windows around it are to one voice than to the other); every Whisper word
takes the side its time span leans to, and a Whisper segment is split where the
speaker changes between words. Finally the voice whose words sound like a
call-centre agent (greeting, "thank you for calling", 您好 这里是…, polite
words) — or that matches a configured agent voice sample — becomes ``agent``.
Where only one voice is heard (two too alike), each segment is given a role by
what it says and by the turn structure (``roles_by_turn``).

The output is the same ``Transcript`` as for a stereo call, so every later stage
works unchanged.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa_pipeline.base.audio import Audio, load_audio
from qa_pipeline.base.textnorm import has_cjk, join_texts, normalize_for_match
from qa_pipeline.config import DiarizeOptions
from qa_pipeline.contracts import Roles, Segment, Transcript, Word

RATE = 16000
Turn = tuple[float, float, str]  # (start, end, speaker)
FRAME = 0.01  # seconds per score frame (Resemblyzer's mel step)


@dataclass
class SpeakerTrack:
    """Result of the acoustic part: frame scores and the turns they give."""

    duration: float
    speech: np.ndarray  # bool per 10 ms frame
    score: np.ndarray  # per frame: >0 leans to voice 0, <0 to voice 1 (0 where unknown)
    centroids: np.ndarray  # (n_voices, 256)
    turns: list[Turn]  # (start, end, "S0"|"S1")

    @property
    def n_speakers(self) -> int:
        return len(self.centroids)

    def voice_at(self, start: float, end: float) -> int:
        """Voice (0/1) that a span leans to; the nearest scored frame when the span holds no speech."""
        if self.n_speakers < 2:
            return 0
        a, b = int(start / FRAME), max(int(start / FRAME) + 1, int(np.ceil(end / FRAME)))
        a, b = max(0, min(a, len(self.score) - 1)), max(1, min(b, len(self.score)))
        span = self.score[a:b]
        known = span[span != 0]
        if known.size:
            return 0 if known.mean() > 0 else 1
        nz = np.flatnonzero(self.score)
        if not nz.size:
            return 0
        nearest = nz[np.argmin(np.abs(nz - (a + b) // 2))]
        return 0 if self.score[nearest] > 0 else 1


@lru_cache(maxsize=1)
def voice_encoder():
    with warnings.catch_warnings():
        # resemblyzer imports scipy.ndimage.morphology, deprecated but present.
        warnings.simplefilter("ignore", DeprecationWarning)
        from resemblyzer import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False).eval()


def _normalise_volume(x: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    # Resemblyzer was trained on utterances at -30 dBFS; its mel features are not log-scaled.
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return x if rms < 1e-6 else (x * (10 ** (target_dbfs / 20) / rms)).astype(np.float32)


def embed_windows(samples: np.ndarray, starts: list[float], window: float) -> np.ndarray:
    """L2-normed Resemblyzer embeddings of ``window``-second slices starting at ``starts``."""
    import torch

    if not starts:
        return np.zeros((0, 256), dtype=np.float32)
    encoder = voice_encoder()  # first: it imports resemblyzer with its deprecation warning silenced
    from resemblyzer.audio import wav_to_mel_spectrogram

    mel = wav_to_mel_spectrogram(_normalise_volume(samples))
    n = int(round(window / FRAME))
    if len(mel) < n:
        mel = np.pad(mel, ((0, n - len(mel)), (0, 0)))
    idx = [min(int(round(s / FRAME)), len(mel) - n) for s in starts]
    batch = np.stack([mel[i : i + n] for i in idx])
    out = []
    with torch.inference_mode():
        for b in range(0, len(batch), 256):
            out.append(encoder(torch.from_numpy(batch[b : b + 256])).numpy())
    return np.concatenate(out)


def embed_voice_sample(path: str | Path) -> np.ndarray:
    """One embedding for a recording of the agent's voice (speech windows averaged)."""

    clip = load_audio(path)
    samples = clip.mono()
    regions = _speech_regions(samples, DiarizeOptions())
    starts = _window_starts(regions, len(samples) / RATE, DiarizeOptions())
    emb = embed_windows(samples, starts, DiarizeOptions().window)
    if not len(emb):
        raise ValueError(f"{path}: no speech found in the agent voice sample")
    c = emb.mean(axis=0)
    return c / np.linalg.norm(c)


def _speech_regions(samples: np.ndarray, opts: DiarizeOptions) -> list[tuple[float, float]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    ts = get_speech_timestamps(samples, VadOptions(
        threshold=opts.vad_threshold, min_silence_duration_ms=opts.vad_min_silence_ms,
        speech_pad_ms=opts.vad_speech_pad_ms, min_speech_duration_ms=opts.vad_min_speech_ms,
    ))
    return [(t["start"] / RATE, t["end"] / RATE) for t in ts]


def _window_starts(regions: list[tuple[float, float]], duration: float, opts: DiarizeOptions) -> list[float]:
    starts: list[float] = []
    for s, e in regions:
        if e - s <= opts.window:
            starts.append(min(max(0.0, (s + e - opts.window) / 2), max(0.0, duration - opts.window)))
            continue
        t = s
        while t + opts.window < e:
            starts.append(t)
            t += opts.hop
        starts.append(e - opts.window)
    return starts


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def cluster_two(emb: np.ndarray, opts: DiarizeOptions) -> np.ndarray | None:
    """Voice label (0/1) per window, or None when the windows hold a single voice.

    Resemblyzer embeddings share a large common component (channel, language,
    recording); subtracting their mean before clustering makes the speaker
    difference dominate (on the real phone call: 58 % -> 95 % of windows right).
    """
    labels = split_two(emb)
    if labels is None:
        return None
    share = min(np.mean(labels == 0), np.mean(labels == 1))
    raw = _unit(np.stack([emb[labels == k].mean(axis=0) for k in (0, 1)]))
    if float(raw[0] @ raw[1]) > opts.same_speaker_similarity or share < opts.min_speaker_share:
        return None
    return labels


def split_two(emb: np.ndarray) -> np.ndarray | None:
    """The windows' best split into two groups (0/1), however alike the two: None for fewer than four windows
    or where one group comes out empty."""
    from sklearn.cluster import AgglomerativeClustering

    if len(emb) < 4:
        return None
    centred = _unit(emb - emb.mean(axis=0))
    labels = AgglomerativeClustering(n_clusters=2, metric="cosine", linkage="average").fit_predict(centred)
    # Spherical k-means from the agglomerative start: average linkage alone
    # can leave a few odd windows as a cluster of their own.
    for _ in range(20):
        if len(set(labels.tolist())) < 2:
            return None
        cents = _unit(np.stack([centred[labels == k].mean(axis=0) for k in (0, 1)]))
        new = np.argmax(centred @ cents.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels if len(set(labels.tolist())) == 2 else None


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) runs of an int array."""
    if not len(labels):
        return []
    change = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], change, [len(labels)]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(bounds, bounds[1:])]


def track_speakers(samples: np.ndarray, opts: DiarizeOptions | None = None) -> SpeakerTrack:
    """The acoustic half of diarization: two voices, a score per 10 ms, speaker turns."""
    opts = opts or DiarizeOptions()
    duration = len(samples) / RATE
    n_frames = int(np.ceil(duration / FRAME))
    regions = _speech_regions(samples, opts)
    speech = np.zeros(n_frames, dtype=bool)
    for s, e in regions:
        speech[int(s / FRAME) : int(np.ceil(e / FRAME))] = True
    starts = _window_starts(regions, duration, opts)
    emb = embed_windows(samples, starts, opts.window)
    if not len(emb):
        return SpeakerTrack(duration, speech, np.zeros(n_frames), np.zeros((0, 256)), [])
    labels = cluster_two(emb, opts)
    score = np.zeros(n_frames)
    if labels is None:
        cents = _unit(emb.mean(axis=0, keepdims=True))
    else:
        cents = _unit(np.stack([emb[labels == k].mean(axis=0) for k in (0, 1)]))
        centred = _unit(emb - emb.mean(axis=0))
        sims = centred @ _unit(np.stack([centred[labels == k].mean(axis=0) for k in (0, 1)])).T
        diff = sims[:, 0] - sims[:, 1]
        total = np.zeros(n_frames)
        count = np.zeros(n_frames)
        n = int(round(opts.window / FRAME))
        for st, d in zip(starts, diff):
            a = int(round(st / FRAME))
            total[a : a + n] += d
            count[a : a + n] += 1
        score = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        score[~speech] = 0.0
    frame_voice = _smooth(np.where(score >= 0, 0, 1), speech, int(round(opts.min_turn / FRAME)))
    turns: list[Turn] = []
    for a, b, v in _runs(np.where(speech, frame_voice, -1)):
        if v >= 0:
            turns.append((round(a * FRAME, 3), round(min(b * FRAME, duration), 3), f"S{v}"))
    # Frame scores follow the smoothed labels' sign so words and turns agree.
    score = np.where(speech, np.where(frame_voice == 0, np.abs(score) + 1e-9, -np.abs(score) - 1e-9), 0.0)
    return SpeakerTrack(duration, speech, score, cents, turns)


def _smooth(labels: np.ndarray, speech: np.ndarray, min_frames: int) -> np.ndarray:
    """Give runs shorter than ``min_frames`` inside continuous speech to their neighbours."""
    labels = labels.copy()
    for a, b, _ in _runs(np.where(speech, 1, 0)):
        if not speech[a]:
            continue
        region = labels[a:b]
        changed = True
        while changed:
            changed = False
            runs = _runs(region)
            if len(runs) < 2:
                break
            shortest = min(range(len(runs)), key=lambda i: runs[i][1] - runs[i][0])
            s, e, v = runs[shortest]
            if e - s < min_frames:
                region[s:e] = 1 - v
                changed = True
        labels[a:b] = region
    return labels


# --- roles -----------------------------------------------------------------

# General cues of a call-centre agent's speech; no call-specific wording.
_AGENT_OPENING = re.compile(
    r"(thank(s| you) for calling|thanks for calling|how (can|may|could) i (help|assist)|"
    r"this is \w+ (from|at|with)|my name is \w+.{0,20}(help|assist)|"
    r"您好.{0,6}(这里是|这边是|欢迎)|这里是.{0,12}(客服|热线|中心)|我是.{0,10}(客服|专员|工号)|"
    r"工号|请问(有什么|有甚么)可以(帮|为)您|很高兴为您服务)",
    re.IGNORECASE,
)
_AGENT_SERVICE = re.compile(
    r"(is there anything else|anything else i can|have a (great|nice|good) (day|one)|"
    r"let me (check|look|pull)|i can help|i('ll| will) (check|look)|sorry for the inconvenience|"
    r"appointment|schedule|in (our|the) system|look you up|"
    r"请问|请您|稍等|为您|帮您|给您|感谢您的(来电|耐心)|还有(什么|其他).{0,4}(帮|问题)|祝您|"
    r"不好意思|抱歉|给您带来)",
    re.IGNORECASE,
)
_POLITE = re.compile(r"(please|thank you|thanks|sorry|certainly|of course|您|请|谢谢|对不起|再见)", re.IGNORECASE)


# What a caller says about themselves and their problem, and asks for: the other side of the agent's cues.
_CALLER = re.compile(
    r"(i'?m calling (about|because|to|from)|i('m| am) (ringing|phoning)|i (bought|ordered|booked|paid|got a)|"
    r"my name is \w+( \w+)? and|\bmy (car|order|account|card|bill|phone|parcel|package|booking|flight|policy|claim|"
    r"son|daughter|wife|husband|mum|mom|dad)\b|i (want|need|would like|'d like) to|can you (help|tell|check)|"
    r"could you (help|tell|check)|it('s| is) (not working|broken)|i have a (problem|question|complaint)|"
    r"我想|我要|我打电话|我打过来|我的(卡|订单|账户|账号|手机|车|快递|包裹|保单|房子|孩子|电费|话费)|我买的|我订的|我在你们|"
    r"帮我|你们(怎么|能不能|可以)|我有个问题|怎么回事)",
    re.IGNORECASE,
)
FIRST_SPEAKER_BONUS = 1.0  # an inbound call is answered by the agent: the first voice leans agent


def agent_likeness(texts: list[tuple[float, str]], call_start: float) -> float:
    """How much a voice's words sound like the agent's: opening cues early, service phrases and politeness
    for, a caller's own problem and requests against (per square root of its words, so a talkative voice
    does not win on volume)."""
    score = 0.0
    n_words = 0
    for start, text in texts:
        n_words += len(text) if has_cjk(text) else len(text.split())
        if _AGENT_OPENING.search(text):
            score += 3.0 if start - call_start < 30 else 1.0
        score += 1.0 * len(_AGENT_SERVICE.findall(text))
        score += 0.25 * len(_POLITE.findall(text))
        score -= 1.5 * len(_CALLER.findall(text))
    return score / max(1.0, np.sqrt(n_words))


def role_scores(pairs: list[tuple[int, Segment]]) -> list[float]:
    """Agent-likeness of voices 0 and 1 from their phrase cues, the first to speak a little ahead."""
    scores = cue_scores(pairs)
    first = first_speaker_prior(pairs)
    return [scores[0] + first, scores[1] - first]


def cue_scores(pairs: list[tuple[int, Segment]]) -> list[float]:
    """Agent-likeness of voices 0 and 1 from their phrase cues (``agent_likeness``)."""
    first = min((seg.start for _, seg in pairs), default=0.0)
    return [float(agent_likeness([(seg.start, normalize_for_match(seg.text) if has_cjk(seg.text) else seg.text)
                                  for v, seg in pairs if v == k], first)) for k in (0, 1)]


def first_speaker_prior(pairs: list[tuple[int, Segment]]) -> float:
    """Half the first-speaker bonus for voice 0 (+) or voice 1 (-): the agent answers an inbound call, and an
    outbound agent speaks first once the line is open. Smaller the more the call says, so that what is said
    decides a long call."""
    if not pairs:
        return 0.0
    bonus = float(FIRST_SPEAKER_BONUS / max(1.0, np.sqrt(len(pairs))) / 2)
    return bonus if min(pairs, key=lambda p: p[1].start)[0] == 0 else -bonus


def role_confidence(scores: list[float]) -> float:
    """0.5 (a coin toss) to 1 (no doubt) from how far apart the two voices' agent-likeness is."""
    return margin_confidence(scores[0] - scores[1])


def margin_confidence(margin: float) -> float:
    return round(float(1.0 / (1.0 + np.exp(-ROLE_SLOPE * abs(margin)))), 3)


ROLE_SLOPE = 2.5  # a difference of one cue per sqrt-word gives 0.92


def assign_words(transcript: Transcript, track: SpeakerTrack) -> list[tuple[int, Segment]]:
    """Split every segment where the voice changes between words; (voice, segment) pairs."""
    out: list[tuple[int, Segment]] = []
    for seg in transcript.segments:
        if not seg.words:
            out.append((track.voice_at(seg.start, seg.end), seg))
            continue
        voices = [track.voice_at(w.start, w.end) for w in seg.words]
        groups: list[tuple[int, list[Word]]] = []
        for v, w in zip(voices, seg.words):
            if groups and groups[-1][0] == v:
                groups[-1][1].append(w)
            else:
                groups.append((v, [w]))
        if len(groups) == 1:
            out.append((groups[0][0], seg))
            continue
        for v, ws in groups:
            text = join_texts([w.text for w in ws], transcript.language)
            out.append((v, dataclasses.replace(seg, start=ws[0].start, end=ws[-1].end, text=text,
                                               raw_text=text, words=ws)))
    return out


def diarize(
    audio: Audio,
    transcript: Transcript,
    opts: DiarizeOptions | None = None,
    agent_embedding: np.ndarray | None = None,
) -> Transcript:
    """Give a mono call's transcript ``agent``/``caller`` roles; a stereo transcript is returned as is."""
    if audio.layout == "stereo" or len(audio.channels) != 1:
        return transcript
    opts = opts or DiarizeOptions()
    if agent_embedding is None and opts.agent_voice:
        agent_embedding = embed_voice_sample(opts.agent_voice)
    track = track_speakers(audio.channels[0], opts)
    pairs = assign_words(transcript, track)
    agent_voice, confidence = pick_agent(track, pairs, agent_embedding)
    segments = [
        dataclasses.replace(seg, speaker="agent" if v == agent_voice else "caller")
        for v, seg in pairs
    ]
    segments.sort(key=lambda s: (s.start, s.end))
    settings = dict(transcript.settings)
    settings["diarization"] = {**dataclasses.asdict(opts), "voices": track.n_speakers, "agent_voice_index": agent_voice,
                               "role_confidence": confidence,
                               "roles_by": "voice_sample" if agent_embedding is not None else "words"}
    return dataclasses.replace(transcript, segments=segments, settings=settings)


def pick_agent(track: SpeakerTrack, pairs: list[tuple[int, Segment]], agent_embedding: np.ndarray | None) -> tuple[int, float]:
    """Which voice is the agent, and how sure: by a voice sample when given, else by what each voice says."""
    if track.n_speakers < 2:
        # One voice: on a call centre's line, a lone voice is the agent
        # (voicemail greetings and one-sided recordings are the agent's side).
        return 0, 1.0
    if agent_embedding is not None:
        sims = track.centroids @ agent_embedding
        return int(np.argmax(sims)), round(float(min(1.0, 0.5 + abs(sims[0] - sims[1]))), 3)
    scores = role_scores(pairs)
    if scores[0] == scores[1]:
        return (pairs[0][0] if pairs else 0), 0.5
    return (0 if scores[0] > scores[1] else 1), role_confidence(scores)


# --- the roles, settled with what each voice means --------------------------------------------------------
MEANING_WEIGHT = 1.0  # one unit of mean log-odds counts as one phrase cue per sqrt-word


def settle_roles(transcript: Transcript, said: list[float], opts: DiarizeOptions | None = None) -> tuple[Transcript, Roles]:
    """The roles of a diarized mono transcript, weighed once more with what each voice *means*.

    ``said``: per segment, the log-odds that an agent said it, from the rule pack's example sentences
    (stages/rules/roles.py; the pipeline passes it in, as a stage does not import another). The evidence per
    voice: its phrase cues (``cue_scores``), the mean of ``said`` over its segments (weighted by their words,
    up to 20), and who spoke first. Where the sum favours the voice ``diarize`` called the caller, the two are
    swapped. A call with one voice, or whose agent was found by a voice sample, keeps its roles."""
    opts = opts or DiarizeOptions()
    info = transcript.settings.get("diarization") or {}
    if info.get("roles_by") == "voice_sample":
        confidence = float(info.get("role_confidence", 1.0))
        return transcript, Roles(source="voice_sample", confidence=confidence,
                                 uncertain=confidence < opts.min_role_confidence)
    if info.get("voices", 0) < 2:
        # One voice heard: every word is given to the agent. Right for a one-sided recording, wrong where two
        # alike voices were heard as one (on the independent calls, two synthetic voices a few per cent apart):
        # a coin toss, so that the queue says the roles are uncertain. The pipeline decides such a call turn by
        # turn instead (``settle_roles_by_turn``); this is what a caller without the audio gets.
        confidence = 0.5 if transcript.segments else 1.0
        return _with_confidence(transcript, confidence), Roles(
            source="voices", confidence=confidence, uncertain=confidence < opts.min_role_confidence)
    pairs = [(0 if seg.speaker == "agent" else 1, seg) for seg in transcript.segments]
    cues = cue_scores(pairs)
    first = first_speaker_prior(pairs)
    means = []
    for k in (0, 1):
        weights = [min(20, _words(seg.text)) for v, seg in pairs if v == k]
        values = [x for (v, _), x in zip(pairs, said) if v == k]
        means.append(float(np.average(values, weights=weights)) if sum(weights) else 0.0)
    margin = float((cues[0] - cues[1]) + MEANING_WEIGHT * (means[0] - means[1]) + 2 * first)
    confidence = margin_confidence(margin)
    roles = Roles(source="voices", confidence=confidence, uncertain=bool(confidence < opts.min_role_confidence),
                  cues=round(float(cues[0] - cues[1]), 3), meaning=round(float(means[0] - means[1]), 3),
                  first=round(float(2 * first), 3), swapped=bool(margin < 0))
    if margin >= 0:
        return _with_confidence(transcript, confidence), roles
    flipped = swap_speakers(_with_confidence(transcript, confidence))
    return flipped, dataclasses.replace(roles, cues=-roles.cues, meaning=-roles.meaning, first=-roles.first)


def swap_speakers(transcript: Transcript) -> Transcript:
    """The transcript with agent and caller exchanged (``unknown`` stays)."""
    other = {"agent": "caller", "caller": "agent"}
    return dataclasses.replace(transcript, segments=[dataclasses.replace(s, speaker=other.get(s.speaker, s.speaker))
                                                     for s in transcript.segments])


def _with_confidence(transcript: Transcript, confidence: float) -> Transcript:
    settings = dict(transcript.settings)
    settings["diarization"] = {**settings.get("diarization", {}), "role_confidence": confidence}
    return dataclasses.replace(transcript, settings=settings)


def _words(text: str) -> int:
    return len(text) if has_cjk(text) else len(text.split())


def role_agreement(transcript: Transcript, reference: Transcript) -> float:
    """Share of ``transcript``'s words (0..1) whose speaker is the one ``reference`` has at the same moment:
    how well a new run's roles match roles a coach settled on an earlier run of the same audio. 1.0 where
    nothing can be compared."""
    spans = sorted((s.start, s.end, s.speaker) for s in reference.segments if s.speaker in ("agent", "caller"))
    agree = total = 0
    for seg in transcript.segments:
        for w in seg.words or [Word(seg.start, seg.end, seg.text, 1.0)]:
            mid = (w.start + w.end) / 2
            said = {spk for a, b, spk in spans if a - 0.1 <= mid <= b + 0.1}
            if len(said) != 1 or seg.speaker not in ("agent", "caller"):
                continue
            total += 1
            agree += said.pop() == seg.speaker
    return agree / total if total else 1.0



# --- roles per turn, where the voices cannot tell the two apart ------------------------------------------
# When Resemblyzer hears one voice (two so alike that their centroids pass same_speaker_similarity), every word
# went to the agent. What is said and how the turns follow each other still tell the parties apart: an agent
# greets for the company, offers help, asks to verify; a caller gives their name and their problem; and the
# speaker usually changes at a pause and after a question. A two-state HMM over the transcript's segments
# (agent, caller) weighs them: each segment's text gives a likelihood ratio, each boundary a prior for a change
# of speaker, and the windows' best split into two groups (too alike to be trusted alone) one more likelihood.
# Weights chosen on the dev half of evalsets/calls (the one-voice Mandarin calls; docs/evaluation.md).
TURN_TEXT_WEIGHT = 1.0  # the pack classifier's log-odds (stages/rules/roles.py), as they come
TURN_CUE_WEIGHT = 1.0  # a phrase cue (greeting for the company, "I'm calling about…") per sqrt-word, as for voices
TURN_FULL_WORDS = 6  # a segment shorter than this ("yes", 好的) says proportionally less about who said it
TURN_VOICE_WEIGHT = 8.0  # per unit of a segment's lean to one of the two window groups (a lean is ~0.05-0.3)
SWITCH_AFTER_PAUSE = 0.8  # P(another speaker) after a pause of PAUSE seconds or more
SWITCH_IN_FLOW = 0.2  # P(another speaker) where one segment follows the last without a pause
SWITCH_AFTER_QUESTION = 0.9  # a question is usually answered by the other party
PAUSE = 0.3  # seconds
# Roles decided per turn are never sure: on the dev calls they were right on 73-95 % of the words, not the
# >= 95 % a settled call needs. Their confidence is the posterior's distance from a coin toss, halved, so it
# stays under min_role_confidence (0.8) and the queue says "roles uncertain" for a coach to check.
TURN_CONFIDENCE_SHARE = 0.5
_QUESTION_END = re.compile(r"(\?|？|吗[。？?！!]?|呢[。？?]?|么[。？?]?)\s*$")


@dataclass
class TurnRoles:
    """Per segment: the posterior probability that the agent said it, and the speaker it gives."""

    agent_probability: list[float]

    @property
    def speakers(self) -> list[str]:
        return ["agent" if p >= 0.5 else "caller" for p in self.agent_probability]

    def confidence(self, words: list[int]) -> float:
        """0.5 (a coin toss) to 0.5 + TURN_CONFIDENCE_SHARE / 2: the posterior of the chosen speaker, averaged
        over the words."""
        if not self.agent_probability or not sum(words):
            return 0.5
        sure = float(np.average([max(p, 1.0 - p) for p in self.agent_probability], weights=words))
        return round(0.5 + TURN_CONFIDENCE_SHARE * (sure - 0.5), 3)


def turn_evidence(segments: list[Segment], said: list[float]) -> np.ndarray:
    """Per segment, the log-likelihood ratio agent:caller of what it says (phrase cues and the pack's classifier)."""
    first = min((s.start for s in segments), default=0.0)
    # The classifier leans to the agent on a whole call (both parties talk about the same service): what tells
    # the turns apart is how much more agent-like one is than the call's middle segment.
    middle = float(np.median([x for s, x in zip(segments, said) if s.text.strip()] or [0.0]))
    out = np.zeros(len(segments))
    for i, (seg, value) in enumerate(zip(segments, said)):
        value -= middle
        text = normalize_for_match(seg.text) if has_cjk(seg.text) else seg.text
        share = min(1.0, _words(seg.text) / TURN_FULL_WORDS)
        out[i] = share * TURN_TEXT_WEIGHT * value + TURN_CUE_WEIGHT * agent_likeness([(seg.start, text)], first)
    return out


def switch_probabilities(segments: list[Segment]) -> np.ndarray:
    """P(the speaker changes) at each boundary between consecutive segments (len - 1 of them)."""
    out = np.zeros(max(0, len(segments) - 1))
    for i in range(1, len(segments)):
        prev, seg = segments[i - 1], segments[i]
        p = SWITCH_AFTER_PAUSE if seg.start - prev.end >= PAUSE else SWITCH_IN_FLOW
        if _QUESTION_END.search(prev.text.strip()):
            p = max(p, SWITCH_AFTER_QUESTION)
        out[i - 1] = p
    return out


def roles_by_turn(segments: list[Segment], said: list[float], voice_lean: list[float] | None = None) -> TurnRoles:
    """P(agent) for each segment (sorted by time) by forward-backward, from what each says, how they follow each
    other, and the first speaker leaning agent (the agent answers an inbound call). ``voice_lean``: per segment,
    how far its windows lean to one of two groups of windows (+) or the other (-); which group is the agent is
    unknown, so both ways are tried and the likelier kept."""
    if not segments:
        return TurnRoles([])
    text = turn_evidence(segments, said)
    switch = switch_probabilities(segments)
    if voice_lean is None:
        return TurnRoles(_posterior(text, switch)[0])
    lean = TURN_VOICE_WEIGHT * np.asarray(voice_lean, dtype=float)
    best = max((_posterior(text + sign * lean, switch) for sign in (1.0, -1.0)), key=lambda r: r[1])
    return TurnRoles(best[0])


def _posterior(llr: np.ndarray, switch: np.ndarray) -> tuple[list[float], float]:
    """Per segment P(agent), and the log-likelihood of the whole, for agent:caller log-likelihood ratios ``llr``."""
    emit = np.stack([llr / 2, -llr / 2], axis=1)  # log-likelihoods of (agent, caller), up to a constant
    n = len(llr)
    fwd = np.zeros((n, 2))
    fwd[0] = np.log([1 / (1 + np.exp(-FIRST_SPEAKER_BONUS)), 1 / (1 + np.exp(FIRST_SPEAKER_BONUS))]) + emit[0]
    for i in range(1, n):
        fwd[i] = emit[i] + _logsum(fwd[i - 1][:, None] + _log_transition(switch[i - 1]))
    bwd = np.zeros((n, 2))
    for i in range(n - 2, -1, -1):
        bwd[i] = _logsum((_log_transition(switch[i]) + (emit[i + 1] + bwd[i + 1])[None, :]).T)
    post = fwd + bwd
    post -= post.max(axis=1, keepdims=True)
    prob = np.exp(post[:, 0]) / np.exp(post).sum(axis=1)
    return [round(float(p), 4) for p in prob], float(_logsum(fwd[-1]))


def _log_transition(p_switch: float) -> np.ndarray:
    stay, switch = np.log(1.0 - p_switch), np.log(p_switch)
    return np.array([[stay, switch], [switch, stay]])


def _logsum(x: np.ndarray) -> np.ndarray:
    """log-sum-exp over the first axis."""
    m = x.max(axis=0)
    return m + np.log(np.exp(x - m).sum(axis=0))


def voice_leans(samples: np.ndarray, segments: list[Segment], opts: DiarizeOptions | None = None) -> list[float] | None:
    """Per segment, the mean lean of the speech windows centred in it to one of the windows' two best groups
    (``split_two``, without the test that the two are distinct voices); None where they cannot be split."""
    opts = opts or DiarizeOptions()
    starts = _window_starts(_speech_regions(samples, opts), len(samples) / RATE, opts)
    emb = embed_windows(samples, starts, opts.window)
    labels = split_two(emb)
    if labels is None:
        return None
    centred = _unit(emb - emb.mean(axis=0))
    sims = centred @ _unit(np.stack([centred[labels == k].mean(axis=0) for k in (0, 1)])).T
    diff, mids = sims[:, 0] - sims[:, 1], np.asarray(starts) + opts.window / 2
    out = []
    for seg in segments:
        inside = (mids > seg.start) & (mids < seg.end)
        out.append(float(diff[inside].mean()) if inside.any()
                   else float(diff[np.argmin(np.abs(mids - (seg.start + seg.end) / 2))]))
    return out


def voices_apart(transcript: Transcript) -> bool:
    """Whether ``diarize`` heard two voices it could tell apart; if not, roles are decided per turn."""
    info = transcript.settings.get("diarization") or {}
    return info.get("roles_by") == "voice_sample" or info.get("voices", 0) >= 2


def settle_roles_by_turn(transcript: Transcript, said: list[float], opts: DiarizeOptions | None = None,
                         voice_lean: list[float] | None = None) -> tuple[Transcript, Roles]:
    """Roles per segment where the voices cannot tell the speakers apart (``roles_by_turn``); ``said`` as for
    ``settle_roles``; ``voice_lean`` per segment as ``voice_leans`` gives it. The confidence follows the words'
    mean posterior, under min_role_confidence (TURN_CONFIDENCE_SHARE), so the queue says roles are uncertain."""
    opts = opts or DiarizeOptions()
    order = sorted(range(len(transcript.segments)), key=lambda i: (transcript.segments[i].start,
                                                                    transcript.segments[i].end))
    segments = [transcript.segments[i] for i in order]
    turns = roles_by_turn(segments, [said[i] for i in order],
                          None if voice_lean is None else [voice_lean[i] for i in order])
    confidence = turns.confidence([_words(s.text) for s in segments]) if segments else 1.0
    labelled = [dataclasses.replace(s, speaker=spk) for s, spk in zip(segments, turns.speakers)]
    settings = dict(transcript.settings)
    settings["diarization"] = {**settings.get("diarization", {}), "roles_by": "turns", "role_confidence": confidence}
    out = dataclasses.replace(transcript, segments=labelled, settings=settings)
    # Never settled, whatever min_role_confidence an admin sets: roles decided turn by turn are for a coach to check.
    return out, Roles(source="turns", confidence=confidence, uncertain=bool(segments))
