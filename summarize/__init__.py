"""summarize: faithful French summaries with open-weight GGUF models on your own machine."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Summarizer", "Result", "SummarizeError", "__version__"]

if TYPE_CHECKING:
    from .errors import SummarizeError
    from .summarizer import Result, Summarizer


def __getattr__(name: str) -> Any:  # lazy: keeps `summarize --help` and cache hits fast
    if name in ("Summarizer", "Result"):
        from . import summarizer

        return getattr(summarizer, name)
    if name == "SummarizeError":
        from .errors import SummarizeError

        return SummarizeError
    raise AttributeError(name)
