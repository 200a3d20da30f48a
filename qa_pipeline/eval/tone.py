"""Measurements of the tone stage behind ``qa eval tone`` and ``qa bench tone``.

- acoustic agitation on emotion_de (EmoDB): AUC anger vs neutral and high vs low arousal, every clip measured
  against its speaker's baseline over all of that speaker's clips (as a call's segments are),
- text sentiment: macro-F1 on the held-out call-centre utterances (evalsets/sentiment/sentiment_*_test.csv),
- flags on the sample calls: expected tone events found on the right speaker and time; compliant calls clean,
- speed: tone-stage time against transcription time of the same call.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.base.audio import Audio, load_audio
from qa_pipeline.base.e5 import e5_model
from qa_pipeline.config import ToneConfig, TranscribeOptions
from qa_pipeline.contracts import Call, Segment, Transcript
from qa_pipeline.stages.diarize import diarize
from qa_pipeline.stages.tone import acoustic
from qa_pipeline.stages.tone.emotion import analyze_tone
from qa_pipeline.stages.tone.sentiment import load_sentiment, predict_labels
from qa_pipeline.stages.transcribe import transcribe_audio, transcribe_cached

ROOT = Path(__file__).resolve().parents[2]
SENTIMENT_DATA = ROOT / "evalsets" / "sentiment"
HIGH_AROUSAL = ("anger", "fear", "happiness")
LOW_AROUSAL = ("neutral", "boredom", "sadness")


def read_sentiment_split(language: str, split: str, data_dir: Path = SENTIMENT_DATA) -> tuple[list[str], list[str]]:
    with open(data_dir / f"sentiment_{language}_{split}.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def macro_f1(gold: list[str], pred: list[str]) -> float:
    scores = []
    for label in sorted(set(gold)):
        tp = sum(g == p == label for g, p in zip(gold, pred))
        fp = sum(p == label and g != label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return float(np.mean(pairs)) if pairs else float("nan")


def eval_emotion(data_dir: Path, prior_seconds: float = 5.0, rest_quantile: float = 0.0) -> dict[str, Any]:
    import soundfile as sf

    with open(data_dir / "labels.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_speaker: dict[str, list[tuple[dict[str, str], acoustic.RegionFeatures]]] = defaultdict(list)
    for row in rows:
        x, rate = sf.read(data_dir / "wav" / row["file"], dtype="float32", always_2d=True)
        frames = acoustic.frame_features(x.mean(axis=1), rate)
        by_speaker[row["speaker"]].append((row, acoustic.region_features(frames, 0.0, len(x) / rate)))
    cue_sets = {"all cues (agitation)": acoustic.FEATURES, **{name: (name,) for name in acoustic.FEATURES
                                                              if name != "rate"}}
    table = {}
    clips = []
    for label, cues in cue_sets.items():
        scored: list[tuple[str, float]] = []
        for items in by_speaker.values():
            base = acoustic.speaker_baseline([r for _, r in items], prior_seconds, rest_quantile=rest_quantile)
            for row, region in items:
                z = {k: v for k, v in acoustic.zscores(region, base).items() if k in cues}
                score = acoustic.arousal(z)
                scored.append((row["emotion"], score))
                if label == "all cues (agitation)":
                    clips.append({"file": row["file"], "speaker": row["speaker"], "emotion": row["emotion"],
                                  "arousal": round(score, 3)})

        def pick(emotions: tuple[str, ...], scored: list[tuple[str, float]] = scored) -> list[float]:
            return [s for e, s in scored if e in emotions]

        table[label] = {"anger_vs_neutral": auc(pick(("anger",)), pick(("neutral",))),
                        "high_vs_low_arousal": auc(pick(HIGH_AROUSAL), pick(LOW_AROUSAL))}
    counts = {e: sum(r["emotion"] == e for r in rows) for e in sorted({r["emotion"] for r in rows})}
    return {"clips": len(rows), "speakers": len(by_speaker), "per_emotion": counts, "auc": table, "scores": clips}


def eval_text(config: ToneConfig | None = None, languages: tuple[str, ...] = ("en", "zh"), model: Any = None) -> dict[str, Any]:
    """Macro-F1 of the configured text-sentiment model (or ``model``) on the held-out split."""
    cfg = config or ToneConfig()
    model = model or load_sentiment(cfg.sentiment_model, cfg.text_threads)
    out = {"model": model.name}
    for language in languages:
        texts, gold = read_sentiment_split(language, "test")
        out[language] = {"macro_f1": macro_f1(gold, predict_labels(model, texts)), "n": len(texts)}
    return out


def _load_call(samples_dir: Path, row: dict[str, str]):

    audio = load_audio(samples_dir / row["path"], agent_channel=int(row.get("agent_channel") or 0),
                       layout=row.get("layout") or None)
    call = Call(call_id=row["call_id"], audio_path=str(samples_dir / row["path"]), sha256=audio.sha256,
                agent_id=row.get("agent_id", ""), language=row.get("language", "auto"),
                layout=audio.layout, call_type=row.get("call_type", "default"))  # type: ignore[arg-type]
    return audio, call


def eval_samples(samples_dir: Path, tone_config: Any = None, asr: Any = None, split: str = "all") -> dict[str, Any]:
    """Transcription (cached) and tone on every labelled call: recall of each labelled tone event, and flags
    that match no event per hour of that speaker's speech (calm speech flagged is a false alarm)."""

    labels = json.loads((samples_dir / "labels.json").read_text(encoding="utf-8"))["calls"]
    with open(samples_dir / "manifest.csv", encoding="utf-8", newline="") as fh:
        manifest = {r["call_id"]: r for r in csv.DictReader(fh)}
    rows = []
    calm_seconds = {"agent": 0.0, "caller": 0.0}
    false_by_rule = {"emotional_agent": 0, "emotional_caller": 0}
    for call_id, label in labels.items():
        if call_id not in manifest or split not in ("all", label.get("split", split)):
            continue
        expected = [e for e in label.get("events", []) if e.get("kind") == "tone"]
        audio, call = _load_call(samples_dir, manifest[call_id])
        opts = asr or TranscribeOptions()
        if label.get("language") in ("zh", "en"):
            opts = dataclasses.replace(opts, language=label["language"])
        transcript = diarize(audio, transcribe_cached(audio, opts), None)
        result = analyze_tone(audio, transcript, call, tone_config)
        flags = [f for f in result.findings if f.kind == "tone"]
        hits = []
        for event in expected:
            hit = any(f.rule_id == event["rule"] and f.speaker == event["speaker"]
                      and f.start < event["end"] and f.end > event["start"] for f in flags)
            hits.append({**event, "found": hit})
        false_flags = [f for f in flags if not any(
            f.rule_id == e["rule"] and f.speaker == e["speaker"] and f.start < e["end"] and f.end > e["start"]
            for e in expected)]
        for f in false_flags:
            false_by_rule[f.rule_id] = false_by_rule.get(f.rule_id, 0) + 1
        for speaker in calm_seconds:
            # That speaker's speech outside their labelled tone events: where a flag is a false alarm.
            spans = [(e["start"], e["end"]) for e in expected if e["speaker"] == speaker]
            calm_seconds[speaker] += sum(max(0.0, u["end"] - u["start"]) for u in label.get("utterances", [])
                                         if u["speaker"] == speaker
                                         and not any(u["start"] < b and u["end"] > a for a, b in spans))
        rows.append({"call_id": call_id, "compliant": bool(label.get("compliant")), "expected": hits,
                     "flags": [{"rule": f.rule_id, "speaker": f.speaker, "start": f.start, "end": f.end,
                                "peak": f.confidence, "evidence": f.evidence,
                                "labelled": f not in false_flags} for f in flags],
                     "false_flags": len(false_flags),
                     "agitation": {sp: s.agitation for sp, s in result.summary.speakers.items()},
                     "trend": {sp: s.trend.direction if s.trend else None for sp, s in result.summary.speakers.items()}})
    compliant = [r for r in rows if r["compliant"]]
    events = [e for r in rows for e in r["expected"]]
    recall = {rule: _ratio(sum(e["found"] for e in events if e["rule"] == rule), sum(e["rule"] == rule for e in events))
              for rule in ("emotional_caller", "emotional_agent")}
    caller_flags = [f for r in rows for f in r["flags"] if f["rule"] == "emotional_caller"]
    precision = {"emotional_caller": _ratio(sum(f["labelled"] for f in caller_flags), len(caller_flags))}
    return {"calls": rows, "precision": precision, "false_by_rule": false_by_rule,
            "compliant_flag_rate": (sum(r["false_flags"] > 0 for r in compliant) / len(compliant)) if compliant else None,
            "false_flags": sum(r["false_flags"] for r in rows),
            "events_found": f"{sum(e['found'] for e in events)}/{len(events)}",
            "recall": recall,
            "false_flags_per_hour": {
                "emotional_agent": _ratio(false_by_rule["emotional_agent"], calm_seconds["agent"] / 3600),
                "emotional_caller": _ratio(false_by_rule["emotional_caller"], calm_seconds["caller"] / 3600)},
            "calm_hours": {k: round(v / 3600, 3) for k, v in calm_seconds.items()}}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def eval_calm_real(shared: Path, tone_config: Any = None, asr: Any = None) -> dict[str, Any]:
    """Flags on real recorded calls where nobody is emotional (calls_en, phone_en): false alarms per hour."""
    out: dict[str, Any] = {"calls": [], "flags": 0, "agent_hours": 0.0, "speech_hours": 0.0}
    agent_wav = shared / "calls_en" / "Auto_Repairs_40_UTC_agent.wav"
    clips = []
    if agent_wav.exists():
        agent = load_audio(agent_wav).channels[0]
        caller = load_audio(shared / "calls_en" / "Auto_Repairs_40_UTC_caller.wav").channels[0]
        n = min(len(agent), len(caller))
        clips.append(("calls_en/Auto_Repairs_40", Audio(str(agent_wav), "real-call", 8000, 2, "wav", n / 16000,
                                                         [agent[:n], caller[:n]], "stereo")))
    phone = shared / "phone_en" / "sample.wav"
    if phone.exists():
        clips.append(("phone_en/sample", load_audio(phone)))
    for name, audio in clips:
        opts = dataclasses.replace(asr or TranscribeOptions(), language="en")
        transcript = diarize(audio, transcribe_cached(audio, opts), None)
        result = analyze_tone(audio, transcript, Call(name, audio.path, layout=audio.layout), tone_config)
        flags = [f for f in result.findings if f.kind == "tone"]
        agent_s = sum(s.end - s.start for s in transcript.segments if s.speaker == "agent")
        speech_s = sum(s.end - s.start for s in transcript.segments)
        out["calls"].append({"call": name, "flags": [(f.rule_id, f.speaker, f.start, f.end, f.evidence) for f in flags],
                             "agent_seconds": round(agent_s, 1), "speech_seconds": round(speech_s, 1)})
        out["flags"] += len(flags)
        out["agent_flags"] = out.get("agent_flags", 0) + sum(f.rule_id == "emotional_agent" for f in flags)
        out["agent_hours"] += agent_s / 3600
        out["speech_hours"] += speech_s / 3600
    out["flags_per_hour"] = _ratio(out["flags"], out["speech_hours"])
    out["agent_flags_per_hour"] = _ratio(out.get("agent_flags", 0), out["agent_hours"])
    silver = silver_transcript(shared / "calls_en")
    if silver is not None and clips and clips[0][0] == "calls_en/Auto_Repairs_40":
        # The same real call cut into segments by another transcript (calls_en's SILVER tiny.en files): flags
        # that depend on where Whisper happened to cut are not evidence. Not added to the hours: same audio.
        audio = clips[0][1]
        result = analyze_tone(audio, silver, Call("calls_en/Auto_Repairs_40 (silver)", audio.path, layout="stereo"),
                              tone_config)
        out["second_transcript"] = {"call": "calls_en/Auto_Repairs_40, SILVER segments", "flags": [
            (f.rule_id, f.speaker, f.start, f.end, f.evidence) for f in result.findings if f.kind == "tone"]}
    return out


