"""Alerts (issue 19.3): the ``alerts:`` section is strict, events fire on the right calls, the body is signed, and
delivery to a local HTTP and SMTP server that the test starts retries, gives up within its bounds and writes
every outcome to the run log. Calls are real CallResults: contract findings scored by the real scoring stage
with the packaged form. ``qa nightly`` end to end with real calls is tests/asr/test_alerts_nightly.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa_pipeline.batch.alert_delivery import AlertSender, destinations
from qa_pipeline.batch.alerts import call_link, fired_events, message, sign, verify
from qa_pipeline.batch.runlog import RunLog
from qa_pipeline.cli import app
from qa_pipeline.config import AlertsConfig, load_config
from qa_pipeline.contracts import (
    Call,
    CallResult,
    Finding,
    PhraseMatch,
    StepResult,
    ToneEvent,
    Transcript,
    call_result_from_dict,
    to_dict,
)
from qa_pipeline.errors import EXIT_CONFIG, ConfigError
from qa_pipeline.stages.scoring import load_form, score_call
from tests.alert_helpers import Receiver, closed_port
from tests.conftest import SAMPLES


# ------------------------------------------------------------------ real CallResults
def banned(call_id: str, category: str, start: float, assist: bool = False) -> Finding:
    return Finding(call_id, "banned_phrase", f"{category}_1", "t", "agent", start, start + 1, "…", 0.9, "major",
                   PhraseMatch(category=category, tier="exact", assist=assist))


def step(call_id: str, name: str, status: str, start: float = 1.0) -> Finding:
    return Finding(call_id, "script_step", name, "t", "agent", start, start + 2, "", 0.9, "minor",
                   StepResult(step=name, status=status))


def escalation(call_id: str, start: float) -> Finding:
    return Finding(call_id, "escalation", "complaint_threat", "t", "caller", start, start + 1, "…", 0.9, "major",
                   PhraseMatch(category="complaint"))


def emotional_agent(call_id: str, start: float) -> Finding:
    return Finding(call_id, "tone", "emotional_agent", "t", "agent", start, start + 4, "", 0.8, "major",
                   ToneEvent(peak_agitation=0.8, agitated_seconds=4.0))


def result(call_id: str, findings: list[Finding], agent: str = "anna", team: str = "cards_east") -> CallResult:
    call = Call(call_id, f"/night/{call_id}.wav", agent_id=agent, team=team, started_at="2026-11-20T09:30:00",
                language="en")
    transcript = Transcript("en", "base", {}, 60.0)
    score = score_call(call, transcript, findings, load_form(None))
    # Through JSON and back, as the batch gets it from its workers.
    return call_result_from_dict(to_dict(CallResult(call, transcript, findings, score=score)))


CLEAN = ["greeting", "verification", "recap", "closing", "empathy"]


def clean(call_id: str) -> CallResult:
    return result(call_id, [step(call_id, s, "pass", i * 5.0) for i, s in enumerate(CLEAN)])


def auto_failed(call_id: str) -> CallResult:
    return result(call_id, [*clean(call_id).findings, banned(call_id, "vulgar", 25.9)])


def test_auto_fail_fires_only_on_an_auto_failed_call_and_names_its_item() -> None:
    bad, good = auto_failed("c-bad"), clean("c-good")
    assert bad.score.auto_fail and not good.score.auto_fail
    assert fired_events(good, ["auto_fail"]) == []
    (fired,) = fired_events(bad, ["auto_fail"])
    assert fired.rule in fired.rules and "vulgar_or_provocation" in fired.rules and fired.start == 25.9


def test_rule_fires_on_a_failed_step_or_a_finding_never_on_a_passed_step_or_assist() -> None:
    missed = result("c1", [step("c1", "greeting", "fail"), step("c1", "closing", "pass")])
    assert [f.event for f in fired_events(missed, ["rule:greeting", "rule:closing"])] == ["rule:greeting"]
    trial = result("c2", [banned("c2", "refusal", 3.0, assist=True)])
    assert fired_events(trial, ["rule:refusal_1"]) == []
    live = result("c3", [banned("c3", "refusal", 3.0)])
    assert [(f.rule, f.start) for f in fired_events(live, ["rule:refusal_1"])] == [("refusal_1", 3.0)]


def test_criterion_and_score_bar() -> None:
    call = result("c1", [*clean("c1").findings, banned("c1", "blame_shifting", 12.0)])
    assert call.score.criterion("no_blame").status == "fail" and call.score.total == 85.0
    fired = fired_events(call, ["criterion:no_blame", "criterion:greeting", "score_below:90", "score_below:80"])
    assert [(f.event, f.rule) for f in fired] == [("criterion:no_blame", "no_blame"), ("score_below:90", None)]


def test_escalation_fires_only_with_an_emotional_agent() -> None:
    only_escalation = result("c1", [*clean("c1").findings, escalation("c1", 30.0)])
    both = result("c2", [*clean("c2").findings, escalation("c2", 30.0), emotional_agent("c2", 20.0)])
    only_emotional = result("c3", [*clean("c3").findings, emotional_agent("c3", 20.0)])
    event = ["escalation_emotional_agent"]
    assert fired_events(only_escalation, event) == fired_events(only_emotional, event) == []
    (fired,) = fired_events(both, event)
    assert fired.rules == ["complaint_threat", "emotional_agent"] and fired.start == 20.0


def test_the_body_names_the_call_and_links_to_its_page_without_transcript_text() -> None:
    bad = auto_failed("night 1/c#7")
    (fired,) = fired_events(bad, ["auto_fail"])
    body = message(bad, fired, "http://qa.local:8000/", "run-1")
    assert body["url"] == "http://qa.local:8000/calls/night%201%2Fc%237#t=25.9"
    assert (body["call_id"], body["agent_id"], body["team"], body["event"], body["score"], body["run_id"]) == (
        "night 1/c#7", "anna", "cards_east", "auto_fail", 0.0, "run-1")
    assert "…" not in json.dumps(body)  # the evidence text stays home
    assert call_link("", "c1") == "/calls/c1"


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"call_id": "c1", "event": "auto_fail"}'
    header = sign(body, "s3cret")
    assert header == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify(body, "s3cret", header)
    assert not verify(body + b" ", "s3cret", header) and not verify(body, "other", header)


# ------------------------------------------------------------------ qa.yaml: strict
def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "qa.yaml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """\
alerts:
  base_url: http://qa.local:8000
  webhooks:
    - url: https://hooks.example/qa
      events: [auto_fail, "rule:greeting", "criterion:no_blame", "score_below:60", escalation_emotional_agent]
      secret: s3cret
  email: {smtp_host: mail.local, from: qa@example.com, to: [lead@example.com], events: [auto_fail]}
