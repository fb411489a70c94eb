"""Faithfulness as numbers, measured like ROUGE (issue 20), for any system's summaries:

* **supported share**: the share of summary sentences the attribution supports (attribution.py);
* **invented-entity rate**: of the numbers, names and dates a summary writes, the share its
  source never writes (anywhere: a name said in another paragraph is not invented).

Both are micro-averages over a set (sentences, items), so long summaries weigh more.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import lexicon
from .attribution import Index, attribute, split


def invented(summary: str, source: str | Index) -> tuple[int, list[str]]:
    """(how many numbers, names and dates the summary writes, those the source never writes)."""
    text = source.text if isinstance(source, Index) else source
    lower = source.lower if isinstance(source, Index) else lexicon.lowercase_words(text)
    caps = source.capitalized if isinstance(source, Index) else lexicon.capitalized_words(text)
    known_numbers, known_words = lexicon.numbers(text), lexicon.folded_words(text)
    total, out = 0, []
    for sentence in split(summary):
        c = lexicon.claims(sentence, lower, caps)
        total += len(c.numbers) + len(c.names) + len(c.dates)
        out += sorted(n for n in c.numbers if n not in known_numbers)
        out += sorted(w for w in c.names | c.dates if w not in known_words)
    return total, out


@dataclass
class Faithfulness:
    """Running totals for one system over a set of documents."""

    documents: int = 0
    sentences: int = 0
    supported: int = 0
    entities: int = 0
    invented: int = 0
    examples: list[str] = field(default_factory=list)  # a few invented items, to see what they are

    def add(self, summary: str, source: str | Index) -> dict[str, Any]:
        """Score one summary; returns its own figures (for the per-document rows)."""
        index = source if isinstance(source, Index) else Index(source)
        sentences = attribute(summary, index)
        total, made_up = invented(summary, index)
        self.documents += 1
        self.sentences += len(sentences)
        self.supported += sum(s.supported for s in sentences)
        self.entities += total
        self.invented += len(made_up)
        self.examples += made_up[: max(0, 10 - len(self.examples))]
        return {"sentences": len(sentences), "supported": sum(s.supported for s in sentences),
                "entities": total, "invented": made_up}

    def as_dict(self) -> dict[str, Any]:
        return {"documents": self.documents, "sentences": self.sentences,
                "supported_share": round(self.supported / self.sentences, 4) if self.sentences else None,
                "entities": self.entities,
                "invented_entity_rate": round(self.invented / self.entities, 4) if self.entities else None,
                "invented_examples": self.examples}