def silver_transcript(calls_en: Path) -> Transcript | None:
    """calls_en's two SILVER files (``[start-end] text`` per line, one per channel) as one transcript."""
    segments = []
    for role in ("agent", "caller"):
        path = calls_en / f"SILVER_whisper-tiny-en_Auto_Repairs_40_UTC_{role}.txt"
        if not path.exists():
            return None
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\[\s*([\d.]+)-\s*([\d.]+)\]\s*(.*)", line)
            if match and float(match[2]) > float(match[1]):
                segments.append(Segment(role, float(match[1]), float(match[2]), match[3]))  # type: ignore[arg-type]
    segments.sort(key=lambda s: s.start)
    return Transcript("en", "silver:whisper-tiny.en", {}, max((s.end for s in segments), default=0.0), segments)


def calm_agent_rate(report: dict[str, Any]) -> dict[str, Any] | None:
    """Emotional-agent flags per hour of calm agent speech, the labelled set's (outside its agent events)
    and the real calls' together: the number the false-flag target is about."""
    smp, real = report.get("samples"), report.get("calm_real")
    if not smp and not real:
        return None
    flags = (smp["false_by_rule"]["emotional_agent"] if smp else 0) + (real.get("agent_flags", 0) if real else 0)
    hours = (smp["calm_hours"]["agent"] if smp else 0.0) + (real["agent_hours"] if real else 0.0)
    return {"flags": flags, "hours": round(hours, 3), "per_hour": _ratio(flags, hours)}


