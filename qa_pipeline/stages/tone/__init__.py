"""Tone stage: agitation per speaker and segment from the voice (against the speaker's own baseline) and
the words, emotional flags, silences and overtalk."""

from qa_pipeline.stages.tone.emotion import ToneResult, analyze_tone
from qa_pipeline.stages.tone.sentiment import load_sentiment

__all__ = ["ToneResult", "analyze_tone", "load_sentiment"]
