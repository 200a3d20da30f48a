"""DER on hand-made RTTMs: exact numbers, worked out by hand."""

from __future__ import annotations

import pytest

from qa_pipeline.eval.der import diarization_error_rate, load_rttm, write_rttm


def test_perfect_hypothesis_with_other_names_is_zero():
    ref = [(0.0, 5.0, "A"), (5.0, 10.0, "B")]
    hyp = [(0.0, 5.0, "x"), (5.0, 10.0, "y")]
    result = diarization_error_rate(ref, hyp, collar=0.0)
    assert result.der == 0.0
    assert result.mapping == {"x": "A", "y": "B"}


def test_missed_false_alarm_and_confusion_without_collar():
    ref = [(0.0, 4.0, "A"), (4.0, 10.0, "B")]
    # x covers A fully and 1 s of B (confusion 1 s); y covers B from 6 to 9 (3 s right),
    # B 5-6 and 9-10 missed (2 s); y runs on 10-11 (false alarm 1 s).
    hyp = [(0.0, 5.0, "x"), (6.0, 11.0, "y")]
    r = diarization_error_rate(ref, hyp, collar=0.0)
    assert r.total == pytest.approx(10.0)
    assert r.confusion == pytest.approx(1.0)
    assert r.missed == pytest.approx(1.0)  # 5-6 only: 9-10 is y, correct
    assert r.false_alarm == pytest.approx(1.0)
    assert r.der == pytest.approx(0.3)


def test_collar_is_centred_on_reference_boundaries():
    ref = [(0.0, 4.0, "A"), (4.0, 10.0, "B")]
    hyp = [(0.0, 4.1, "x"), (4.1, 10.0, "y")]  # boundary 0.1 s late
    assert diarization_error_rate(ref, hyp, collar=0.0).der == pytest.approx(0.1 / 10)
    r = diarization_error_rate(ref, hyp, collar=0.25)  # 0.125 s each side of 0, 4 and 10 removed
    assert r.der == 0.0
    assert r.total == pytest.approx(10.0 - 0.125 - 0.25 - 0.125)


def test_overlap_counts_once_per_reference_speaker():
    ref = [(0.0, 4.0, "A"), (2.0, 6.0, "B")]  # 2 s of overlap: 8 s of reference speech
    hyp = [(0.0, 4.0, "x"), (4.0, 6.0, "y")]  # one speaker at a time: B's 2-4 is missed
    r = diarization_error_rate(ref, hyp, collar=0.0)
    assert r.total == pytest.approx(8.0)
    assert r.missed == pytest.approx(2.0)
    assert r.der == pytest.approx(0.25)


def test_one_speaker_hypothesis_maps_to_the_longest_reference_speaker():
    ref = [(0.0, 6.0, "A"), (6.0, 8.0, "B")]
    r = diarization_error_rate(ref, [(0.0, 8.0, "x")], collar=0.0)
    assert r.mapping == {"x": "A"}
    assert r.confusion == pytest.approx(2.0)
    assert r.der == pytest.approx(0.25)


def test_rttm_round_trip(tmp_path):
    turns = [(0.5, 1.75, "spk1"), (2.0, 3.0, "spk2")]
    path = tmp_path / "x.rttm"
    path.write_text(write_rttm(turns, "call"), encoding="utf-8")
    assert load_rttm(path) == turns


def test_bad_rttm_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.rttm"
    path.write_text("SPEAKER call 1 abc 1.0 <NA> <NA> s <NA> <NA>\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.rttm, line 1"):
        load_rttm(path)
