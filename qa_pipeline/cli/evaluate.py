"""`qa eval …`: accuracy evaluations that print numbers (qa_pipeline.eval)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import qa_pipeline as qa
from qa_pipeline.cli.common import (
    ConfigOpt,
    DataOpt,
    JsonOpt,
    RulesOpt,
    Typer,
    err,
    fail,
    load_settings,
    out,
    shared_data_dir,
    shared_dir,
    write_json,
)
from qa_pipeline.contracts import to_dict
from qa_pipeline.errors import EXIT_SOME_QUARANTINED, EXIT_USAGE
from qa_pipeline.eval import asr as asr_eval
from qa_pipeline.eval import diarization as diarization_eval
from qa_pipeline.eval import pii as pii_eval
from qa_pipeline.eval import rules as rules_eval
from qa_pipeline.eval import tone as tone_eval
from qa_pipeline.eval import utterances as utterance_eval
from qa_pipeline.eval import vocabulary as vocabulary_eval

app = Typer(help="Accuracy evaluations that print numbers.")
SamplesOpt = Annotated[Path | None, typer.Option("--samples", help="Sample calls dir (manifest.csv, labels.json).")]


@app.command("asr")
def eval_asr(
    data: DataOpt = None,
    models: Annotated[list[str] | None, typer.Option("--model", help="Plain models to score (default: base, tiny.en).")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Score only clips whose id contains this.")] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Also score the synthesized sample calls "
                                                 "(e.g. recordings_sample) against their scripts, apart.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """WER (English) and CER (Mandarin) of each model and of the default profile on ../shared/data."""
    cfg = load_settings(config)
    data_dir = shared_data_dir(data)
    if data_dir is None:
        err.print("skipped: no reference data (../shared/data or $QA_SHARED_DATA is absent)")
        return
    report = asr_eval.evaluate(data_dir, cfg.asr, tuple(models or ("base", "tiny.en")), only, samples)
    if as_json:
        write_json(report.to_dict())
        return
    profiles = report.profiles()
    models_used = {p: sorted({c.model for c in report.clips if c.profile == p}) for p in profiles}
    table = Table(title=f"ASR error rates (WER en, CER zh) on {data_dir}")
    table.add_column("clip")
    table.add_column("lang")
    for p in profiles:
        table.add_column(p if p != "default" else f"default ({'/'.join(models_used[p])})", justify="right")
    by_key = {(c.profile, c.id): c for c in report.clips}
    for clip_id, lang in dict.fromkeys((c.id, c.language) for c in report.clips):
        table.add_row(clip_id, lang, *[f"{by_key[(p, clip_id)].rate:.1%}" if (p, clip_id) in by_key else "–"
                                       for p in profiles])
    table.add_section()
    for lang, label in (("en", "English WER"), ("zh", "Mandarin CER")):
        values = [report.aggregate(p, lang) for p in profiles]
        table.add_row(f"all: {label}", lang, *["–" if v is None else f"{v:.1%}" for v in values], style="bold")
        means = [report.mean_rate(p, lang) for p in profiles]
        table.add_row(f"mean per clip: {label}", lang, *["–" if v is None else f"{v:.1%}" for v in means])
        synthetic = [report.aggregate(p, lang, synthetic=True) for p in profiles]
        if any(v is not None for v in synthetic):
            table.add_row(f"synthetic samples (TTS): {label}", lang,
                          *["–" if v is None else f"{v:.1%}" for v in synthetic], style="italic")
    out.print(table)


SetOpt = Annotated[str, typer.Option("--set", help="samples (recordings_sample) | utterances | calls (evalsets/) | a folder "
                                                 "with manifest.csv and labels.json.")]
SplitOpt = Annotated[str, typer.Option("--split", help="dev (tune on it) | test (score once, at the end) | all")]
EVALSETS = Path("evalsets")


def set_folder(name: str) -> Path:
    """The folder an evaluation set lives in: the samples, a set under evalsets/, or a path."""
    if name == "samples":
        return Path("recordings_sample")
    if (EVALSETS / name).is_dir():
        return EVALSETS / name
    return Path(name)


@app.command("rules")
def eval_rules(
    set_name: SetOpt = "samples",
    split: SplitOpt = "dev",
    language: Annotated[list[str] | None, typer.Option("--language", help="zh | en (repeatable; default both)")] = None,
    rules: RulesOpt = None,
    model: Annotated[str, typer.Option("--model", help="Whisper model whose transcripts are evaluated.")] = "base",
    errors: Annotated[bool, typer.Option("--errors", help="List every miss and false alarm (dev split only).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Precision/recall of banned and escalation phrases and of script steps, per step and category."""
    if errors and split == "test":
        raise fail("--errors lists the items it gets wrong: only for the dev split (the test split is scored blind)",
                   EXIT_USAGE)
    if set_name == "utterances":
        reports = [utterance_eval.evaluate(EVALSETS, lang, split, rules) for lang in language or ("zh", "en")]
        if as_json:
            write_json([r.as_dict() if errors else {**r.as_dict(), "errors": len(r.errors)} for r in reports])
        else:
            for r in reports:
                out.print(utterance_eval.render(r, errors), highlight=False, markup=False, soft_wrap=True)
        return
    folder = set_folder(set_name)
    if not (folder / "labels.json").exists():
        raise fail(f"{folder}: no labels.json (run scripts/make_samples.py or scripts/make_evalset.py)",
                   EXIT_SOME_QUARANTINED)
    report = rules_eval.run(folder, model, rules, shared=shared_dir() if set_name == "samples" else None,
                            split="all" if set_name == "samples" else split)
    if as_json:
        write_json(to_dict(report))
    else:
        out.print(rules_eval.render(report), highlight=False, markup=False, soft_wrap=True)


