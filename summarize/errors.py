"""User-facing errors: one line saying what failed, which file, and what to do.

The CLI turns these into a single stderr line and an exit code, never a traceback.
"""
from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class SummarizeError(Exception):
    """A failure the user can act on. ``str(err)`` is the one-line message."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        self.path = path
        self.hint = hint
        parts = [f"{path}: {message}" if path else message]
        if hint:
            parts.append(hint)
        super().__init__(" — ".join(parts))


class UsageError(SummarizeError):
    """Wrong arguments or input the user must fix (exit code 2)."""

    exit_code = EXIT_USAGE


class DocumentError(UsageError):
    """A document that cannot be read or summarized (missing, empty, unsupported...)."""


class ModelError(SummarizeError):
    """A model that cannot be resolved or loaded (unknown name, not a GGUF, truncated...)."""


class UnknownModelError(ModelError):
    exit_code = EXIT_USAGE