def bench(audio_path: Path, asr: Any = None, tone_config: Any = None, repeats: int = 3) -> dict[str, Any]:
    """Tone-stage CPU and wall time against transcription of the same call (transcription not cached)."""

    audio = load_audio(audio_path)
    call = Call(call_id=audio_path.stem, audio_path=str(audio_path), layout=audio.layout)  # type: ignore[arg-type]
    cfg = tone_config or ToneConfig()
    asr = asr or TranscribeOptions()
    # As in a nightly worker (pipeline.warm_up): the shared embedder gets the cores the transcription has.
    e5_model(asr.threads or os.cpu_count() or 1)
    t0, c0 = time.perf_counter(), time.process_time()
    transcript = transcribe_audio(audio, asr)
    asr_wall, asr_cpu = time.perf_counter() - t0, time.process_time() - c0
    load_sentiment(cfg.sentiment_model, cfg.text_threads)
    analyze_tone(audio, transcript, call, cfg)  # warm-up: library imports, JIT, embedder load
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        analyze_tone(audio, transcript, call, cfg)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    tone_wall, tone_cpu = float(np.median(walls)), float(np.median(cpus))
    return {"audio": str(audio_path), "duration": round(audio.duration, 1), "segments": len(transcript.segments),
            "transcribe_wall_s": round(asr_wall, 2), "transcribe_cpu_s": round(asr_cpu, 2),
            "tone_wall_s": round(tone_wall, 3), "tone_cpu_s": round(tone_cpu, 3),
            "tone_share_wall": round(tone_wall / asr_wall, 4), "tone_share_cpu": round(tone_cpu / max(asr_cpu, 1e-9), 4)}


