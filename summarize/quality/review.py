"""One model output through every rule before it may be kept: the output rules (French only,
no URL), the support rule (each sentence supported by a passage of its content, or for a
fusion by one of the partial summaries it fuses), then the guards (guards.check), and for a
fusion that every part it was given is still mentioned.

A ``Review`` is made once per stage and called on each attempt (and each draft): the
content's passage index is built at the first output and reused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import attribution, guards


@dataclass
class Verdict:
    summary: str  # what is left once the unsupported and foreign sentences are dropped
    failures: list[str]  # guard failures of what is left: empty when it may be kept
    dropped: int  # sentences dropped by the output and support rules


@dataclass
class Review:
    content: str  # what the model was shown (a chunk, a document): the support rule's passages
    source_text: str  # the whole document: where an invented number or name is looked for
    template_text: str  # the prompt without the document: an output that echoes it fails
    max_words: int
    inputs: list[str] | None = None  # a fusion's partial summaries
    _index: Any = field(default=None, repr=False)

    def shown(self, content: str) -> None:
        """The model is now shown ``content`` (a retry without the document's orders): it is the
        support rule's passages unless an earlier output already indexed the first one."""
        if self._index is None:
            self.content = content

    def __call__(self, text: str, *, truncated: bool = False) -> Verdict:
        inputs = self.inputs
        summary = guards.clean(text, truncated=truncated)
        kept = guards.keep_french(summary)  # output rules: a copied English passage or URL goes
        if inputs:  # a fusion keeps only the sentences one of its partial summaries supports
            kept = guards.keep_supported(kept, inputs)
        grounded, dropped = True, 0
        if not inputs and kept:  # a sentence no passage of the content supports is dropped (issue 20)
            self._index = self._index or attribution.Index(self.content)
            kept, unsupported, grounded = attribution.keep_supported(kept, self._index)
            dropped += unsupported
        if kept != summary:
            dropped += len(guards.foreign_sentences(summary)) + (len(guards.unsupported(summary, inputs))
                                                                 if inputs else 0)
            summary = kept
        failures = guards.check(summary, self.source_text, template=self.template_text, max_words=self.max_words)
        if not grounded:  # most of its sentences unsupported: retried, then the extractive fallback
            failures.append(attribution.UNSUPPORTED)
        if inputs and not failures and guards.uncovered(summary, inputs):
            failures = [guards.UNCOVERED]  # a fusion that dropped one of its partial summaries
        return Verdict(summary, failures, dropped)
