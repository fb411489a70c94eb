"""Quality of a summary against its source (issue 20): sentence attribution and faithfulness.

    from summarize.quality import Index, attribute
    for s in attribute(summary, Index(document_text, layout)):
        print(s.supported, s.score, [(src.quote, src.location) for src in s.sources])

Public surface: ``attribute``, ``Index`` and the ``Sentence`` / ``Source`` they give;
``keep_supported`` and ``UNSUPPORTED`` for the guards; ``Faithfulness`` and ``invented``
for the evaluator; ``Layout`` (what readers record of the file) and ``render`` (citations
as Markdown). Names load lazily: a reader importing ``quality.layout`` pays for nothing else.
"""
from __future__ import annotations

from typing import Any

# The support rule's version, part of every summary's cache key (summarizer.TEXT_RULES);
# support-2: a near-copy of a passage with one content word swapped is not supported;
# support-3: quotations must be in one passage, a swap of up to two content words, plural
# and feminine endings stemmed, glued sentences of an output judged one by one.
VERSION = "support-3"

_WHERE = {"attribute": "attribution", "Index": "attribution", "Sentence": "attribution", "Source": "attribution",
          "keep_supported": "attribution", "UNSUPPORTED": "attribution", "supported_share": "attribution",
          "Faithfulness": "faithfulness", "invented": "faithfulness", "Layout": "layout",
          "text_layout": "layout", "pdf_layout": "layout", "render": "cite"}
__all__ = sorted(_WHERE) + ["VERSION"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