@app.command("diarization")
def eval_diarization(
    set_name: SetOpt = "samples",
    split: SplitOpt = "dev",
    config: ConfigOpt = None,
    mono_samples_only: Annotated[bool, typer.Option("--mono-samples-only", help="Skip mixing every stereo call.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """DER on the real phone call; word role accuracy on stereo calls mixed to mono and on mono calls."""
    cfg = load_settings(config)
    report = diarization_eval.evaluate_diarization(shared_dir(), set_folder(set_name), cfg,
                                                   include_stereo_samples=not mono_samples_only,
                                                   split="all" if set_name == "samples" else split)
    if as_json:
        write_json(dataclasses.asdict(report))
        return
    for name, der in (("DER (frames)", report.der), ("DER (word turns)", report.der_words)):
        if der:
            out.print(f"{name} {der['file']}: {der['der']:.1%} (missed {der['missed']:.2f} s, false alarm "
                      f"{der['false_alarm']:.2f} s, confusion {der['confusion']:.2f} s of {der['total']:.2f} s; "
                      "collar 0.25 s)", highlight=False)
    for r in report.roles:
        acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        out.print(f"roles {r['call']}: {acc} of {r['words']} words ({r['unscored']} in overlap, not scored)"
                  + (f" · role confidence {r['role_confidence']:.2f}" if r.get("role_confidence") is not None else ""),
                  highlight=False)


@app.command("vocabulary")
def eval_vocabulary(
    set_name: SetOpt = "calls",
    split: SplitOpt = "dev",
    names: Annotated[Path | None, typer.Option("--names", help="Names per call (YAML call_id: [name, …]); "
                                               "default: vocabulary.yaml in the set's folder.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recall of each call's company and product names in its transcript, without and with asr.vocabulary."""
    cfg = load_settings(config)
    folder = set_folder(set_name)
    names = names or folder / "vocabulary.yaml"
    if not (folder / "labels.json").exists():
        raise fail(f"{folder}: no labels.json (run scripts/make_evalset.py)", EXIT_SOME_QUARANTINED)
    report = vocabulary_eval.evaluate_vocabulary(folder, cfg.asr, names, split)
    if as_json:
        write_json(report.as_dict())
    else:
        # The dev split lists what Whisper wrote for each name; the test split is scored blind.
        out.print(vocabulary_eval.render(report, show_misses=split != "test"), highlight=False, markup=False,
                  soft_wrap=True)


@app.command("pii")
def eval_pii(
    set_name: SetOpt = "samples",
    split: SplitOpt = "dev",
    language: Annotated[list[str] | None, typer.Option("--language", help="zh | en (utterances; default both)")] = None,
    samples: SamplesOpt = Path("recordings_sample"),
    config: ConfigOpt = None,
    no_audio_check: Annotated[bool, typer.Option("--no-audio-check", help="Skip re-transcribing redacted audio.")] = False,
    errors: Annotated[bool, typer.Option("--errors", help="List every miss and false alarm (dev split only).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Personal data: precision and recall per type (card, ID, phone, e-mail, address, name, date of birth,
    security code…), non-personal numbers raised as findings, digits left in redacted audio."""
    if errors and split == "test":
        raise fail("--errors lists the items it gets wrong: only for the dev split (the test split is scored blind)",
                   EXIT_USAGE)
    cfg = load_settings(config)
    if set_name == "utterances":
        reports = [utterance_eval.evaluate(EVALSETS, lang, split, privacy=cfg.privacy, pii_only=True)
                   for lang in language or ("zh", "en")]
        if as_json:
            write_json([{k: v for k, v in r.as_dict().items() if k in ("language", "split", "items", "pii", "non_pii")}
                        | ({"errors": r.errors} if errors else {}) for r in reports])
            return
        for r in reports:
            out.print(pii_eval.render_types(f"utterances {r.language} ({split}): {r.items} items", r.pii,
                                            (r.non_pii_flagged, r.non_pii_items)), highlight=False, markup=False, soft_wrap=True)
            for e in r.errors if errors else []:
                out.print(f"    {e['id']}: {e['text']} gold {e['gold']} found {e['found']}", highlight=False, markup=False)
        return
    if set_name == "samples":
        text_only = pii_eval.evaluate_pii_on_reference_text(samples)
        if not as_json:
            out.print(pii_eval.render_report(text_only, "detector on scripted text (no ASR)"), highlight=False,
                      markup=False, soft_wrap=True)
        report = pii_eval.evaluate_pii(shared_dir(), samples, cfg.asr, check_redacted_audio=not no_audio_check,
                                       pad=cfg.privacy.pad_seconds)
    else:
        folder = set_folder(set_name)
        if not (folder / "labels.json").exists():
            raise fail(f"{folder}: no labels.json (run scripts/make_evalset.py)", EXIT_SOME_QUARANTINED)
        text_only = None
        report = pii_eval.evaluate_pii_set(folder, split, cfg.asr.model, check_redacted_audio=not no_audio_check,
                                           pad=cfg.privacy.pad_seconds)
    if as_json:
        write_json({"end_to_end": report.as_dict()} | ({"reference_text": text_only.as_dict()} if text_only else {}))
        return
    out.print(pii_eval.render_report(report, f"{set_name} ({split if set_name != 'samples' else 'all'}), end to end "
                                     "(audio -> ASR -> detector)", files=True, details=errors or set_name == "samples"),
              highlight=False, markup=False, soft_wrap=True)


@app.command("tone")
def eval_tone(
    set_name: SetOpt = "calls",
    split: SplitOpt = "dev",
    emotion_dir: Annotated[Path | None, typer.Option("--emotion-dir", help="EmoDB folder (labels.csv, wav/).")] = None,
    calls: Annotated[bool, typer.Option("--calls", help="List every call's flags (not for the test split).")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acoustic AUC on emotion_de, text macro-F1 on the held-out sentences, flags on labelled and real calm calls."""
    cfg = load_settings(config)
    emotion_dir = emotion_dir or shared_dir() / "emotion_de"
    folder = set_folder(set_name)
    report: dict[str, Any] = {"text": tone_eval.eval_text(cfg.tone), "show_calls": calls and split != "test"}
    if (emotion_dir / "labels.csv").exists():
        report["emotion_de"] = tone_eval.eval_emotion(emotion_dir, cfg.tone.prior_seconds, cfg.tone.rest_quantile)
    else:
        err.print(f"[yellow]note:[/yellow] {emotion_dir} absent: acoustic AUC skipped")
    if (folder / "labels.json").exists():
        report["samples"] = tone_eval.eval_samples(folder, cfg.tone, cfg.asr, "all" if set_name == "samples" else split)
    else:
        err.print(f"[yellow]note:[/yellow] {folder}/labels.json absent: labelled-call flags skipped")
    if shared_dir().is_dir():
        report["calm_real"] = tone_eval.eval_calm_real(shared_dir(), cfg.tone, cfg.asr)
    report["calm_agent"] = tone_eval.calm_agent_rate(report)
    if as_json:
        write_json(report)
        return
    out.print(tone_eval.render(report), highlight=False, markup=False, soft_wrap=True)


@app.command("false-alarms")
def eval_false_alarms(
    corpus: Annotated[list[str] | None, typer.Option("--corpus", help="zh-news | zh-reviews | … (repeatable; default all)")] = None,
    real: Annotated[bool, typer.Option("--real/--no-real", help="Also every real recording under ../shared/data.")] = True,
    limit: Annotated[int, typer.Option("--limit", help="Sentences drawn from each corpus (0: all).")] = 10000,
    examples: Annotated[int, typer.Option("--examples", help="Findings listed per corpus.")] = 10,
    rules: RulesOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Banned-phrase findings on everyday text (per 10,000 sentences) and on real compliant speech (per hour)."""
    from qa_pipeline.eval import corpora
    from qa_pipeline.eval import false_alarms as fa_eval

    names = corpus or list(corpora.CORPORA)
    packs = {lang: qa.load_rule_pack(rules, lang) for lang in ("zh", "en")}
    reports: dict[str, Any] = {"text": []}
    for name in names:
        sentences = corpora.corpus_sentences(name, limit or None)
        reports["text"].append(fa_eval.text_false_alarms(sentences, packs[corpora.CORPORA[name].language], name))
        if not as_json:
            out.print(fa_eval.render_text(reports["text"][-1], examples), highlight=False, markup=False, soft_wrap=True)
    if real and shared_dir().is_dir():
        reports["real"] = fa_eval.real_false_alarms(shared_dir(), packs, load_settings(config).asr)
        if not as_json:
            out.print(fa_eval.render_real(reports["real"], examples), highlight=False, markup=False, soft_wrap=True)
    if as_json:
        write_json(reports)
