"""Sending the alerts of one nightly run: a signed webhook POST or an e-mail per call and event, each on its
destination's own background thread, so a slow or dead receiver never holds up the batch or another receiver.

Each delivery is tried ``alerts.attempts`` times, ``alerts.timeout`` seconds each, waiting ``alerts.backoff``
seconds before the second try and twice as long before each later one (defaults: at most 7.5 s). A refusal
that a retry cannot change (HTTP 4xx other than 408/429, an SMTP 5xx) is given up at once. When the batch
ends, it waits at most ``alerts.drain_seconds`` for what is still queued; what is left is given up. Every
delivery and every give-up is a line of the run log (``alert_sent``, ``alert_given_up``); nothing here
changes the batch's exit status.
"""

from __future__ import annotations

import logging
import os
import queue
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from qa_pipeline.batch.alerts import SIGNATURE_HEADER, encode, fired_events, message, sign
from qa_pipeline.config import AlertsConfig
from qa_pipeline.contracts import CallResult
from qa_pipeline.errors import ConfigError
from qa_pipeline.version import __version__

log = logging.getLogger("qa_pipeline.batch.alerts")
LogFn = Callable[[str, dict[str, Any]], None]


class Permanent(Exception):
    """A refusal that a retry would not change."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body: that would count as delivered.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Webhook:
    url: str
    secret: str
    events: tuple[str, ...]
    kind: str = "webhook"

    @property
    def name(self) -> str:  # the query may hold a token: not in the run log
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def send(self, body: dict[str, Any], timeout: float) -> str:
        data = encode(body)
        request = urllib.request.Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(data, self.secret),
            "User-Agent": f"qa_pipeline/{__version__}"})
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                return f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise Permanent(f"HTTP {exc.code} {exc.reason}") from None
            raise


@dataclass
class Email:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    events: tuple[str, ...]
    starttls: bool = False
    user: str = ""
    password: str = ""
    kind: str = "email"

    @property
    def name(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def send(self, body: dict[str, Any], timeout: float) -> str:
        mail = EmailMessage()
        score = "no score" if body["score"] is None else f"score {body['score']:g}"
        mail["Subject"] = f"QA alert {body['event']}: call {body['call_id']} ({body['agent_id'] or 'no agent'}, {score})"
        mail["From"], mail["To"] = self.sender, ", ".join(self.to)
        mail.set_content("".join(f"{k}: {v}\n" for k, v in body.items() if v not in (None, "", [])))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise Permanent(f"recipients refused: {', '.join(exc.recipients)}") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise Permanent(f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from None
            raise
        return f"accepted for {len(self.to)} recipient(s)"


Destination = Webhook | Email


def _secret(source: str, where: str, written: str, env: str) -> str:
    if written:
        return written
    value = os.environ.get(env, "")
    if not value:
        raise ConfigError(source, where, f"the environment variable {env} is not set (or empty)")
    return value


def destinations(config: AlertsConfig, source: str, criteria: set[str] | None = None) -> list[Destination]:
    """The configured receivers with their secrets read from the environment. ConfigError (before the run starts)
    for a secret_env / password_env that is not set, or a ``criterion:`` event that the form does not have."""
    out: list[Destination] = []
    for i, hook in enumerate(config.webhooks):
        where = f"alerts.webhooks[{i}]"
        _check_criteria(source, f"{where}.events", hook.events, criteria)
        out.append(Webhook(hook.url, _secret(source, f"{where}.secret_env", hook.secret, hook.secret_env), hook.events))
    mail = config.email
    if mail is not None:
        _check_criteria(source, "alerts.email.events", mail.events, criteria)
        password = _secret(source, "alerts.email.password_env", mail.password, mail.password_env) if (
            mail.password or mail.password_env) else ""
        out.append(Email(mail.smtp_host, mail.smtp_port, mail.sender, mail.to, mail.events, mail.starttls, mail.user,
                         password))
    return out


def _check_criteria(source: str, where: str, events: tuple[str, ...], criteria: set[str] | None) -> None:
    for event in events:
        if criteria is not None and event.startswith("criterion:") and event.partition(":")[2].strip() not in criteria:
            raise ConfigError(source, where, f"{event!r}: the scorecard form has no such criterion; its criteria: "
                              f"{', '.join(sorted(criteria))}")


@dataclass
class _Job:
    call_id: str
    event: str
    body: dict[str, Any]


class AlertSender:
    """The alerts of one run. ``stored(result)`` after each call is stored; ``close(wait)`` when the run ends."""

    def __init__(self, config: AlertsConfig, targets: list[Destination], run_log: LogFn, run_id: str):
        self.config, self.targets, self.run_log, self.run_id = config, targets, run_log, run_id
        self.sent = self.given_up = 0
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._queues: list[queue.Queue[_Job | None]] = [queue.Queue() for _ in targets]
        self._in_flight: list[_Job | None] = [None] * len(targets)
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"qa-alerts-{t.kind}-{i}", daemon=True)
                         for i, t in enumerate(targets)]
        for thread in self._threads:
            thread.start()

    def stored(self, result: CallResult) -> None:
        """Queue what ``result`` fires for each receiver; returns at once."""
        for i, target in enumerate(self.targets):
            for fired in fired_events(result, target.events):
                self._queues[i].put(_Job(result.call.call_id, fired.event,
                                         message(result, fired, self.config.base_url, self.run_id)))

    def close(self, wait: float) -> tuple[int, int]:
        """Wait at most ``wait`` seconds for the queued deliveries; give up the rest. (sent, given up)."""
        deadline = time.monotonic() + wait
        for q in self._queues:
            q.put(None)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for i, q in enumerate(self._queues):
                left = [self._in_flight[i]] if self._in_flight[i] else []
                while not q.empty():
                    job = q.get_nowait()
                    left += [job] if job is not None else []
                for job in left:
                    self._record_locked("alert_given_up", i, job, attempts=None,
                                        error=f"the run ended before it was delivered (waited {wait:g} s)")
            self._closed = True
        self._stop.set()  # a worker between tries wakes and quits
        return self.sent, self.given_up

    def _work(self, i: int) -> None:
        while not self._stop.is_set():
            job = self._queues[i].get()
            if job is None:
                return
            with self._lock:
                self._in_flight[i] = job
            self._deliver(i, job)

    def _deliver(self, i: int, job: _Job) -> None:
        cfg, target = self.config, self.targets[i]
        for attempt in range(1, cfg.attempts + 1):
            try:
                status = target.send(job.body, cfg.timeout)
            except Exception as exc:  # noqa: BLE001 - any failure of a receiver is logged, never raised into the batch
                error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, Permanent) or attempt == cfg.attempts or self._stop.wait(
                        cfg.backoff * 2 ** (attempt - 1)):
                    self._record("alert_given_up", i, job, attempts=attempt, error=error)
                    return
                log.debug("alert to %s failed (try %d): %s", target.name, attempt, error)
                continue
            self._record("alert_sent", i, job, attempts=attempt, status=status)
            return

    def _record(self, name: str, i: int, job: _Job, **data: Any) -> None:
        with self._lock:
            if self._closed:  # close() already logged it as given up
                return
            self._in_flight[i] = None
            self._record_locked(name, i, job, **data)

    def _record_locked(self, name: str, i: int, job: _Job, **data: Any) -> None:
        target = self.targets[i]
        if name == "alert_sent":
            self.sent += 1
        else:
            self.given_up += 1
            log.warning("alert %s for call %s to %s given up: %s", job.event, job.call_id, target.name, data["error"])
        try:  # "alert", not "event": the run log's own key says alert_sent / alert_given_up
            self.run_log(name, {"destination": target.name, "kind": target.kind, "alert": job.event,
                                "call_id": job.call_id, **data})
        except Exception:  # noqa: BLE001 - a run log that cannot be written must not stop the batch either
            log.debug("could not write %s to the run log", name, exc_info=True)
