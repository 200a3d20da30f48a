"""ASR accuracy on the real references in ../shared/data: WER (English), CER (Mandarin).

Every clip goes through the product path (``load_audio`` → ``transcribe_cached``),
mono clips included, so the numbers describe what a call would get. Both sides are
normalised the same way before scoring: Whisper's English normaliser (numbers,
contractions, punctuation, case) for English, ``textnorm.normalize_for_match`` for
Mandarin (Simplified, no punctuation, digits read as Chinese digits, so 一二线 and
12线 are the same words). Corpus rates are errors summed over reference words or
characters, not a mean of per-clip rates.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from qa_pipeline.base.audio import load_audio
from qa_pipeline.base.models import resolve_model
from qa_pipeline.base.textnorm import normalize_for_match
from qa_pipeline.config import TranscribeOptions
from qa_pipeline.contracts import Transcript
from qa_pipeline.stages.transcribe import transcribe_cached


@dataclass
class Reference:
    """One clip with its reference text. ``channel_texts`` holds one text per stereo channel."""

    id: str
    path: Path
    language: str  # "en" | "zh"
    channel_texts: list[str]
    layout: str | None = None  # None: let ingest decide (near-identical stereo becomes mono)
    synthetic: bool = False  # a synthesized sample call: reported apart, never in the real rows
    timed_text: str = ""  # every speaker's words in the order spoken (what a mono mix should read), when known

    @property
    def text(self) -> str:
        return " ".join(self.channel_texts)


@dataclass
class ClipScore:
    id: str
    language: str
    profile: str
    model: str
    errors: int
    length: int  # reference words (en) or characters (zh)
    hypothesis: str
    reference: str
    synthetic: bool = False

    @property
    def rate(self) -> float:
        return self.errors / self.length if self.length else 0.0


@dataclass
class EvalReport:
    clips: list[ClipScore] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "profile/model id: why"

    def aggregate(self, profile: str, language: str, ids: set[str] | None = None, synthetic: bool = False) -> float | None:
        rows = [c for c in self.clips if c.profile == profile and c.language == language and (ids is None or c.id in ids)
                and c.synthetic == synthetic]
        total = sum(c.length for c in rows)
        return sum(c.errors for c in rows) / total if total else None

    def mean_rate(self, profile: str, language: str, synthetic: bool = False) -> float | None:
        """Mean of per-clip rates: every clip counts the same, however long."""
        rates = [c.rate for c in self.clips
                 if c.profile == profile and c.language == language and c.length and c.synthetic == synthetic]
        return sum(rates) / len(rates) if rates else None

    def profiles(self) -> list[str]:
        return list(dict.fromkeys(c.profile for c in self.clips))

    def to_dict(self) -> dict:
        clips = [dataclasses.asdict(c) | {"rate": round(c.rate, 4)} for c in self.clips]
        agg = {}
        for profile in self.profiles():
            agg[profile] = {}
            for lang in ("en", "zh"):
                value, mean = self.aggregate(profile, lang), self.mean_rate(profile, lang)
                if value is not None:
                    agg[profile][lang] = round(value, 4)
                    agg[profile][f"{lang}_mean_per_clip"] = round(mean or 0.0, 4)
                synthetic = self.aggregate(profile, lang, synthetic=True)
                if synthetic is not None:
                    agg[profile][f"{lang}_synthetic_samples"] = round(synthetic, 4)
        return {"clips": clips, "aggregate": agg, "skipped": self.skipped}


# ---------------------------------------------------------------- references

def _kaldi_text(path: Path) -> dict[str, str]:
    """``utt_id words...`` per line (Kaldi ``text``); '#' lines are comments."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            utt, _, words = line.strip().partition(" ")
            out[utt] = words.strip()
    return out


def _plain_text(path: Path) -> str:
    return " ".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")).strip()


