"""Acoustic arousal cues of one speaker's speech, each against that speaker's own baseline.

Per speech region (a transcript segment) we measure, on the telephone band (audio resampled to 8 kHz, so
wide-band and 8 kHz recordings are measured alike):

- ``loudness_db``: mean RMS level of the region's active frames (dBFS),
- ``pitch_st``: median F0 of voiced frames in semitones re 100 Hz (YIN),
- ``pitch_range_st``: interquartile spread of that F0 (semitones; quartiles resist YIN's octave slips),
- ``effort_db``: spectral balance, energy 1–3.4 kHz over 0.3–1 kHz (dB); raised vocal effort (shouting,
  anger) tilts the spectrum upwards,
- ``rate``: log2 of syllables (English words, Chinese characters and digits) per second of speaking time
  (inside the words, from the word times; the segment's span when there are none).

Each is turned into a z-score against the speaker's baseline: a low duration-weighted quantile of that feature
over the speaker's regions in the call, shrunk towards a population prior by how much speech the speaker
has (``prior_seconds``), so a speaker with a few seconds of speech is not measured against noise; the unit
is how much a calm speaker varies (``SPREAD``).
Loudness has no population prior (it depends on the recording's gain): for it the speaker's own baseline is
all there is.
A stored per-agent baseline (``baseline``: feature → (mean, sd)) replaces the prior when given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa_pipeline.base.audio import resample

FEATURE_RATE = 8000
FRAME = 512  # 64 ms: two periods of a 60 Hz voice fit in YIN's window
HOP = 160  # 20 ms
FMIN, FMAX = 60.0, 500.0
ACTIVE_DB = 35.0  # frames within this many dB of the speaker's loud frames count as speech
VOICED_PERIODICITY = 0.5
BASELINE_QUANTILE = 0.3  # a speaker's resting level: the calmer 30 % of their speech (duration-weighted)
MAX_PITCH_IQR_ST = 12.0  # a speaker's F0 quartiles further apart than an octave: the track is unreliable  # normalised autocorrelation peak above which a frame is voiced

FEATURES = ("loudness_db", "pitch_st", "pitch_range_st", "effort_db", "rate")
# Cues whose calmest stretch may place the resting level (``rest_quantile``): loudness alone. It has no
# population prior (it depends on the recording's gain), so for a speaker angry all call long nothing else is
# calmer to compare with; the others have a prior to pull them back, and their low tails are long on real
# calm speech (a soft "okay" has a much duller spectrum), which would move a calm voice's centre down.
REST_FEATURES = ("loudness_db",)
# Population priors (mean, sd), measured on neutral read and conversational speech in 3 s windows
# (scripts/acoustic_priors.py: LibriSpeech, AISHELL-1, JFK, the real English call, phone_en). Loudness has
# none: it depends on the recording's gain. Speaking rate has none: it differs between languages.
PRIORS: dict[str, tuple[float, float] | None] = {
    "loudness_db": None,
    "pitch_st": (11.1, 5.6),
    "pitch_range_st": (7.5, 6.2),
    "effort_db": (-9.6, 4.5),
    "rate": None,
}
# How much a calm speaker's cue varies from one stretch of speech to the next (sd within a speaker, same
# script, same corpora). This, not the call's own spread, is the z-score's unit: a call that is half angry
# has a wide spread of its own, which would hide the very change we look for. Rate (no transcripts in those
# corpora): the sd of log2 syllables/s between Whisper segments of one calm speaker in real conversations,
# 0.46 and 0.68 for the two sides of the real call in calls_en and 0.20 on phone_en's three agent turns,
# 0.54 pooled (2026-12-01; the synthetic voices then (espeak) varied far less, 0.1-0.35, so they cannot set it).
# The earlier guess of 0.3 turned an ordinary fast sentence into z = 3 and flagged a calm caller.
SPREAD: dict[str, float] = {
    "loudness_db": 1.9,
    "pitch_st": 2.9,
    "pitch_range_st": 3.7,
    "effort_db": 3.0,
    "rate": 0.5,  # log2 units: a calm speaker's pace varies by about ±40 % between segments
}


@dataclass
class FrameFeatures:
    """Frame-level cues of one channel, at HOP / FEATURE_RATE seconds per frame."""

    rms_db: np.ndarray
    f0_st: np.ndarray  # semitones re 100 Hz; NaN where unvoiced
    effort_db: np.ndarray
    active_floor_db: float

    def frames(self, start: float, end: float) -> slice:
        return slice(int(start * FEATURE_RATE / HOP), max(int(start * FEATURE_RATE / HOP) + 1,
                                                           int(end * FEATURE_RATE / HOP)))


@dataclass
class RegionFeatures:
    start: float
    end: float
    values: dict[str, float] = field(default_factory=dict)  # NaN where not measurable

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 0.0)


def to_feature_rate(signal: np.ndarray, rate: int) -> np.ndarray:
    # Streamed in blocks: the same samples as one soxr call, without a copy of a long call's whole channel.
    return resample(signal, rate, FEATURE_RATE)


def frame_features(signal: np.ndarray, rate: int, regions: list[tuple[float, float]] | None = None) -> FrameFeatures:
    """Frame cues of a whole channel, computed only inside ``regions`` (seconds) to save time."""
    import librosa
    import scipy.fft  # unlike numpy.fft it stays in float32: half the time of these two transforms

    x = to_feature_rate(signal, rate)
    n_frames = 1 + len(x) // HOP
    rms_db = np.full(n_frames, -120.0, dtype=np.float32)
    f0_st = np.full(n_frames, np.nan, dtype=np.float32)
    effort = np.full(n_frames, np.nan, dtype=np.float32)
    spans = regions if regions is not None else [(0.0, len(x) / FEATURE_RATE)]
    freqs = scipy.fft.rfftfreq(FRAME, 1 / FEATURE_RATE)
    low_band = (freqs >= 300) & (freqs < 1000)
    high_band = (freqs >= 1000) & (freqs < 3400)
    window = np.hanning(FRAME).astype(np.float32)
    min_lag, max_lag = int(FEATURE_RATE / FMAX), int(FEATURE_RATE / FMIN)
    for start, end in _merge(spans):
        first = int(start * FEATURE_RATE / HOP)
        lo = first * HOP
        hi = min(len(x), int(end * FEATURE_RATE) + FRAME)
        chunk = x[lo:hi]
        if len(chunk) < FRAME:
            chunk = np.pad(chunk, (0, FRAME - len(chunk)))
        frames = librosa.util.frame(chunk, frame_length=FRAME, hop_length=HOP).T  # (n, FRAME)
        n = min(len(frames), n_frames - first)
        frames = frames[:n]
        rms_db[first:first + n] = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        spec = np.abs(scipy.fft.rfft(frames * window, axis=1)) ** 2
        effort[first:first + n] = 10 * np.log10((spec[:, high_band].sum(1) + 1e-12) / (spec[:, low_band].sum(1) + 1e-12))
        # Voicing from the normalised autocorrelation peak in the pitch-lag range (an HNR-like measure).
        centred = frames - frames.mean(axis=1, keepdims=True)
        power = np.abs(scipy.fft.rfft(centred, n=2 * FRAME, axis=1)) ** 2
        acf = scipy.fft.irfft(power, axis=1)[:, : max_lag + 1]
        periodicity = acf[:, min_lag:].max(axis=1) / (acf[:, 0] + 1e-12)
        f0 = librosa.yin(chunk, fmin=FMIN, fmax=FMAX, sr=FEATURE_RATE, frame_length=FRAME, hop_length=HOP,
                         center=False)[:n]
        voiced = periodicity > VOICED_PERIODICITY
        f0_st[first:first + n] = np.where(voiced, 12 * np.log2(f0 / 100.0), np.nan)
    _speaker_pitch_range(f0_st)
    measured = rms_db[rms_db > -119]
    loud = float(np.percentile(measured, 95)) if measured.size else -120.0
    return FrameFeatures(rms_db=rms_db, f0_st=f0_st, effort_db=effort, active_floor_db=loud - ACTIVE_DB)


def _speaker_pitch_range(f0_st: np.ndarray) -> None:
    """Second pass of the two-pass pitch method (De Looze & Hirst): keep F0 between 0.75 x the speaker's
    first quartile and 1.5 x the third; outside it YIN has most likely slipped an octave. In place."""
    voiced = f0_st[np.isfinite(f0_st)]
    if voiced.size < 20:
        return
    q1, q3 = np.percentile(voiced, [25, 75])
    floor, ceiling = q1 + 12 * np.log2(0.75), q3 + 12 * np.log2(1.5)
    f0_st[(f0_st < floor) | (f0_st > ceiling)] = np.nan
    if q3 - q1 > MAX_PITCH_IQR_ST:
        # Half the voiced frames more than an octave apart is not one speaking voice but a track that jumps
        # between two candidates: no pitch cue for this speaker rather than a wrong one.
        f0_st[:] = np.nan


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 0.1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def region_features(frames: FrameFeatures, start: float, end: float, syllables: int | None = None,
                    speaking_seconds: float | None = None) -> RegionFeatures:
    """Cues of one region. Rate is ``syllables`` over ``speaking_seconds`` (time inside words, so pauses
    and loose segment edges do not count), else over the region."""
    talk = speaking_seconds if speaking_seconds else end - start
    span = frames.frames(start, end)
    rms = frames.rms_db[span]
    active = rms > frames.active_floor_db
    f0 = frames.f0_st[span][active]
    f0 = f0[np.isfinite(f0)]
    nan = float("nan")
    values = {
        "loudness_db": float(10 * np.log10(np.mean(10 ** (rms[active] / 10)))) if active.sum() >= 3 else nan,
        "pitch_st": float(np.median(f0)) if f0.size >= 5 else nan,
        "pitch_range_st": float(np.percentile(f0, 75) - np.percentile(f0, 25)) if f0.size >= 25 else nan,
        "effort_db": float(np.nanmean(frames.effort_db[span][active])) if active.sum() >= 3 else nan,
        "rate": float(np.log2(syllables / talk)) if syllables and talk >= 1.0 else nan,
    }
    return RegionFeatures(start=start, end=end, values=values)


def _normal_quantile(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(min(max(q, 1e-6), 1 - 1e-6))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def speaker_baseline(
    regions: list[RegionFeatures],
    prior_seconds: float = 5.0,
    baseline: dict[str, tuple[float, float]] | None = None,
    rest_quantile: float = 0.0,
) -> dict[str, tuple[float, float]]:
    """Feature → (centre, unit) for one speaker.

    Centre: the duration-weighted BASELINE_QUANTILE of the speaker's regions (the speaker's resting level:
    an angry caller may be angry for more than half of their speech, which would move a median), shrunk towards the prior (a stored baseline
    of this speaker when given, else the population prior) by ``prior_seconds`` of speech.

    ``rest_quantile`` (> 0, loudness only): a speaker angry for most of the call has no calm 30 % to
    measure; their resting voice is the calmest few seconds. The duration-weighted ``rest_quantile`` of
    their speech predicts, through a normal model, where a calm voice's 30 % quantile would sit; the centre
    is the lower of that and the plain quantile. The model's unit is how much the speaker varies in the
    middle of their speech (at least ``SPREAD``): a calm, lively voice reaches its low tail by variation and
    keeps its centre; a voice angry all along (narrow middle, a calm stretch far below) does not. A share,
    not seconds: one soft "okay" in minutes of speech is under it and cannot move a calm speaker's centre.
    """
    out: dict[str, tuple[float, float]] = {}
    for name in FEATURES:
        stored = (baseline or {}).get(name)
        prior = stored or PRIORS[name]
        vals = np.array([r.values.get(name, np.nan) for r in regions], dtype=float)
        weights = np.array([r.duration for r in regions], dtype=float)
        ok = np.isfinite(vals) & (weights > 0)
        unit = SPREAD[name]
        if stored:
            unit = max(float(stored[1]), unit * 0.5)
        if ok.sum() == 0:
            if prior is not None:
                out[name] = (float(prior[0]), unit)
            continue
        centre = _weighted_quantile(vals[ok], weights[ok], BASELINE_QUANTILE)
        if name in REST_FEATURES and 0 < rest_quantile < BASELINE_QUANTILE:
            rest = _weighted_quantile(vals[ok], weights[ok], rest_quantile)
            upper = _weighted_quantile(vals[ok], weights[ok], 1 - BASELINE_QUANTILE)
            spread = max(unit, (upper - centre) / (2 * _normal_quantile(1 - BASELINE_QUANTILE)))
            centre = min(centre, rest + (_normal_quantile(BASELINE_QUANTILE) - _normal_quantile(rest_quantile)) * spread)
        if prior is not None:
            n_seconds = float(weights[ok].sum())
            centre = (n_seconds * centre + prior_seconds * float(prior[0])) / (n_seconds + prior_seconds)
        out[name] = (centre, unit)
    return out


Z_LIMIT = 3.0  # a z-score beyond this is as likely a tracking slip (YIN octave jump) as a voice: cap it


def zscores(region: RegionFeatures, base: dict[str, tuple[float, float]]) -> dict[str, float]:
    z = {}
    for name, (centre, unit) in base.items():
        value = region.values.get(name, float("nan"))
        if np.isfinite(value):
            z[name] = float(np.clip((value - centre) / unit, -Z_LIMIT, Z_LIMIT))
    return z


def arousal(z: dict[str, float]) -> float:
    """Acoustic arousal: the mean of the available cue z-scores, equal weights (no cue is trusted more;
    the weights were not fitted to any data set). NaN when nothing could be measured."""
    values = [v for v in z.values() if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")