def render(report: dict[str, Any]) -> str:
    """The report of `qa eval tone` as text."""
    lines = []
    text = report["text"]
    lines.append(f"text sentiment ({text['model']}), held-out macro-F1: "
                 + ", ".join(f"{k} {v['macro_f1']:.3f} (n={v['n']})" for k, v in text.items() if k != "model"))
    if "emotion_de" in report:
        emo = report["emotion_de"]
        lines.append(f"emotion_de: {emo['clips']} clips, {emo['speakers']} speakers, per-speaker baselines")
        lines.append("| cues | AUC anger vs neutral | AUC high vs low arousal |\n|---|---|---|")
        for cues, row in emo["auc"].items():
            lines.append(f"| {cues} | {row['anger_vs_neutral']:.3f} | {row['high_vs_low_arousal']:.3f} |")
    if "samples" in report:
        smp = report["samples"]
        rate = smp["compliant_flag_rate"]
        lines.append(f"labelled calls: tone events found {smp['events_found']}; emotional caller recall "
                     f"{smp['recall']['emotional_caller']}, precision {smp['precision']['emotional_caller']}; "
                     f"emotional agent recall {smp['recall']['emotional_agent']}; unlabelled flags "
                     f"{smp['false_flags']}; compliant calls with an unlabelled flag: "
                     f"{'n/a' if rate is None else f'{100 * rate:.0f} %'}")
        fph = smp["false_flags_per_hour"]
        lines.append(f"  false flags per hour of calm speech: emotional agent {fph['emotional_agent']} "
                     f"({smp['calm_hours']['agent']} h of agent speech), emotional caller {fph['emotional_caller']} "
                     f"({smp['calm_hours']['caller']} h)")
        if report.get("show_calls"):
            for row in smp["calls"]:
                lines.append(f"  {row['call_id']:26s} compliant={row['compliant']!s:5s} expected="
                             f"{[(e['rule'], e['start'], e['end'], e['found']) for e in row['expected']]} "
                             f"agitation={row['agitation']}")
                for f in row["flags"]:
                    lines.append(f"    {'' if f['labelled'] else 'UNLABELLED '}{f['rule']} {f['start']:.1f}-{f['end']:.1f} s: "
                                 f"{f['evidence']}")
    if "calm_real" in report:
        real = report["calm_real"]
        lines.append(f"real calm calls ({', '.join(c['call'] for c in real['calls'])}): {real['flags']} flags in "
                     f"{real['speech_hours']:.3f} h of speech ({real['flags_per_hour']} per hour); emotional agent "
                     f"{real.get('agent_flags', 0)} in {real['agent_hours']:.3f} h of agent speech")
        if "second_transcript" in real:
            second = real["second_transcript"]
            agent_flags = sum(f[0] == "emotional_agent" for f in second["flags"])
            lines.append(f"  {second['call']}: {len(second['flags'])} flags ({agent_flags} emotional agent)")
            if report.get("show_calls"):
                lines += [f"    {rule} {start:.1f}-{end:.1f} s: {evidence}" for rule, _, start, end, evidence in second["flags"]]
        if report.get("show_calls"):
            for call in real["calls"]:
                for rule, _, start, end, evidence in call["flags"]:
                    lines.append(f"    {call['call']} {rule} {start:.1f}-{end:.1f} s: {evidence}")
    agent = calm_agent_rate(report)
    if agent:
        lines.append(f"emotional-agent flags on calm agent speech (set + real calls): {agent['flags']} in "
                     f"{agent['hours']} h = {agent['per_hour']} per hour (target: at most 0.5)")
    return "\n".join(lines)
