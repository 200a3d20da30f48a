"""What each mechanism of the transcription profile costs and what it buys (issue 18, point 3).

Each variant turns one mechanism off (or to faster-whisper's own setting) and is run, in one process with the
same model, on (a) the real stereo call for its time (no reference: its words are compared to the default's
only as a count) and (b) the real reference clips (../shared/data) and the dev half of the independent voiced
calls (evalsets/calls, ``split: dev``) for WER / CER. The variants run in turn on the real call, then on the
references; load is printed with the numbers.

    QA_SHARED_DATA=../shared/data PYTHONPATH=$PWD .venv/bin/python scripts/bench_mechanisms.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.base.audio import load_audio  # noqa: E402
from qa_pipeline.base.models import load_whisper  # noqa: E402
from qa_pipeline.config import load_config  # noqa: E402
from qa_pipeline.eval.asr import find_references, sample_references  # noqa: E402
from qa_pipeline.eval.bench_transcribe import OURS, run_config  # noqa: E402
from qa_pipeline.eval.peers import score  # noqa: E402
from qa_pipeline.stages.transcribe import encoder as encoder_module  # noqa: E402

NO_GATES = {"no_speech_threshold": 1.0, "hard_logprob_threshold": -100.0, "compression_ratio_threshold": 100.0,
            "min_word_prob": 0.0, "max_ngram_repeats": 1000}
VARIANTS: dict[str, dict] = {
    "default": {},
    "no re-decoded tails": {"tail_retry_seconds": 0.0},
    "no timestamp tokens": {"timestamps": False},
    "no timestamp tokens, no tails": {"timestamps": False, "tail_retry_seconds": 0.0},
    "beam 3": {"beam_size": 3},
    "beam 2": {"beam_size": 2},
    "batch 4": {"batch_size": 4},
    "batch 16": {"batch_size": 16},
    "no gates": NO_GATES,
    "faster-whisper VAD (0.5, 160 ms)": {"vad_threshold": 0.5, "vad_min_silence_ms": 160},
    "encoder batched on CPU": {"_batched_encoder": True},
    "language given (no probe)": {"_language": True},
}


def dev_calls(limit: int) -> list:
    folder = ROOT / "evalsets" / "calls"
    if not (folder / "labels.json").exists():
        return []
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))["calls"]
    refs = [r for r in sample_references(folder) if labels[r.id.split("/", 1)[1]].get("split") == "dev"]
    # The shortest of each language, so that a run fits a shared 2-core machine.
    by_lang: dict[str, list] = {}
    for ref in sorted(refs, key=lambda r: r.path.stat().st_size):
        by_lang.setdefault(ref.language, []).append(ref)
    return [r for lang in sorted(by_lang) for r in by_lang[lang][: max(1, limit // 2)]]


def run(variant: str, audio, opts, language: str | None):
    change = dict(VARIANTS[variant])
    batched = change.pop("_batched_encoder", False)
    given = change.pop("_language", False)
    opts = dataclasses.replace(opts, **change)
    original = encoder_module.WindowEncoder._one_by_one
    if batched:
        encoder_module.WindowEncoder._one_by_one = property(lambda self: False)
    try:
        # Every variant detects the language itself (the probe), but the one that is given it.
        return run_config(OURS, audio, opts, language if given else None)
    finally:
        encoder_module.WindowEncoder._one_by_one = original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4, help="dev calls of evalsets/calls (half per language)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", action="append", choices=list(VARIANTS),
                        help="run only these variants (repeatable; default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.variant or list(VARIANTS)
    opts = dataclasses.replace(load_config(None).asr, threads=args.threads)
    load_whisper(opts.model, opts.device, opts.compute_type, args.threads)
    data = Path(os.environ.get("QA_SHARED_DATA", ROOT.parent / "shared" / "data"))
    call = load_audio(ROOT / "recordings_sample" / "real_auto_repairs_40.flac")
    refs = (find_references(data) if data.is_dir() else []) + dev_calls(args.calls)
    out = {"load_start": os.getloadavg()[0], "variants": {}}
    for name in names:
        r = run(name, call, opts, "en")
        out["variants"][name] = {"call_seconds": r.seconds, "call_cpu_seconds": r.cpu_seconds, "call_words": r.words}
    out["load_after_call"] = os.getloadavg()[0]
    for name in names:
        row = out["variants"][name]
        for ref in refs:
            clip = load_audio(ref.path, layout=ref.layout)
            r = run(name, clip, opts, ref.language)
            errors, length = score(ref, r.texts)
            kind = ("synthetic_" if ref.synthetic else "real_") + ref.language
            row[f"{kind}_errors"] = row.get(f"{kind}_errors", 0) + errors
            row[f"{kind}_length"] = row.get(f"{kind}_length", 0) + length
            row["refs_seconds"] = round(row.get("refs_seconds", 0.0) + r.seconds, 3)
    out["load_end"] = os.getloadavg()[0]
    out["references"] = [r.id for r in refs]
    if args.json:
        print(json.dumps(out, indent=1))
        return
    kinds = ("real_en", "real_zh", "synthetic_en", "synthetic_zh")
    print(f"load {out['load_start']:.2f} -> {out['load_after_call']:.2f} -> {out['load_end']:.2f}; "
          f"{len(refs)} reference clips")
    print("| variant | real call s | CPU s | words | " + " | ".join(kinds) + " | refs s |")
    print("|---|---|---|---|" + "---|" * len(kinds) + "---|")
    for name, row in out["variants"].items():
        rates = [f"{row[f'{k}_errors'] / row[f'{k}_length']:.1%}" if row.get(f"{k}_length") else "–" for k in kinds]
        print(f"| {name} | {row['call_seconds']:.1f} | {row['call_cpu_seconds']:.1f} | {row['call_words']} | "
              + " | ".join(rates) + f" | {row.get('refs_seconds', 0):.1f} |")


if __name__ == "__main__":
    main()
