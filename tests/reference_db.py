"""A database of the labelled sample calls built without Whisper, in seconds: the real pipeline stages (rules,
tone on the real audio, PII, scoring) run on each call's reference transcript (recordings_sample/labels.json,
words evenly spaced over each utterance), and the results go through the real store and queue.

Calls without reference utterances (the real role-played call) are left out."""

from __future__ import annotations

import json
from pathlib import Path

from qa_pipeline.contracts import Segment, Transcript, Word

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "recordings_sample"


def _words(text: str, start: float, end: float, language: str) -> list[Word]:
    pieces = [ch for ch in text if not ch.isspace()] if language == "zh" else text.split()
    step = (end - start) / max(1, len(pieces))
    return [Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), p, 0.95) for i, p in enumerate(pieces)]


def reference_transcript(label: dict, duration: float) -> Transcript:
    """The labelled utterances of a call as a Transcript (speaker roles as labelled)."""
    lang = label["language"]
    segments = [Segment(u["speaker"], u["start"], u["end"], u["text"], u["text"], -0.2, 0.01,
                        _words(u["text"], u["start"], u["end"], lang)) for u in label["utterances"]]
    return Transcript(language=lang, model_id="reference", settings={"source": "labels.json"},
                      duration=duration, segments=segments)


def reference_results(config=None, call_ids: list[str] | None = None) -> list:
    """CallResults of the labelled sample calls (or ``call_ids``) through the real stages on their reference
    transcripts, with ``config`` (default: the packaged defaults)."""
    from qa_pipeline.base.audio import load_audio
    from qa_pipeline.batch.discover import read_manifest
    from qa_pipeline.config import load_config
    from qa_pipeline.pipeline import analyze_call

    config = config or load_config(None)
    labels = json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))["calls"]
    results = []
    for call in read_manifest(SAMPLES / "manifest.csv").calls:
        label = labels.get(call.call_id)
        if not label or not label["utterances"] or (call_ids is not None and call.call_id not in call_ids):
            continue
        audio = load_audio(call.audio_path, config.audio.max_seconds, call.agent_channel, call.layout)
        results.append(analyze_call(call, config, audio, transcript=reference_transcript(label, audio.duration)))
    return results


def build_reference_db(db: Path) -> Path:
    """Every labelled sample call through the real stages (reference transcripts) into ``db``; the queue built."""
    from qa_pipeline.config import load_config
    from qa_pipeline.store.db import Store

    config = load_config(None)
    store = Store(db)
    run_id = store.start_run({"source": "reference transcripts"})
    results = reference_results(config)
    for result in results:
        store.ingest_result(result, run_id)
    store.rebuild_queue(config.queue)
    store.finish_run(run_id, {"processed": len(results)}, "ok")
    store.close()
    return db


RERUN_ASSIST = (("greeting",), ("closing", "politeness"))
RERUN_CALLS = ("en_agent_temper", "zh_banned_provocation", "en_pii_readback")


def build_reruns(path: Path) -> Path:
    """Two re-runs of RERUN_CALLS with RERUN_ASSIST in assist mode (new versions, so new results), as JSON."""
    import dataclasses

    from qa_pipeline.config import load_config
    from qa_pipeline.contracts import to_dict

    runs = [[to_dict(r) for r in reference_results(dataclasses.replace(load_config(None), assist=assist),
                                                    list(RERUN_CALLS))] for assist in RERUN_ASSIST]
    path.write_text(json.dumps(runs, ensure_ascii=False), encoding="utf-8")
    return path
