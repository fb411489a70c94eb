"""Resource limits per document: a hostile or accidental huge input cannot exhaust memory.

Bytes are checked by the readers before a file is read (``--max-bytes``); tokens are
checked right after the document is tokenized, before any chunking or model call
(``--max-tokens``, env SUMMARIZE_MAX_TOKENS).
"""
from __future__ import annotations

import os

from ..errors import UsageError

# ~3 MB of French text: far beyond any single document people summarize, far below what
# would exhaust memory while planning (the token ids of a document are held in memory).
DEFAULT_MAX_TOKENS = 1_000_000
MAX_TOKENS_ENV = "SUMMARIZE_MAX_TOKENS"


def resolve_max_tokens(value: int | None) -> int:
    """The explicit value, else the environment variable, else the default."""
    if value is None:
        raw = os.environ.get(MAX_TOKENS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_TOKENS
        try:
            value = int(raw)
        except ValueError:
            raise UsageError(f"{MAX_TOKENS_ENV}={raw!r} is not a number", hint="set a positive token count") from None
    if value < 1:
        raise UsageError(f"--max-tokens must be positive (got {value})", hint="set a positive token count")
    return value
