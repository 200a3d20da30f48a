"""Transcription stage: audio in, a per-speaker, word-timed, gated Transcript out."""

from qa_pipeline.stages.transcribe.cache import cache_dir, cache_key, transcribe_cached, transcribe_cached_many
from qa_pipeline.stages.transcribe.decode import transcribe_audio
from qa_pipeline.stages.transcribe.encoder import WindowEncoder
from qa_pipeline.stages.transcribe.gates import gate, looping_words, split_segment
from qa_pipeline.stages.transcribe.windows import SAMPLE_RATE, Window, pack_chunks, speech_regions, tail_chunk

__all__ = ["SAMPLE_RATE", "Window", "WindowEncoder", "cache_dir", "cache_key", "gate", "looping_words", "pack_chunks",
           "speech_regions", "split_segment", "tail_chunk", "transcribe_audio", "transcribe_cached",
           "transcribe_cached_many"]
