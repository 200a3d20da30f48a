"""qa_pipeline: offline speech quality assurance for call centres.

The public API. The command line and the web app use only this and ``qa_pipeline.store``::

    import qa_pipeline as qa

    config = qa.load_config("qa.yaml")
    result = qa.analyze_call(qa.Call(call_id="c1", audio_path="call.wav"), config)
    print(result.score.total, [f.rule_id for f in result.findings])

    summary = qa.run_nightly("/data/calls/2026-11-21", "qa.db", config)
    store = qa.Store("qa.db")
"""

from qa_pipeline.base.audio import TARGET_RATE, Audio, load_audio
from qa_pipeline.base.models import install_model, known_models, models_dir
from qa_pipeline.base.models import load_manifest as model_manifest
from qa_pipeline.batch import BatchOptions, RunSummary, run_nightly
from qa_pipeline.batch.roles import swap_roles
from qa_pipeline.config import (
    AudioConfig,
    DiarizeOptions,
    PrivacyConfig,
    QAConfig,
    QueueConfig,
    ReportConfig,
    ReviewConfig,
    ToneConfig,
    TranscribeOptions,
    load_config,
)
from qa_pipeline.contracts import (
    Call,
    CallResult,
    Finding,
    Roles,
    Score,
    Segment,
    StepResult,
    ToneSummary,
    Transcript,
    Word,
    call_result_from_dict,
    to_dict,
)
from qa_pipeline.errors import (
    EXIT_CODES,
    AudioError,
    BatchError,
    ConfigError,
    FormError,
    InputError,
    LockedError,
    ManifestError,
    ModelError,
    NothingToDo,
    QAError,
    ReviewError,
    RulePackError,
    StorageError,
)
from qa_pipeline.pipeline import analyze_call, check_config, diarize_call, summarize, warm_up
from qa_pipeline.reports import (
    DAILY_FORMATS,
    FORMATS,
    daily_report,
    parse_week,
    render_csv,
    render_daily,
    render_scorecard,
    scorecard_table,
    scorecard_trend_svg,
    weekly_scorecard,
)
from qa_pipeline.stages.diarize import diarize
from qa_pipeline.stages.pii import detect_pii, masked_numbers, redact_audio, redact_transcript
from qa_pipeline.stages.rules import (
    check_rule_examples,
    check_step_examples,
    load_rule_pack,
    pack_files,
    read_pack_file,
)
from qa_pipeline.stages.scoring import load_form
from qa_pipeline.stages.tone import analyze_tone
from qa_pipeline.stages.transcribe import transcribe_cached as transcribe
from qa_pipeline.store import Store
from qa_pipeline.version import __version__

__all__ = [
    "DAILY_FORMATS", "EXIT_CODES", "FORMATS", "TARGET_RATE", "Audio", "AudioConfig", "AudioError", "BatchError",
    "BatchOptions", "Call", "CallResult", "ConfigError", "DiarizeOptions", "Finding", "FormError", "InputError",
    "LockedError", "ManifestError", "ModelError", "NothingToDo", "PrivacyConfig", "QAConfig", "QAError",
    "QueueConfig", "ReportConfig", "ReviewConfig", "ReviewError", "Roles", "RulePackError", "RunSummary", "Score", "Segment", "StepResult", "StorageError", "Store",
    "ToneConfig", "ToneSummary", "Transcript", "TranscribeOptions", "Word", "__version__", "analyze_call", "analyze_tone",
    "call_result_from_dict", "check_config", "check_rule_examples", "check_step_examples", "daily_report",
    "detect_pii", "diarize", "diarize_call", "install_model", "known_models", "load_audio", "load_config", "load_form",
    "load_rule_pack", "masked_numbers", "model_manifest", "models_dir", "pack_files", "parse_week", "read_pack_file", "redact_audio", "render_csv",
    "redact_transcript", "render_daily", "render_scorecard", "run_nightly", "scorecard_table", "scorecard_trend_svg", "summarize", "swap_roles",
    "to_dict", "transcribe", "warm_up", "weekly_scorecard",
]