def _stm_text(path: Path) -> str:
    """All words of an STM file in time order (both speakers: the clip is mixed mono)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and not line.startswith(";;"):
            rows.append((float(parts[3]), parts[5]))
    return " ".join(text for _, text in sorted(rows))


def find_references(data_dir: Path) -> list[Reference]:
    """Every clip with a reference transcript under ``data_dir`` (the layout of ../shared/data)."""
    refs: list[Reference] = []

    def add(id_: str, path: Path, language: str, texts: list[str], layout: str | None = None) -> None:
        if path.exists() and all(t.strip() for t in texts):
            refs.append(Reference(id_, path, language, texts, layout))

    phone = data_dir / "phone_en"
    if (phone / "sample.stm").exists():
        add("phone_en/sample", phone / "sample.wav", "en", [_stm_text(phone / "sample.stm")])

    en = data_dir / "asr_en"
    fixtures = en / "whisper_fixtures"
    if (fixtures / "jfk.transcript.txt").exists():
        add("asr_en/jfk", fixtures / "jfk.flac", "en", [_plain_text(fixtures / "jfk.transcript.txt")])
    stereo_ref = fixtures / "stereo_diarization.transcript.txt"
    if stereo_ref.exists():
        sides = dict(re.findall(r"^(left|right):\s*(.+)$", stereo_ref.read_text(encoding="utf-8"), re.M))
        if {"left", "right"} <= set(sides):
            add("asr_en/stereo_diarization", fixtures / "stereo_diarization.wav", "en",
                [sides["left"], sides["right"]], layout="stereo")
    for text_file, wav_for in (
        (en / "speech_recognition" / "english.transcript.txt", lambda utt: en / "speech_recognition" / f"{utt}.wav"),
        (en / "pocketsphinx" / "goforward.transcript.txt", lambda utt: en / "pocketsphinx" / f"DERIVED_{utt}.wav"),
        (en / "wenet_resources" / "text", lambda utt: en / "wenet_resources" / f"{utt}.wav"),
    ):
        if text_file.exists():
            for utt, words in _kaldi_text(text_file).items():
                add(f"asr_en/{utt}", wav_for(utt), "en", [words])
    cards = en / "pocketsphinx" / "cards" / "cards.transcription"
    if cards.exists():
        for line in cards.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\s*<s>(.*)</s>\s*\((\S+)\)", line)
            if m:
                add(f"asr_en/cards/{m[2]}", cards.parent / f"{m[2]}.wav", "en", [m[1].strip()])

    zh = data_dir / "asr_zh"
    for text_file in sorted(zh.glob("*.txt")):
        for utt, words in _kaldi_text(text_file).items():
            add(f"asr_zh/{utt}", zh / f"{utt}.wav", "zh", [words])
    fire = zh / "fireredasr"
    if (fire / "text").exists():
        for utt, words in _kaldi_text(fire / "text").items():
            add(f"asr_zh/{utt}", fire / f"{utt}.wav", "zh", [words])
    return refs


def sample_references(samples: Path) -> list[Reference]:
    """The synthesized sample calls, with their scripts (``labels.json`` utterances) as references, one text per
    channel of the file. They show how well Whisper hears the synthetic voices, which sets what the rules and PII
    evaluations on these calls can reach; real recordings are the accuracy that counts."""

    labels = json.loads((samples / "labels.json").read_text(encoding="utf-8"))["calls"]
    refs: list[Reference] = []
    with (samples / "manifest.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            utterances = sorted(labels.get(row["call_id"], {}).get("utterances", []), key=lambda u: u["start"])
            if not utterances or row["call_id"].startswith("real_"):
                continue
            if row["layout"] == "mono":
                texts = [" ".join(u["text"] for u in utterances)]
            else:
                agent_first = int(row.get("agent_channel") or 0) == 0
                order = ["agent", "caller"] if agent_first else ["caller", "agent"]
                texts = [" ".join(u["text"] for u in utterances if u["speaker"] == who) for who in order]
            refs.append(Reference(f"samples/{row['call_id']}", samples / row["path"], row["language"], texts,
                                  row["layout"], synthetic=True, timed_text=" ".join(u["text"] for u in utterances)))
    return refs


# ---------------------------------------------------------------- scoring

@lru_cache(maxsize=1)
def _english_normalizer():
    # Whisper's own English normaliser, as shipped in transformers (pure Python,
    # offline). Without the hub's spelling map it leaves British spellings alone.
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def normalize_reference(text: str, language: str) -> str:
    if language == "zh":
        return normalize_for_match(text).replace(" ", "")
    # The normaliser turns "one two three" into "123" but "1 2 3" into "one 23":
    # a digit string is one number however it was spaced, on both sides.
    text = re.sub(r"(?<=\b\d)[\s,]+(?=\d\b)", "", text)
    text = re.sub(r"\s+", " ", _english_normalizer()(text)).strip()
    return re.sub(r"(?<=\b\d) (?=\d\b)", "", text)


def count_errors(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(edit errors, reference length) in words (en) or characters (zh), after normalisation."""
    import jiwer

    ref = normalize_reference(reference, language)
    hyp = normalize_reference(hypothesis, language)
    if language == "zh":
        ref_units, hyp_units = list(ref), list(hyp)
    else:
        ref_units, hyp_units = ref.split(), hyp.split()
    if not ref_units:
        return len(hyp_units), 0
    if not hyp_units:
        return len(ref_units), len(ref_units)
    out = jiwer.process_words(" ".join(ref_units), " ".join(hyp_units))
    return out.substitutions + out.deletions + out.insertions, len(ref_units)


