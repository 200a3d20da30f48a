"""qa.yaml is strict: a mistake stops a command before any call, naming file, line and field (exit 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_pipeline import check_config
from qa_pipeline.cli import app
from qa_pipeline.config import SECTIONS, QAConfig, ReportConfig, load_config
from qa_pipeline.errors import EXIT_CODES, EXIT_CONFIG, ConfigError, ModelError
from tests.conftest import SAMPLES


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "qa.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_unknown_section_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "asr:\n  beam_size: 5\ntonee:\n  flag_threshold: 0.7\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert (exc.value.field, exc.value.line) == ("tonee", 3) and str(path) in str(exc.value)
    assert "unknown section" in str(exc.value)


@pytest.mark.parametrize("body, field, line", [
    ("queue:\n  claim_ttl_minutes: soon\n", "queue.claim_ttl_minutes", 2),
    ("queue:\n  sample_per_agent_wk: 2\n", "queue.sample_per_agent_wk", 2),
    ("privacy:\n  coach_view: everything\n", "privacy.coach_view", 2),
    ("diarization:\n  window: 0\n", "diarization.window", 2),
    ("asr:\n  device: tpu\n", "asr.device", 2),
    ("tone:\n  flag_threshold: 1.5\n", "tone.flag_threshold", 2),
    ("audio:\n  agent_channel: 2\n", "audio.agent_channel", 2),
    ("review:\n  dispute_window_days: 0\n", "review.dispute_window_days", 2),
    ("rules: 5\n", "rules", 1),
    ("asr: [1, 2]\n", "asr", 1),
])
def test_wrong_values_name_the_field(tmp_path: Path, body: str, field: str, line: int) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, body))
    assert (exc.value.field, exc.value.line) == (field, line)


def test_every_section_is_applied(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "queue:\n  claim_ttl_minutes: 30\nprivacy:\n  coach_view: raw\n"
                                      "diarization:\n  min_turn: 0.5\nreview:\n  dispute_window_days: 3\n"))
    assert (cfg.queue.claim_ttl_minutes, cfg.privacy.coach_view, cfg.diarization.min_turn) == (30, "raw", 0.5)
    assert cfg.review.dispute_window_days == 3
    assert set(SECTIONS) == {"asr", "audio", "privacy", "tone", "diarization", "queue", "reports", "review", "alerts"}


def test_a_typo_stops_the_nightly_before_any_call(tmp_path: Path) -> None:
    db = tmp_path / "qa.db"
    result = CliRunner().invoke(app, ["nightly", str(SAMPLES), "--db", str(db), "--quiet",
                                      "--config", str(write(tmp_path, "tonee: {}\n"))])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "line 1" in result.output and "tonee" in result.output and "Traceback" not in result.output
    assert not db.exists()


def test_an_english_only_model_for_mandarin_stops_the_run(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "asr:\n  model: tiny.en\n"))
    with pytest.raises(ModelError, match="English-only"):
        check_config(config)  # auto-detection would choose among zh and en
    check_config(config, ("en",))  # a manifest of English calls is fine
    db = tmp_path / "qa.db"
    result = CliRunner().invoke(app, ["nightly", str(SAMPLES), "--db", str(db), "--quiet",
                                      "--config", str(tmp_path / "qa.yaml")])
    assert result.exit_code == EXIT_CONFIG and "English-only" in result.output, result.output
    assert not db.exists()


def test_an_unknown_model_stops_the_run() -> None:
    config = QAConfig()
    config.asr.model = "no-such-model"
    with pytest.raises(ModelError, match="unknown model"):
        check_config(config)


def test_exit_codes_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"| {code} |" in doc, f"exit status {code} is not in docs/reference/exit-codes.md"


def test_report_config_from_qa_yaml(tmp_path: Path) -> None:
    good = tmp_path / "qa.yaml"
    good.write_text("reports:\n  min_calls: 3\n  tiers: {gold: 92, silver: 80, iron: 0}\n  trend_weeks: 4\n",
                    encoding="utf-8")
    cfg = load_config(good).reports
    assert (cfg.min_calls, cfg.trend_weeks, cfg.tier_of(91.9), cfg.tier_of(92), cfg.tier_of(79.99)) == (
        3, 4, "silver", "gold", "iron")
    assert ReportConfig().tier_of(80) == "silver" and ReportConfig().tier_of(79.9) == "bronze"
    for body, field_name in (("reports:\n  min_call: 3\n", "reports.min_call"),
                             ("reports:\n  tiers: {gold: 90, silver: 80}\n", "reports.tiers"),
                             ("reports:\n  min_calls: two\n", "reports.min_calls")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as exc:
            load_config(bad)
        assert exc.value.field == field_name and str(bad) in str(exc.value)


