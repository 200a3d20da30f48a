"""Cross-call batching with the real model on real sample calls: the speech windows of several calls decoded in
one batched beam search give each call the words it gets alone, and a call that fails inside a shared batch is
the only one that fails."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qa_pipeline.base.audio import load_audio
from qa_pipeline.batch.executors import process_calls
from qa_pipeline.batch.nightly import BatchOptions, run_nightly
from qa_pipeline.config import TranscribeOptions, load_config
from qa_pipeline.contracts import Call, Transcript
from qa_pipeline.stages.transcribe import transcribe_audio, transcribe_cached_many
from qa_pipeline.stages.transcribe.decode import decode_plans, finish, plan_audio
from qa_pipeline.store.db import Store
from tests.conftest import SAMPLES

# Two short English stereo calls (one group: same model, language and settings) and a Mandarin mono call
# (a group of its own), so that both the shared batch and the grouping by language are exercised.
CALLS = (("en_banned_refusal.wav", "en"), ("en_compliant_address.ogg", "en"), ("zh_missing_greeting_mono.flac", "zh"))
OPTS = TranscribeOptions(threads=2)


def words(t: Transcript) -> list[tuple[str, str, float, float]]:
    return [(s.speaker, w.text, w.start, w.end) for s in t.segments for w in s.words]


@pytest.fixture(scope="module")
def audios():
    return [(load_audio(SAMPLES / name), dataclasses.replace(OPTS, language=lang)) for name, lang in CALLS]


@pytest.fixture(scope="module")
def alone(audios) -> list[Transcript]:
    return [transcribe_audio(audio, opts) for audio, opts in audios]


def test_windows_of_several_calls_decoded_together_give_each_call_its_own_words(audios, alone) -> None:
    together = transcribe_cached_many(audios, use_cache=False)
    assert all(isinstance(t, Transcript) for t, _ in together)
    for (t, seconds), own in zip(together, alone):
        assert words(t) == words(own) and t.language == own.language
        assert [s.text for s in t.segments] == [s.text for s in own.segments]
        assert seconds > 0
    plans = [plan_audio(audio, opts) for audio, opts in audios]
    assert sum(p.n_windows for p in plans[:2]) > max(p.n_windows for p in plans[:2])  # a batch really is shared


class _WindowTooBig:
    """A speech window whose samples cannot be cut (what a call too large for memory does mid-batch)."""

    def __init__(self, window) -> None:
        self._window = window

    def __getattr__(self, name: str):
        if name == "samples":
            raise MemoryError("window samples")
        return getattr(self._window, name)


def test_a_call_that_fails_inside_a_shared_batch_fails_alone(audios, alone) -> None:
    plans = [plan_audio(audio, opts) for audio, opts in audios]
    broken = plans[1]
    broken.chunks[-1] = _WindowTooBig(broken.chunks[-1])
    assert broken.group_key() == plans[0].group_key()  # it shares the first call's batches
    decode_plans(plans)
    assert isinstance(broken.error, MemoryError)
    for k in (0, 2):
        assert plans[k].error is None and words(finish(plans[k])) == words(alone[k])


def test_a_damaged_recording_among_good_ones_is_the_only_failure(tmp_path: Path) -> None:
    bad = tmp_path / "damaged.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    calls = [Call(call_id="good1", audio_path=str(SAMPLES / CALLS[0][0]), language="en"),
             Call(call_id="bad", audio_path=str(bad)),
             Call(call_id="good2", audio_path=str(SAMPLES / CALLS[1][0]), language="en")]
    outcomes = process_calls([dataclasses.asdict(c) for c in calls], load_config(None), threads=2)
    assert [next(iter(o)) for o in outcomes] == ["ok", "error", "ok"]
    assert outcomes[0]["ok"]["call"]["call_id"] == "good1" and outcomes[2]["ok"]["call"]["call_id"] == "good2"


def test_nightly_with_cross_call_batches_stores_each_call_once_as_without(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "night"
    folder.mkdir()
    rows = ["call_id,path,agent_id,team,started_at,language,layout,agent_channel,call_type"]
    for i, (name, lang) in enumerate(CALLS[:2]):
        (folder / name).symlink_to(SAMPLES / name)
        rows.append(f"c{i},{name},a{i},t,2026-11-0{i + 1}T09:00:00,{lang},stereo,0,inbound_service")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = load_config(None)
    results = {}
    for batch in (1, 2):
        monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / f"cache{batch}"))  # every call really transcribed
        db = tmp_path / f"b{batch}.db"
        summary = run_nightly(folder, db, config, BatchOptions(batch_calls=batch, threads_per_worker=2))
        assert summary.processed == 2 and summary.failed == 0
        store = Store(db)
        results[batch] = {c: words(store.current_result(c).transcript) for c in ("c0", "c1")}
        assert store.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2
        store.close()
        again = run_nightly(folder, db, config, BatchOptions(batch_calls=batch, threads_per_worker=2))
        assert again.skipped == 2 and again.processed == 0  # resume: nothing done twice
    assert results[1] == results[2]