def hypothesis_text(transcript: Transcript, n_channels: int) -> list[str]:
    """One text per channel, words in time order (mono: one text)."""
    if n_channels == 1:
        return [" ".join(s.text for s in transcript.segments)]
    roles = ["agent", "caller"]
    return [" ".join(s.text for s in transcript.segments if s.speaker == role) for role in roles]


def in_file_order(texts: list[str], agent_channel: int | None) -> list[str]:
    """Per-channel texts of audio loaded with ``agent_channel`` (whose channels are [agent, caller]) in the
    file's channel order, the order of ``Reference.channel_texts``."""
    return texts[::-1] if len(texts) == 2 and agent_channel == 1 else texts


def score_clip(ref: Reference, opts: TranscribeOptions, profile: str) -> ClipScore:
    audio = load_audio(ref.path, layout=ref.layout)
    transcript = transcribe_cached(audio, dataclasses.replace(opts, language=ref.language))
    hyps = hypothesis_text(transcript, len(audio.channels))
    refs = ref.channel_texts if len(hyps) == len(ref.channel_texts) else [ref.text]
    hyps = hyps if len(hyps) == len(refs) else [" ".join(hyps)]
    errors = length = 0
    for r, h in zip(refs, hyps):
        e, n = count_errors(r, h, ref.language)
        errors, length = errors + e, length + n
    return ClipScore(ref.id, ref.language, profile, transcript.settings.get("model", opts.model), errors, length,
                     " | ".join(hyps), " | ".join(refs), ref.synthetic)


def evaluate(
    data_dir: Path,
    base_options: TranscribeOptions,
    models: tuple[str, ...] = ("base", "tiny.en"),
    only: str | None = None,
    samples: Path | None = None,
) -> EvalReport:
    """Score every reference with each plain model and with ``base_options`` (the default profile).

    A plain model row uses ``base_options`` with that one model for every language
    (``language_models`` cleared); English-only models are scored on English only.
    ``samples``: also score the synthesized sample calls there, with the default profile only.
    """

    report = EvalReport()
    refs = [r for r in find_references(data_dir) if not only or only in r.id]
    profiles: list[tuple[str, TranscribeOptions]] = [
        (m, dataclasses.replace(base_options, model=m, language_models={})) for m in models
    ]
    profiles.append(("default", base_options))
    for profile, opts in profiles:
        multilingual = resolve_model(opts.model).multilingual if profile != "default" else True
        for ref in refs:
            if not multilingual and ref.language != "en":
                continue
            report.clips.append(score_clip(ref, opts, profile))
    if samples is not None:
        for ref in sample_references(samples):
            if not only or only in ref.id:
                report.clips.append(score_clip(ref, base_options, "default"))
    return report
