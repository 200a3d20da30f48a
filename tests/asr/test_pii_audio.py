"""Personal-data detection and redaction: detectors, spoken digits, masking, redacted text and audio."""


from __future__ import annotations

import shutil

import pytest

from qa_pipeline.base.audio import Audio
from qa_pipeline.contracts import Call, Segment, Transcript, Word
from qa_pipeline.stages.pii.detect import detect_pii
from qa_pipeline.stages.pii.redact import redact_audio


def transcript(language: str, *turns: tuple[str, str]) -> Transcript:
    """Word-timed transcript: English words split on spaces, Chinese per character, 0.35 s each."""
    segments, t = [], 0.0
    for speaker, text in turns:
        tokens = text.split(" ") if language == "en" else list(text)
        words = []
        for tok in tokens:
            words.append(Word(round(t, 3), round(t + 0.3, 3), tok, 0.9))
            t += 0.35
        segments.append(Segment(speaker, words[0].start, words[-1].end, text, text, words=words))  # type: ignore[arg-type]
        t += 0.5
    return Transcript(language, "test", {}, t, segments)


CALL = Call(call_id="c1", audio_path="c1.wav")


@pytest.mark.slow
def test_redacted_audio_has_no_intelligible_digits(tmp_path):
    """Synthesize a spoken phone number, find it in the real transcript, redact, transcribe again."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    import subprocess

    from qa_pipeline.base.audio import load_audio
    from qa_pipeline.config import TranscribeOptions
    from qa_pipeline.eval.pii import digits_heard
    from qa_pipeline.stages.transcribe import transcribe_cached

    wav = tmp_path / "phone.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav),
                    "Hello. My phone number is four one five, five five five, two six seven one. Thank you."],
                   check=True, capture_output=True)
    clip = load_audio(wav)
    opts = TranscribeOptions(language="en")
    found = detect_pii(transcribe_cached(clip, opts), CALL)
    assert len(found) == 1  # an ASR slip may turn the phone into "digits": still found and redacted
    red = Audio(clip.path, clip.sha256 + "-redacted", clip.source_rate, 1, clip.source_format, clip.duration,
                redact_audio(clip, found, "tone"), "mono")
    again = transcribe_cached(red, opts)
    assert digits_heard(again, [(f.start - 0.15, f.end + 0.15) for f in found]) == 0
    assert "phone number" in again.text().lower()  # the words around the number are still there
