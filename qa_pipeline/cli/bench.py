"""`qa bench …`: speed benchmarks that print numbers (qa_pipeline.eval)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qa_pipeline.cli.common import (
    ConfigOpt,
    DataOpt,
    JsonOpt,
    Typer,
    err,
    load_settings,
    out,
    shared_data_dir,
    write_json,
)
from qa_pipeline.eval import bench_nightly as nightly_bench
from qa_pipeline.eval import bench_rules as rules_bench
from qa_pipeline.eval import bench_transcribe as transcribe_bench
from qa_pipeline.eval import tone as tone_eval

app = Typer(help="Speed benchmarks that print numbers.")
REPO = Path(__file__).resolve().parents[2]


@app.command("nightly")
def bench_nightly(
    source: Annotated[Path, typer.Argument(help="Folder or manifest, as for qa nightly.")] = Path("recordings_sample"),
    workers: Annotated[list[int] | None, typer.Option("--workers", help="Worker counts to compare (repeatable).")] = None,
    batch_calls: Annotated[list[int] | None, typer.Option(
        "--batch-calls", help="Calls whose speech windows a worker decodes together (repeatable; default 1 and 4).")] = None,
    peers: Annotated[bool, typer.Option("--peers/--no-peers", help="Also time faster-whisper's own ways on the same audio.")] = True,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wall time per stage, end-to-end RTF, WER/CER and peak memory of the pipeline vs faster-whisper's own ways."""
    cfg = load_settings(config)
    result = nightly_bench.bench_nightly(source, cfg, workers or [1], peers, batch_calls or [1, 4])
    if as_json:
        write_json(result)
        return
    table = Table(title=f"qa bench nightly · {source} · model {result['model']} {result['compute_type']} · "
                        f"{result['cores']} cores · load {result['load_1min']['start']} → {result['load_1min']['end']}")
    names = [p["peer"] for p in result["peers"]]
    for col in ("run", "calls", "audio s", "wall s", "RTF", "non-ASR / wall", *(f"vs {n}" for n in names),
                "WER en", "CER zh", "peak PSS MB (tree)"):
        table.add_column(col, justify="right")
    for r in result["pipeline"]:
        table.add_row(f"pipeline, {r['workers']} worker(s) × {r['threads_per_worker']} threads, "
                      f"{r['batch_calls']} call(s) a batch", str(r["calls"]), f"{r['audio_seconds']:.0f}",
                      f"{r['wall_seconds']:.1f}", f"{r['rtf']:.3f}", f"{r['non_asr_share_of_wall']:.1%}",
                      *(f"{r[f'speedup_vs_{n}']:.2f}×" for n in names), _rate(r.get("wer_en")), _rate(r.get("cer_zh")),
                      f"{r['peak_rss_mb']:.0f}")
    for p in result["peers"]:
        table.add_row(f"{p['peer']}, {p['threads']} threads", str(p["calls"]), f"{p['audio_seconds']:.0f}",
                      f"{p['wall_seconds']:.1f}", f"{p['rtf']:.3f}", "", *("" for _ in names),
                      _rate(p.get("wer_en")), _rate(p.get("cer_zh")), f"{p['peak_rss_mb']:.0f}")
    out.print(table)
    for r in result["pipeline"]:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stage_seconds"].items())
        out.print(f"stages ({r['workers']} worker(s), {r['batch_calls']} call(s) a batch, summed over calls): {stages}",
                  highlight=False)


@app.command("transcribe")
def bench_transcribe(
    audio: Annotated[Path | None, typer.Argument(help="Stereo call (default: the real sample call).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for every configuration.")] = 2,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds on the call, the order rotating each round.")] = 1,
    refs: Annotated[bool, typer.Option("--refs/--no-refs", help="Also score every configuration on the real reference clips.")] = True,
    data: DataOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Time this pipeline (no cache) against plain, batched-mono and batched-per-channel faster-whisper, same model."""
    cfg = load_settings(config)
    data_dir = shared_data_dir(data)
    with tempfile.TemporaryDirectory() as tmp:
        if audio is None:
            audio = transcribe_bench.default_call(REPO, data_dir or Path("/nonexistent"), Path(tmp))
            if audio is None:
                err.print("skipped: no sample call (recordings_sample/ or ../shared/data/calls_en is absent)")
                return
        references = transcribe_bench.real_references(data_dir) if refs else []
        result = transcribe_bench.bench_transcribe(audio, cfg.asr, threads, rounds, references)
    if as_json:
        write_json(result)
        return
    load = result["load_1min"]
    table = Table(title=f"qa bench transcribe · {Path(result['audio']).name} ({result['audio_seconds']:.0f} s) · "
                        f"{result['model']} {result['compute_type']} · {threads} threads · {rounds} round(s) · "
                        f"load {load['start']} → {load['end']}")
    for col in ("configuration", "wall s (median)", "RTF", "CPU s", "time / ours", "words", "peak RSS MB",
                "WER en (refs)", "CER zh (refs)"):
        table.add_column(col, justify="right")
    for name, r in result["summary"].items():
        table.add_row(name, f"{r['seconds']:.1f}", f"{r['rtf']:.3f}", f"{r['cpu_seconds']:.1f}", f"{r['time_vs_ours']:.2f}",
                      str(r["words"]), f"{r['peak_rss_mb']:.0f}", _rate(r.get("wer_en")), _rate(r.get("cer_zh")))
    out.print(table)
    if not references:
        out.print("no reference clips scored (--no-refs, or ../shared/data absent)", highlight=False)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


@app.command("rules")
def bench_rules(
    n_rules: Annotated[int, typer.Option("--rules", help="Number of phrase rules.")] = 500,
    hours: Annotated[float, typer.Option("--hours", help="Length of the synthetic transcript.")] = 1.0,
    language: Annotated[str, typer.Option("--language", help="zh | en")] = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Time phrase matching: N rules over an H-hour two-speaker transcript (built from the defaults' examples)."""
    result = rules_bench.bench(n_rules, hours, language)
    if as_json:
        write_json(result)
        return
    for key, value in result.items():
        out.print(f"{key:28s} {value}", highlight=False)


@app.command("tone")
def bench_tone(
    audio: Annotated[Path, typer.Argument(help="A call recording (default: the real stereo sample call).")] = Path(
        "recordings_sample/real_auto_repairs_40.flac"),
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tone-stage time vs transcription time of the same call (target: tone ≤ 10 %)."""
    cfg = load_settings(config)
    row = tone_eval.bench(audio, cfg.asr, cfg.tone)
    if as_json:
        write_json(row)
        return
    out.print(f"{row['audio']}: {row['duration']} s, {row['segments']} segments", highlight=False)
    out.print(f"transcribe: {row['transcribe_wall_s']} s wall, {row['transcribe_cpu_s']} s CPU", highlight=False)
    out.print(f"tone:       {row['tone_wall_s']} s wall, {row['tone_cpu_s']} s CPU "
              f"= {100 * row['tone_share_wall']:.1f} % of transcription (wall), {100 * row['tone_share_cpu']:.1f} % (CPU)",
              highlight=False)
