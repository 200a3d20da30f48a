"""One root for every error the product raises on purpose, each with the exit status the CLI gives it.

A cron job or a systemd unit reads the exit status, so the table below is part of the interface and is
documented in docs/reference/exit-codes.md (a test keeps the two equal):

====  ==================  =====================================================================
code  name                meaning
====  ==================  =====================================================================
0     OK                  everything asked for was done
1     INTERNAL            a bug or an unexpected failure (a traceback is in the run log)
2     USAGE               a wrong command line or human input (bad flag, unknown call, verdict)
3     SOME_QUARANTINED    the run finished; some recordings could not be processed (quarantined)
4     CONFIG              configuration, rule pack, form, model or manifest unusable: nothing ran
5     NOTHING_TO_DO       the run found no recording to process (an empty night)
6     STORAGE             the database is corrupt or the disk is full: fix the storage, run again
75    LOCKED              another run holds the database (try again later)
130   INTERRUPTED         stopped by Ctrl-C / SIGINT
====  ==================  =====================================================================
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_SOME_QUARANTINED = 3
EXIT_CONFIG = 4
EXIT_NOTHING_TO_DO = 5
EXIT_STORAGE = 6
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "everything asked for was done",
    EXIT_INTERNAL: "a bug or an unexpected failure (see the run log)",
    EXIT_USAGE: "a wrong command line or human input",
    EXIT_SOME_QUARANTINED: "the run finished; some recordings were quarantined",
    EXIT_CONFIG: "configuration, rule pack, form, model or manifest unusable; nothing was processed",
    EXIT_NOTHING_TO_DO: "no recording to process (an empty night)",
    EXIT_STORAGE: "the database is corrupt or the disk is full",
    EXIT_LOCKED: "another run holds the database",
    EXIT_INTERRUPTED: "interrupted",
}


class QAError(Exception):
    """The root: a message meant for a person, and the exit status a command ends with."""

    exit_code = EXIT_INTERNAL


def where(path: str | Path, line: int | None = None) -> str:
    """``file, line N`` as every located message starts."""
    return f"{path}" + (f", line {line}" if line else "")


class ConfigError(QAError, ValueError):
    """A configuration file that cannot be used: names the file, the line and the field."""

    exit_code = EXIT_CONFIG

    def __init__(self, path: str | Path, field_name: str, message: str, line: int | None = None):
        self.path, self.field, self.line = str(path), field_name, line
        super().__init__(f"{where(path, line)}: {field_name}: {message}")


class RulePackError(ConfigError):
    """A rule pack that cannot be used."""

    def __init__(self, path: str | Path, line: int | None, field_name: str, message: str):
        super().__init__(path, field_name, message, line)


class FormError(ConfigError):
    """A scorecard form that cannot be used."""


class ManifestError(ConfigError):
    """A manifest of a night's calls that cannot be used (a bad row stops the run before any call)."""


class ModelError(QAError, RuntimeError):
    """A model is missing, damaged, cannot be loaded, or cannot serve what the configuration asks of it."""

    exit_code = EXIT_CONFIG


class InputError(QAError):
    """An input file that cannot be processed."""

    exit_code = EXIT_SOME_QUARANTINED


class AudioError(InputError):
    """A recording that cannot be processed. ``reason`` is one of REASONS."""

    REASONS = ("not_found", "empty", "corrupt", "truncated", "unsupported", "silent", "too_long", "not_a_file")

    def __init__(self, path: str | Path, reason: str, detail: str = ""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))


class UsageError(QAError, ValueError):
    """A command line that cannot be run as given (a bad flag value)."""

    exit_code = EXIT_USAGE


class ReviewError(QAError, ValueError):
    """A human decision that cannot be taken as given (wrong role, unknown call, a score out of range…)."""

    exit_code = EXIT_USAGE


class ValidationError(ReviewError):
    """A human input out of bounds: a score above its criterion's weight or not a number, a text too long, a
    date or ISO week that does not exist. The message names the field."""


class NotFoundError(ReviewError):
    """The call, review, dispute or user named does not exist."""


class PermissionDenied(ReviewError):
    """The user's role or ownership does not allow this."""


class ConflictError(ReviewError):
    """Someone else holds the call, or the decision was already taken (a second open dispute…)."""


class StorageError(QAError):
    """The database is corrupt or cannot be written (disk full)."""

    exit_code = EXIT_STORAGE


class BatchError(QAError):
    """The run as a whole cannot go on."""

    exit_code = EXIT_INTERNAL


class NothingToDo(BatchError):
    """The run found no recording to process."""

    exit_code = EXIT_NOTHING_TO_DO


class LockedError(BatchError):
    """Another run holds the database."""

    exit_code = EXIT_LOCKED
