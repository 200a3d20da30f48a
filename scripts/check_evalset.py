"""Rough intelligibility check of evalsets/calls/audio/: Whisper base transcripts vs. the voiced script text.

    .venv/bin/python scripts/check_evalset.py [--call ID ...] [--json out.json]

Stands alone (no qa_pipeline import). Each stereo channel is transcribed on its own and compared with that
speaker's utterances from labels.json; a mono file with all of them. faster-whisper, models/whisper-base, CPU
int8, the manifest's language, beam 5, VAD filter. Mandarin: CER after OpenCC t2s on both sides, punctuation
and spaces removed, 幺 read as 一, 两 as 二, and the transcript's Arabic numbers spelled in Chinese (digit by digit where
that is how the script says them, else as a value). English: WER after Whisper's English text normaliser
(transformers), which turns spelled numbers into digits on both sides, with runs of single letters and digit
groups joined into one token (a code or number read out counts as one word). "Rough": a number or a name written
differently still counts as errors.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import time
from pathlib import Path

import jiwer
import numpy as np
import opencc
import soundfile as sf
import soxr
from faster_whisper import WhisperModel
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "evalsets" / "calls"
MODEL = ROOT / "models" / "whisper-base"

T2S = opencc.OpenCC("t2s")
EN_NORM = EnglishTextNormalizer({})
ZH_DIGITS = "零一二三四五六七八九"
ZH_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def zh_value(n: int) -> str:
    """An integer below 100 000 000 as read in Chinese (二百九十, 四千三百二十, 一万八千八百)."""
    if n == 0:
        return "零"
    if n >= 10000:
        high, low = divmod(n, 10000)
        rest = zh_value(low) if low else ""
        if low and low < 1000:
            rest = "零" + rest
        return zh_value(high) + "万" + rest
    out, zero = "", False
    for unit, div in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        d, n = divmod(n, div)
        if d:
            if zero:
                out += "零"
            out += ("" if (unit == "十" and d == 1 and not out) else ZH_DIGITS[d]) + unit
            zero = False
        elif out:
            zero = True
    return out


def zh_norm(text: str, ref: str = "") -> str:
    text = T2S.convert(text).lower().replace("幺", "一").replace("两", "二")

    def number(m: re.Match[str]) -> str:
        s = m.group(0)
        digits = "".join(ZH_DIGITS[int(c)] for c in s)
        if len(s) > 8 or s.startswith("0") or digits in ref:
            return digits
        value = zh_value(int(s))
        return value if value in ref or len(s) < 5 else digits

    text = re.sub(r"\d+", number, text)
    return ZH_PUNCT.sub("", text)


def en_norm(text: str) -> str:
    """Whisper's normaliser, then spelled codes and digit groups as one token ("l h r s k 48137", "503-555-0142")."""
    text = re.sub(r"\b([A-Za-z])\.(?=[A-Za-z0-9])", r"\1 ", text)  # "L.H.R.S.K.48137"
    text = re.sub(r"(?<=\d)-(?=\d)", " ", EN_NORM(text))
    return re.sub(r"\b(?:[a-z]|\d+)(?: (?:[a-z]|\d+)\b)+", lambda m: m.group(0).replace(" ", ""), text)


def score(language: str, ref: str, hyp: str) -> tuple[int, int]:
    """(errors, reference length) in characters (zh) or words (en)."""
    if language == "zh":
        r = zh_norm(ref)
        h = zh_norm(hyp, r)
        if not r:
            return len(h), 0
        out = jiwer.process_characters(r, h or " ")
        return out.substitutions + out.deletions + out.insertions, len(r)
    r, h = en_norm(ref), en_norm(hyp)
    if not r.split():
        return len(h.split()), 0
    out = jiwer.process_words(r, h or "")
    return out.substitutions + out.deletions + out.insertions, len(r.split())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--call", action="append")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    labels = json.loads((CALLS / "labels.json").read_text(encoding="utf-8"))["calls"]
    with open(CALLS / "manifest.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if not args.call or r["call_id"] in args.call]
    model = WhisperModel(str(MODEL), device="cpu", compute_type="int8", cpu_threads=2)
    results = {}
    for row in sorted(rows, key=lambda r: (r["language"] != "zh", r["call_id"])):
        t0 = time.time()
        lang, label = row["language"], labels[row["call_id"]]
        audio, rate = sf.read(str(CALLS / row["path"]), dtype="float32", always_2d=True)
        if row["layout"] == "mono":
            parts = {"both": (audio[:, 0], label["utterances"])}
        else:
            ch = int(row["agent_channel"])
            parts = {who: (audio[:, ch if who == "agent" else 1 - ch], [u for u in label["utterances"] if u["speaker"] == who])
                     for who in ("agent", "caller")}
        errors = length = 0
        detail = {}
        for who, (x, utts) in parts.items():
            x16 = soxr.resample(x, rate, 16000).astype(np.float32)
            segments, _ = model.transcribe(x16, language=lang, beam_size=5, vad_filter=True)
            hyp = ("" if lang == "zh" else " ").join(s.text.strip() for s in segments)
            ref = ("" if lang == "zh" else " ").join(u["text"] for u in utts)
            e, n = score(lang, ref, hyp)
            errors, length = errors + e, length + n
            detail[who] = {"errors": e, "length": n, "rate": e / max(n, 1), "hyp": hyp}
        rate_ = errors / max(length, 1)
        results[row["call_id"]] = {"language": lang, "errors": errors, "length": length, "rate": rate_, "parts": detail}
        parts_txt = "  ".join(f"{w} {d['rate']:.1%}" for w, d in detail.items())
        print(f"{row['call_id']:34s} {lang}  {'CER' if lang == 'zh' else 'WER'} {rate_:6.1%}  ({parts_txt})  "
              f"{time.time() - t0:4.0f} s", flush=True)
    for lang in ("zh", "en"):
        mine = [r for r in results.values() if r["language"] == lang]
        if mine:
            overall = sum(r["errors"] for r in mine) / max(sum(r["length"] for r in mine), 1)
            median = statistics.median(r["rate"] for r in mine)
            print(f"{lang}: overall {'CER' if lang == 'zh' else 'WER'} {overall:.1%}, median {median:.1%}, "
                  f"worst {max(r['rate'] for r in mine):.1%} over {len(mine)} calls")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
