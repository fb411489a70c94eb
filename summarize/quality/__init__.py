"""Quality of a summary: the output rules a model's text must pass, and how well it holds to its source.

    from summarize.quality import Index, attribute
    for s in attribute(summary, Index(document_text, layout)):
        print(s.supported, s.score, [(src.quote, src.location) for src in s.sources])

Modules: guards (every output checked before it is cached or shown: French, loops, echoes,
invented numbers, injection, URLs, English sentences), language (is a text French, is a
sentence English), injection (documents are data, never orders), extractive (the fallback
and the sentences prompts show), typography (French typography of the final text), rouge
(ROUGE scoring for the evaluator); attribution, passages, lexicon (each sentence's sources
and the support rule, located in the file by the readers' ``reading.layout``), faithfulness,
cite (citations), review (one model output through the rules and the guards, as the
summarizer keeps or retries it). Callers import the rule modules themselves:
``from summarize.quality import guards``.

Names: ``attribute``, ``Index`` and the ``Sentence`` / ``Source`` they give;
``keep_supported`` and ``UNSUPPORTED`` for the guards; ``Faithfulness`` and ``invented``
for the evaluator; ``render`` (citations as Markdown). Everything loads lazily: importing
``quality.guards`` loads no attribution module.
"""
from __future__ import annotations

from ..lazy import names

# The support rule's version, part of every summary's cache key (summarizer.TEXT_RULES);
# support-2: a near-copy of a passage with one content word swapped is not supported;
# support-3: quotations must be in one passage, a swap of up to two content words, plural
# and feminine endings stemmed, glued sentences of an output judged one by one.
VERSION = "support-3"

_WHERE = {"attribute": "attribution", "Index": "attribution", "Sentence": "attribution", "Source": "attribution",
          "keep_supported": "attribution", "UNSUPPORTED": "attribution", "supported_share": "attribution",
          "Faithfulness": "faithfulness", "invented": "faithfulness", "render": "cite"}
__all__ = sorted(_WHERE) + ["VERSION"]

__getattr__ = names(__name__, _WHERE)
