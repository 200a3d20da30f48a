"""What every command shares: the consoles, the common options, error handling and small helpers.

Every command is registered through ``Typer`` below, whose commands turn a ``QAError`` into its message on
stderr and its exit status (errors.py), never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import qa_pipeline as qa
from qa_pipeline.errors import EXIT_USAGE

out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="qa.yaml with asr/audio/... settings.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
LanguageOpt = Annotated[str | None, typer.Option("--language", help="auto | zh | en")]
AgentChannelOpt = Annotated[int | None, typer.Option("--agent-channel", help="Stereo channel of the agent: 0 or 1.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="base | tiny.en | a faster-whisper model path.")]
LayoutOpt = Annotated[str | None, typer.Option("--layout", help="stereo | mono (default: detect).")]
DbOpt = Annotated[Path, typer.Option("--db", help="SQLite database.")]
UserOpt = Annotated[str, typer.Option("--user", help="Who is acting (a user added with `qa users add`).")]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Reference data (default: $QA_SHARED_DATA or ../shared/data).")]
RulesOpt = Annotated[list[Path] | None, typer.Option("--rules", help="A team's rule pack file or folder (repeatable); "
                                                     "overrides/extends the defaults.")]


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose QAError becomes its message and exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except qa.QAError as exc:
            raise fail(str(exc), exc.exit_code) from None

    return wrapper


class Typer(typer.Typer):
    """typer.Typer whose commands are ``handled``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(no_args_is_help=True, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            register(handled(fn))
            return fn

        return decorator


def load_settings(config: Path | None, model: str | None = None, language: str | None = None) -> qa.QAConfig:
    cfg = qa.load_config(config)
    if model:
        cfg.asr.model = model
    if language:
        if language not in ("auto",) and len(language) > 3:
            raise fail(f"--language must be auto, zh, en or a Whisper code, not {language!r}", EXIT_USAGE)
        cfg.asr.language = language
    return cfg


def load_input(path: Path, cfg: qa.QAConfig, agent_channel: int | None, layout: str | None) -> qa.Audio:
    if agent_channel not in (None, 0, 1):
        raise fail("--agent-channel must be 0 or 1", EXIT_USAGE)
    return qa.load_audio(path, cfg.audio.max_seconds, cfg.audio.agent_channel if agent_channel is None else agent_channel,
                         layout)


def clock(t: float) -> str:
    minutes, seconds = divmod(t, 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def open_store(db: Path, must_exist: bool = True) -> qa.Store:
    if must_exist and not db.exists():
        raise fail(f"{db}: no such database (run `qa nightly ... --db {db}` first)", EXIT_USAGE)
    return qa.Store(db)


def emit(data: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    if as_json:
        write_json(data)
    else:
        render(data)


def write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def write_output(data: bytes, out_path: Path | None, what: str) -> None:
    """A report to stdout, or to ``out_path`` with a line on stderr saying so."""
    if out_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(data)
    err.print(f"{what} written to {out_path} ({len(data)} bytes)", highlight=False, soft_wrap=True)


def shared_dir() -> Path:
    """The shared reference data: $QA_SHARED_DATA, else ../shared/data beside the working directory."""
    return Path(os.environ.get("QA_SHARED_DATA") or Path.cwd().parent / "shared" / "data")


def shared_data_dir(data: Path | None) -> Path | None:
    path = data or shared_dir()
    return path if path.is_dir() else None