"""


def test_the_issue_s_alerts_block_loads(tmp_path: Path) -> None:
    alerts = load_config(write(tmp_path, GOOD)).alerts
    assert alerts.webhooks[0].events[-1] == "escalation_emotional_agent" and alerts.webhooks[0].secret == "s3cret"
    assert (alerts.email.smtp_host, alerts.email.smtp_port, alerts.email.sender, alerts.email.to) == (
        "mail.local", 25, "qa@example.com", ("lead@example.com",))
    assert load_config(write(tmp_path, "asr: {}\n")).alerts == AlertsConfig()


@pytest.mark.parametrize("body, field, line", [
    ("alerts:\n  webhook: []\n", "alerts.webhook", 2),
    ("alerts:\n  webhooks:\n    - url: http://h/\n      secret: s\n      event: [auto_fail]\n", "alerts.webhooks[0].event", 5),
    ("alerts:\n  webhooks:\n    - url: http://h/\n      secret: s\n", "alerts.webhooks[0].events", 3),
    ("alerts:\n  webhooks:\n    - url: http://h/\n      secret: s\n      events: [auto_fial]\n", "alerts.webhooks[0].events", 5),
    ("alerts:\n  webhooks:\n    - url: http://h/\n      secret: s\n      events: ['score_below:120']\n",
     "alerts.webhooks[0].events", 5),
    ("alerts:\n  webhooks:\n    - url: http://h/\n      secret: s\n      events: ['rule:']\n", "alerts.webhooks[0].events", 5),
    ("alerts:\n  webhooks:\n    - url: http://h/\n      events: [auto_fail]\n", "alerts.webhooks[0].secret", 3),
    ("alerts:\n  webhooks:\n    - url: hooks.example\n      secret: s\n      events: [auto_fail]\n", "alerts.webhooks[0].url", 3),
    ("alerts:\n  webhooks: {url: http://h/}\n", "alerts.webhooks", 2),
    ("alerts:\n  email: {smtp_host: m, to: [a@b], events: [auto_fail]}\n", "alerts.email.from", 2),
    ("alerts:\n  email: {smtp_host: m, from: q@b, to: [a@b], events: [auto_fail], smtp_port: 0}\n",
     "alerts.email.smtp_port", 2),
    ("alerts:\n  email: {smtp_host: m, from: q@b, to: [a@b], events: [auto_fail], password: p}\n", "alerts.email.user", 2),
    ("alerts:\n  attempts: 0\n", "alerts.attempts", 2),
])
def test_mistakes_name_file_line_and_field(tmp_path: Path, body: str, field: str, line: int) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert (exc.value.field, exc.value.line) == (field, line) and str(path) in str(exc.value)


def test_secrets_from_the_environment_and_criteria_from_the_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, "alerts:\n  webhooks:\n    - url: http://h/\n      secret_env: QA_TEST_HOOK\n"
                                      "      events: ['criterion:no_blame']\n")).alerts
    criteria = {c.id for c in load_form(None).criteria}
    monkeypatch.delenv("QA_TEST_HOOK", raising=False)
    with pytest.raises(ConfigError, match="QA_TEST_HOOK is not set"):
        destinations(cfg, "qa.yaml", criteria)
    monkeypatch.setenv("QA_TEST_HOOK", "from-env")
    assert destinations(cfg, "qa.yaml", criteria)[0].secret == "from-env"
    with pytest.raises(ConfigError, match="no such criterion"):
        destinations(cfg, "qa.yaml", {"greeting"})


def test_an_unset_secret_stops_the_nightly_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_TEST_HOOK", raising=False)
    night = tmp_path / "night"
    night.mkdir()
    shutil.copy(SAMPLES / "en_compliant_charge_check.wav", night / "a1_20261120T093000.wav")
    config = write(tmp_path, "alerts:\n  webhooks:\n    - url: http://h/\n      secret_env: QA_TEST_HOOK\n"
                             "      events: [auto_fail]\n")
    db = tmp_path / "qa.db"
    outcome = CliRunner().invoke(app, ["nightly", str(night), "--db", str(db), "--quiet", "--config", str(config)])
    assert outcome.exit_code == EXIT_CONFIG, outcome.output
    assert "alerts.webhooks[0].secret_env" in outcome.output and not db.exists()


# ------------------------------------------------------------------ delivery to servers the test starts
def alerts_config(tmp_path: Path, body: str) -> AlertsConfig:
    return load_config(write(tmp_path, "alerts:\n" + body)).alerts


def send(config: AlertsConfig, results: list[CallResult], folder: Path, wait: float = 10.0) -> tuple[tuple[int, int], list]:
    """Each result stored in turn, the run ended; (sent, given up) and the alert lines of the real run log."""
    run_log = RunLog(folder / "qa_logs")
    sender = AlertSender(config, destinations(config, "qa.yaml"), run_log.event, "r1")
    for r in results:
        sender.stored(r)
    counts = sender.close(wait)
    run_log.close()
    lines = [json.loads(line) for line in run_log.path.read_text(encoding="utf-8").splitlines()]
    return counts, [(line.pop("event"), line) for line in lines]


def test_one_signed_post_per_auto_failed_call(tmp_path: Path) -> None:
    with Receiver() as receiver:
        config = alerts_config(tmp_path, f"  base_url: http://qa.local\n  webhooks:\n    - url: {receiver.url}\n"
                                         "      secret: s3cret\n      events: [auto_fail]\n")
        counts, logged = send(config, [auto_failed("c1"), clean("c2"), auto_failed("c3")], tmp_path)
    assert counts == (2, 0)
    assert sorted(json.loads(body)["call_id"] for _, body in receiver.posts) == ["c1", "c3"]
    for headers, body in receiver.posts:
        assert verify(body, "s3cret", headers["X-QA-Signature"]), "the signature does not verify"
        assert headers["Content-Type"].startswith("application/json")
    first = json.loads(receiver.posts[0][1])
    assert first["url"].startswith("http://qa.local/calls/") and first["rule"] == "vulgar_or_provocation"
    assert [(n, d["attempts"], d["status"]) for n, d in logged] == [("alert_sent", 1, "HTTP 200")] * 2
    assert all("token" not in d["destination"] for _, d in logged)  # the query may hold a secret
    assert {(d["alert"], d["call_id"], d["kind"]) for _, d in logged} == {("auto_fail", "c1", "webhook"),
                                                                         ("auto_fail", "c3", "webhook")}


def test_a_server_error_is_retried_and_a_refusal_is_not(tmp_path: Path) -> None:
    with Receiver([500, 200, 403]) as receiver:
        config = alerts_config(tmp_path, f"  backoff: 0.05\n  webhooks:\n    - url: {receiver.url}\n"
                                         "      secret: s\n      events: [auto_fail]\n")
        counts, logged = send(config, [auto_failed("c1"), auto_failed("c2")], tmp_path)
    assert counts == (1, 1) and len(receiver.posts) == 3
    assert (logged[0][0], logged[0][1]["attempts"]) == ("alert_sent", 2)
    assert (logged[1][0], logged[1][1]["attempts"]) == ("alert_given_up", 1) and "403" in logged[1][1]["error"]


def test_a_webhook_that_is_down_is_given_up_within_its_bounds(tmp_path: Path) -> None:
    config = alerts_config(tmp_path, f"  webhooks:\n    - url: http://127.0.0.1:{closed_port()}/\n"
                                     "      secret: s\n      events: [auto_fail]\n")
    started = time.monotonic()
    counts, logged = send(config, [auto_failed("c1")], tmp_path)
    assert counts == (0, 1) and time.monotonic() - started < 5  # tries at 0, 0.5 and 1.5 s
    (name, data), = logged
    assert (name, data["attempts"], data["call_id"]) == ("alert_given_up", 3, "c1") and "refused" in data["error"]


def test_what_is_queued_when_the_run_ends_is_given_up_not_waited_for(tmp_path: Path) -> None:
    config = alerts_config(tmp_path, f"  backoff: 5\n  webhooks:\n    - url: http://127.0.0.1:{closed_port()}/\n"
                                     "      secret: s\n      events: [auto_fail]\n")
    started = time.monotonic()
    counts, logged = send(config, [auto_failed("c1"), auto_failed("c2")], tmp_path, wait=0.3)
    assert counts == (0, 2) and time.monotonic() - started < 2
    assert {d["call_id"] for _, d in logged} == {"c1", "c2"} and all("run ended" in d["error"] for _, d in logged)


def test_email_through_a_local_smtp_server(tmp_path: Path) -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
            received.append(envelope)
            return "250 OK"

    port = closed_port()
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = alerts_config(tmp_path, f"  base_url: http://qa.local\n  email: {{smtp_host: 127.0.0.1, smtp_port: {port}, "
                                         "from: qa@example.com, to: [lead@example.com, coach@example.com], "
                                         "events: ['score_below:90']}\n")
        counts, logged = send(config, [auto_failed("c1"), clean("c2")], tmp_path)
    finally:
        controller.stop()
    assert counts == (1, 0) and logged[0][1]["destination"] == f"smtp://127.0.0.1:{port}"
    (mail,) = received
    assert mail.mail_from == "qa@example.com" and mail.rcpt_tos == ["lead@example.com", "coach@example.com"]
    text = mail.content.decode("utf-8")
    assert "Subject: QA alert score_below:90: call c1 (anna, score 0)" in text
    assert "url: http://qa.local/calls/c1" in text and "agent_id: anna" in text
