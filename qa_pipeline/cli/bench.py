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
    plain: Annotated[bool, typer.Option("--plain/--no-plain", help="Also time plain faster-whisper on the same audio.")] = True,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wall time per stage, end-to-end RTF and peak RSS of the pipeline vs plain faster-whisper."""
    cfg = load_settings(config)
    result = nightly_bench.bench_nightly(source, cfg, workers or [1, 2], plain)
    if as_json:
        write_json(result)
        return
    table = Table(title=f"qa bench nightly · {source} · model {result['model']} {result['compute_type']} · "
                        f"{result['cores']} cores")
    for col in ("run", "calls", "audio s", "wall s", "RTF", "non-ASR / stages", "non-ASR / wall", "vs plain",
                "peak PSS MB (tree)", "peak RSS MB (1 process)"):
        table.add_column(col, justify="right")
    for r in result["pipeline"]:
        table.add_row(f"pipeline, {r['workers']} worker(s) × {r['threads_per_worker']} threads", str(r["calls"]),
                      f"{r['audio_seconds']:.0f}", f"{r['wall_seconds']:.1f}", f"{r['rtf']:.3f}",
                      f"{r['non_asr_share']:.1%}", f"{r['non_asr_share_of_wall']:.1%}",
                      f"{r.get('speedup_vs_plain', 0):.2f}×", f"{r['peak_rss_mb']:.0f}", f"{r['peak_rss_one_process_mb']:.0f}")
    if "plain_faster_whisper" in result:
        p = result["plain_faster_whisper"]
        table.add_row(f"plain faster-whisper, mono mix, {p['threads']} threads", str(p["calls"]), f"{p['audio_seconds']:.0f}",
                      f"{p['wall_seconds']:.1f}", f"{p['rtf']:.3f}", "", "", "1.00×", f"{p['peak_rss_mb']:.0f}",
                      f"{p['peak_rss_one_process_mb']:.0f}")
    out.print(table)
    for r in result["pipeline"]:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stage_seconds"].items())
        out.print(f"stages ({r['workers']} worker(s), summed over calls): {stages}", highlight=False)


@app.command("transcribe")
def bench_transcribe(
    audio: Annotated[Path | None, typer.Argument(help="Stereo call (default: the real sample call).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for both runs.")] = 2,
    data: DataOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Time (a) this pipeline (no cache) and (b) plain faster-whisper on the same call mixed to mono."""
    cfg = load_settings(config)
    with tempfile.TemporaryDirectory() as tmp:
        if audio is None:
            data_dir = shared_data_dir(data)
            audio = transcribe_bench.default_call(REPO, data_dir or Path("/nonexistent"), Path(tmp))
            if audio is None:
                err.print("skipped: no sample call (recordings_sample/ or ../shared/data/calls_en is absent)")
                return
        result = transcribe_bench.bench_transcribe(audio, cfg.asr, threads)
    if as_json:
        write_json(result.to_dict())
        return
    out.print(f"audio {result.audio} · {result.audio_seconds:.1f} s · model {result.model} · {threads} threads",
              highlight=False, soft_wrap=True)
    out.print(f"(a) qa pipeline, per speaker:   {result.pipeline_seconds:6.1f} s wall  RTF {result.pipeline_rtf:.3f}  "
              f"cpu {result.pipeline_cpu_seconds:.1f} s  {result.pipeline_words} words", highlight=False, soft_wrap=True)
    out.print(f"(b) faster-whisper, mono mix:   {result.plain_seconds:6.1f} s wall  RTF {result.plain_rtf:.3f}  "
              f"cpu {result.plain_cpu_seconds:.1f} s  {result.plain_words} words", highlight=False, soft_wrap=True)
    out.print(f"ratio (b)/(a): {result.ratio:.2f}   peak RSS {result.peak_rss_mb:.0f} MB", highlight=False, soft_wrap=True)


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
