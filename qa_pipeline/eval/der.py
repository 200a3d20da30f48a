"""Diarization error rate, computed the way pyannote.metrics does.

DER = (missed speech + false alarm + speaker confusion) / total reference speech,
after the hypothesis speakers are mapped one-to-one onto the reference speakers
so as to maximise their overlap (Hungarian assignment). A collar of ``collar``
seconds *centred* on every reference boundary (``collar / 2`` each side, as in
pyannote.metrics) is left out of scoring, for reference and hypothesis alike.
Overlapped speech counts once per reference speaker.

Computed exactly on the piecewise-constant timeline (no frames), so hand-made
examples give exact numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_pipeline.stages.diarize import Turn


@dataclass
class DERResult:
    der: float
    missed: float
    false_alarm: float
    confusion: float
    total: float  # reference speech scored, seconds
    mapping: dict[str, str]  # hypothesis speaker -> reference speaker

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def load_rttm(path: str | Path) -> list[Turn]:
    """SPEAKER lines of an RTTM file as (start, end, speaker)."""
    turns: list[Turn] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] != "SPEAKER":
            continue
        try:
            start, dur = float(parts[3]), float(parts[4])
        except (IndexError, ValueError):
            raise ValueError(f"{path}, line {n}: not an RTTM SPEAKER line: {line!r}") from None
        turns.append((start, start + dur, parts[7]))
    return turns


def write_rttm(turns: list[Turn], file_id: str = "call") -> str:
    return "".join(
        f"SPEAKER {file_id} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n" for s, e, spk in turns
    )


def _collar_mask(reference: list[Turn], collar: float) -> list[tuple[float, float]]:
    half = collar / 2
    return [(t - half, t + half) for s, e, _ in reference for t in (s, e)] if collar > 0 else []


def diarization_error_rate(reference: list[Turn], hypothesis: list[Turn], collar: float = 0.25) -> DERResult:
    """pyannote.metrics-style DER of ``hypothesis`` against ``reference``."""
    excluded = _collar_mask(reference, collar)
    points = sorted({t for s, e, _ in reference + hypothesis for t in (s, e)} | {t for a, b in excluded for t in (a, b)})
    ref_spk = sorted({spk for _, _, spk in reference})
    hyp_spk = sorted({spk for _, _, spk in hypothesis})
    cooc = np.zeros((len(hyp_spk), len(ref_spk)))
    pieces: list[tuple[float, list[int], list[int]]] = []  # (duration, ref ids, hyp ids)
    for a, b in zip(points, points[1:]):
        if b <= a:
            continue
        mid = (a + b) / 2
        if any(x < mid < y for x, y in excluded):
            continue
        refs = sorted({ref_spk.index(spk) for s, e, spk in reference if s < mid < e})
        hyps = sorted({hyp_spk.index(spk) for s, e, spk in hypothesis if s < mid < e})
        pieces.append((b - a, refs, hyps))
        for h in hyps:
            for r in refs:
                cooc[h, r] += b - a
    mapping: dict[int, int] = {}
    if cooc.size:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cooc, maximize=True)
        mapping = {int(h): int(r) for h, r in zip(rows, cols) if cooc[h, r] > 0}
    missed = false_alarm = confusion = total = 0.0
    for dur, refs, hyps in pieces:
        n_ref, n_hyp = len(refs), len(hyps)
        correct = sum(1 for h in hyps if mapping.get(h, -1) in refs)
        total += dur * n_ref
        missed += dur * max(0, n_ref - n_hyp)
        false_alarm += dur * max(0, n_hyp - n_ref)
        confusion += dur * (min(n_ref, n_hyp) - correct)
    der = (missed + false_alarm + confusion) / total if total > 0 else 0.0
    return DERResult(float(der), float(missed), float(false_alarm), float(confusion), float(total),
                     {hyp_spk[h]: ref_spk[r] for h, r in mapping.items()})
