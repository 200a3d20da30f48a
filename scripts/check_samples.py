"""Is the synthesized speech in recordings_sample/ recognisable? Whisper transcripts vs. the synthesized text.

    QA_CACHE_DIR=/work/cache python scripts/check_samples.py [--model base] [--json]

For every call of ``manifest.csv`` this transcribes the file with ``transcribe_cached`` (the product's own
telephony profile, language from the manifest) and prints, per channel, the CER (Mandarin) or WER
(English) of the transcript against the text that ``labels.json`` says was synthesized, after
``normalize_for_match`` (and digits spelled digit by digit, 幺 = 一). Mono calls are scored as one channel. It also checks the phrases that matter
(banned phrases, allowed sentences, escalations, script steps, PII): a phrase counts as heard when the
speaker's normalised transcript contains it with a fuzzy partial-match score of at least 80.

``--plain`` decodes each channel with plain faster-whisper instead (VAD, beam 5, no hallucination gates,
no chunk packing): it separates "the synthesized speech is unintelligible" from "the pipeline dropped it".
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import jiwer
from rapidfuzz import fuzz

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.base.audio import load_audio  # noqa: E402
from qa_pipeline.base.textnorm import normalize_for_match  # noqa: E402
from qa_pipeline.config import ZH_PROMPT, TranscribeOptions  # noqa: E402
from qa_pipeline.stages.transcribe import cache_dir, transcribe_cached  # noqa: E402

SAMPLES = ROOT / "recordings_sample"
HEARD_SCORE = 80.0
PHRASE_KINDS = ("banned_phrase", "allowed", "escalation", "script_step", "pii")


EN_DIGITS = dict(zip("0123456789", "zero one two three four five six seven eight nine".split()))


def canon(text: str) -> str:
    """normalize_for_match, plus: digits are spoken digit by digit in these calls, so "4155" and "four one
    five five" (and 幺 for 一 in phone numbers) are the same words, not errors."""
    text = normalize_for_match(text).replace("幺", "一")
    return re.sub(r"\d", lambda m: f" {EN_DIGITS[m.group()]} ", text).strip()


def error_rate(language: str, reference: str, hypothesis: str) -> float:
    ref, hyp = canon(reference), canon(hypothesis)
    if not ref:
        return float("nan")
    if language == "zh":  # characters; spaces carry no meaning in Chinese
        return jiwer.cer(ref.replace(" ", ""), hyp.replace(" ", "") or "∅")
    return jiwer.wer(ref, hyp or "∅")


def heard(phrase: str, transcript_text: str) -> bool:
    target, text = canon(phrase).replace(" ", ""), canon(transcript_text).replace(" ", "")
    return bool(target) and fuzz.partial_ratio(target, text) >= HEARD_SCORE


def plain_texts(audio, language: str, model_name: str) -> dict[str, str]:
    """Plain faster-whisper per channel (cached beside the pipeline's transcripts)."""
    path = cache_dir() / "check_samples_plain" / f"{audio.sha256[:16]}_{audio.layout}_{model_name}_{language}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from qa_pipeline.base.models import load_whisper

    model, _ = load_whisper(model_name)
    names = ["agent", "caller"] if audio.layout == "stereo" else ["mono"]
    texts = {}
    for name, samples in zip(names, audio.channels):
        segments, _ = model.transcribe(samples, language=language, beam_size=5, vad_filter=True,
                                       condition_on_previous_text=False,
                                       initial_prompt=ZH_PROMPT if language == "zh" else None)
        texts[name] = " ".join(s.text for s in segments)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    return texts


def check_call(row: dict[str, str], label: dict, model: str, plain: bool = False) -> dict:
    audio = load_audio(SAMPLES / row["path"], agent_channel=int(row["agent_channel"] or 0), layout=row["layout"])
    if plain:
        texts = plain_texts(audio, row["language"], model)
    else:
        transcript = transcribe_cached(audio, TranscribeOptions(model=model, language=row["language"]))
        texts = {ch: " ".join(s.text for s in transcript.segments if ch == "mono" or s.speaker == ch)
                 for ch in ("agent", "caller", "mono")}
    language = label["language"]
    channels = ["agent", "caller"] if label["layout"] == "stereo" else ["mono"]
    result: dict = {"call_id": row["call_id"], "language": language, "layout": label["layout"], "channels": {}}
    said = {}
    for ch in channels:
        ref = " ".join(u["text"] for u in label["utterances"] if ch == "mono" or u["speaker"] == ch)
        hyp = texts[ch]
        said[ch] = hyp
        if ref:
            result["channels"][ch] = round(error_rate(language, ref, hyp), 3)
    phrases = [e for e in label["events"] if e["kind"] in PHRASE_KINDS and e.get("text")]
    missed = [e for e in phrases if not heard(e["text"], said["mono" if "mono" in said else e["speaker"]])]
    result["phrases"] = len(phrases)
    result["missed"] = [f'{e["kind"]}:{e.get("category") or e.get("step") or e.get("type") or ""} "{e["text"]}"'
                        for e in missed]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--plain", action="store_true", help="plain faster-whisper per channel, not the pipeline")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("calls", nargs="*", help="only these call ids")
    args = parser.parse_args()
    labels = json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))["calls"]
    with open(SAMPLES / "manifest.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if not args.calls or r["call_id"] in args.calls]
    results = []
    for row in rows:
        results.append(check_call(row, labels[row["call_id"]], args.model, args.plain))
        if not args.json:
            r = results[-1]
            metric = "CER" if r["language"] == "zh" else "WER"
            rates = "  ".join(f"{ch} {metric} {v:5.1%}" for ch, v in r["channels"].items()) or "(no reference)"
            print(f"{r['call_id']:28s} {rates:42s} phrases heard {r['phrases'] - len(r['missed'])}/{r['phrases']}",
                  flush=True)
            for m in r["missed"]:
                print(f"    missed {m}")
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
