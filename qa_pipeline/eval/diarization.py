"""`qa eval diarization`: DER against a reference RTTM, and word-level role accuracy on stereo calls mixed
down to mono (the truth is the channel each word was spoken on) or on mono calls whose labels give each
utterance's speaker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.base.audio import Audio, load_audio
from qa_pipeline.config import QAConfig
from qa_pipeline.contracts import Roles, Transcript, Word
from qa_pipeline.eval.der import Turn, diarization_error_rate, load_rttm
from qa_pipeline.eval.samples import load_manifest
from qa_pipeline.pipeline import diarize_call
from qa_pipeline.stages.diarize import track_speakers
from qa_pipeline.stages.transcribe import transcribe_cached

RATE = 16000


def turns_from_transcript(transcript: Transcript, gap: float = 0.5) -> list[Turn]:
    """Speaker turns from word times (pauses shorter than ``gap`` merged)."""
    spans = sorted((w.start, w.end, seg.speaker) for seg in transcript.segments
                   for w in (seg.words or [Word(seg.start, seg.end, "", 1.0)]))
    turns: list[list[Any]] = []
    for s, e, spk in spans:
        if turns and turns[-1][2] == spk and s - turns[-1][1] <= gap:
            turns[-1][1] = max(turns[-1][1], e)
        else:
            turns.append([s, e, spk])
    return [(float(a), float(b), str(c)) for a, b, c in turns]


def mix_to_mono(audio: Audio) -> Audio:
    """A stereo call as a mono recorder would have stored it: the two channels summed."""
    mixed = audio.channels[0] + audio.channels[1]
    peak = float(np.abs(mixed).max())
    if peak > 0.99:
        mixed = mixed * (0.99 / peak)
    return Audio(path=audio.path + "#mono", sha256=audio.sha256 + "-mixed-mono", source_rate=audio.source_rate,
                 source_channels=1, source_format=audio.source_format, duration=audio.duration,
                 channels=[mixed.astype(np.float32)], layout="mono", notes=["stereo mixed to mono for evaluation"])


def channel_truth(agent: np.ndarray, caller: np.ndarray, start: float, end: float) -> str | None:
    """Who spoke a word: the channel with clearly (6 dB) more energy over its span; None in overlap."""
    a, b = int(start * RATE), max(int(end * RATE), int(start * RATE) + 1)
    ea = float(np.sqrt(np.mean(agent[a:b].astype(np.float64) ** 2))) if b <= len(agent) else 0.0
    ec = float(np.sqrt(np.mean(caller[a:b].astype(np.float64) ** 2))) if b <= len(caller) else 0.0
    if max(ea, ec) < 1e-4:
        return None
    if ea > 2 * ec:
        return "agent"
    if ec > 2 * ea:
        return "caller"
    return None


def role_accuracy(transcript: Transcript, truth) -> dict[str, Any]:
    """Share of words whose role is right; ``truth(start, end)`` gives agent|caller|None (not scored)."""
    right = scored = unscored = 0
    for seg in transcript.segments:
        for w in seg.words:
            t = truth(w.start, w.end)
            if t is None:
                unscored += 1
                continue
            scored += 1
            right += t == seg.speaker
    return {"accuracy": round(right / scored, 4) if scored else None, "words": scored, "unscored": unscored}


def utterance_truth(utterances: list[dict[str, Any]]):
    def truth(start: float, end: float) -> str | None:
        mid = (start + end) / 2
        hits = {u["speaker"] for u in utterances if u["start"] - 0.2 <= mid <= u["end"] + 0.2}
        return hits.pop() if len(hits) == 1 else None

    return truth


@dataclass
class DiarizationReport:
    der: dict[str, Any] = field(default_factory=dict)
    der_words: dict[str, Any] = field(default_factory=dict)
    roles: list[dict[str, Any]] = field(default_factory=list)


def evaluate_diarization(
    shared: Path, samples: Path | None, config: QAConfig | None = None,
    include_stereo_samples: bool = True, split: str = "all",
) -> DiarizationReport:
    """``split``: of a set whose calls are labelled dev or test, only those (all: every call). The roles are
    the product's: the voices and what each says (``pipeline.diarize_call``), with ``config``'s rule packs."""
    config = config or QAConfig()
    asr, opts = config.asr, config.diarization
    report = DiarizationReport()
    phone = shared / "phone_en" / "sample.wav"
    if phone.exists():
        clip = load_audio(phone)
        reference = load_rttm(shared / "phone_en" / "sample.rttm")
        track = track_speakers(clip.channels[0], opts)
        report.der = {"file": "phone_en/sample.wav", **diarization_error_rate(reference, track.turns).as_dict()}
        labelled, _ = diarize_call(clip, transcribe_cached(clip, asr), config)
        report.der_words = {"file": "phone_en/sample.wav",
                            **diarization_error_rate(reference, turns_from_transcript(labelled)).as_dict()}
    agent_wav = shared / "calls_en" / "Auto_Repairs_40_UTC_agent.wav"
    if agent_wav.exists():
        agent = load_audio(agent_wav).channels[0]
        caller = load_audio(shared / "calls_en" / "Auto_Repairs_40_UTC_caller.wav").channels[0]
        n = min(len(agent), len(caller))
        stereo = Audio(str(agent_wav.parent / "Auto_Repairs_40_UTC"), "calls_en-auto-repairs-40", 8000, 2, "wav",
                       n / RATE, [agent[:n], caller[:n]], "stereo")
        report.roles.append(_roles_on_mix(stereo, "calls_en/Auto_Repairs_40 (real, mixed to mono)", config))
    if samples is not None and samples.exists():
        rows, labels = load_manifest(samples)
        for row in rows:
            path = samples / row["path"]
            if row.get("call_id", "").startswith("real_"):
                continue  # the real call is scored above from its source files
            if split != "all" and labels.get(row["call_id"], {}).get("split", split) != split:
                continue
            if row.get("layout") == "mono" and row["call_id"] in labels:
                clip = load_audio(path, layout="mono")
                labelled, roles = diarize_call(clip, transcribe_cached(clip, asr), config)
                acc = role_accuracy(labelled, utterance_truth(labels[row["call_id"]].get("utterances", [])))
                report.roles.append({"call": row["call_id"] + " (mono sample)", **acc, **_evidence(roles)})
            elif row.get("layout") == "stereo" and include_stereo_samples:
                clip = load_audio(path, agent_channel=int(row.get("agent_channel") or 0))
                if clip.layout == "stereo":
                    report.roles.append(_roles_on_mix(clip, row["call_id"] + " (stereo sample, mixed)", config))
    return report


def _roles_on_mix(stereo: Audio, name: str, config: QAConfig) -> dict[str, Any]:
    mono = mix_to_mono(stereo)
    labelled, roles = diarize_call(mono, transcribe_cached(mono, config.asr), config)
    agent, caller = stereo.channels

    def truth(start: float, end: float) -> str | None:
        return channel_truth(agent, caller, start, end)

    return {"call": name, **role_accuracy(labelled, truth), **_evidence(roles)}


def _evidence(roles: Roles) -> dict[str, Any]:
    return {"role_confidence": roles.confidence, "uncertain": roles.uncertain, "cues": roles.cues,
            "meaning": roles.meaning, "first": roles.first, "swapped": roles.swapped}
