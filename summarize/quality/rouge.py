"""ROUGE-1/2/L F1, scored two ways.

* ``paper``: the ``rouge-score`` package with its default tokenizer and no stemming, which
  is how the BARThez paper scored OrangeSum. That tokenizer keeps only ``[a-z0-9]``, so
  accented letters split words ("été" → "t"): numbers stay comparable with the paper.
* ``unicode``: lowercase ``\\w+`` tokens, which keeps French words whole. It is the honest
  number for French; both are always reported side by side.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

TYPES = ("rouge1", "rouge2", "rougeL")
SCORERS = ("paper", "unicode")
_WORD = re.compile(r"\w+", re.UNICODE)


class UnicodeTokenizer:
    """Lowercase, ``\\w+`` tokens: keeps "été" and "l'État" → ["l", "état"] whole words."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def _scorer(kind: str):  # type: ignore[no-untyped-def]
    from rouge_score import rouge_scorer

    if kind == "paper":
        return rouge_scorer.RougeScorer(list(TYPES), use_stemmer=False)
    if kind == "unicode":
        return rouge_scorer.RougeScorer(list(TYPES), use_stemmer=False, tokenizer=UnicodeTokenizer())
    raise ValueError(f"unknown scorer {kind!r}; choose one of {', '.join(SCORERS)}")


@dataclass
class RougeTotals:
    """Running sums of per-document F1 (the paper reports the mean over documents)."""

    kind: str
    n: int = 0
    sums: dict[str, float] = field(default_factory=lambda: {t: 0.0 for t in TYPES})

    def add(self, scores: dict[str, float]) -> None:
        self.n += 1
        for t in TYPES:
            self.sums[t] += scores[t]

    def means(self) -> dict[str, float]:
        """Mean F1 × 100, rounded to 2 decimals like the paper's table."""
        return {t: round(100 * self.sums[t] / self.n, 2) if self.n else 0.0 for t in TYPES}


class Rouge:
    """Scores (reference, candidate) pairs with both scorers; builds the scorers once."""

    def __init__(self, kinds: Iterable[str] = SCORERS) -> None:
        self.kinds = tuple(kinds)
        self._scorers = {k: _scorer(k) for k in self.kinds}

    def score(self, reference: str, candidate: str) -> dict[str, dict[str, float]]:
        out = {}
        for kind, scorer in self._scorers.items():
            raw = scorer.score(reference, candidate)
            out[kind] = {t: raw[t].fmeasure for t in TYPES}
        return out


def corpus(pairs: Iterable[tuple[str, str]], kinds: Iterable[str] = SCORERS) -> dict[str, dict[str, float]]:
    """Mean F1 × 100 of (reference, candidate) pairs, per scorer."""
    rouge = Rouge(kinds)
    totals = {k: RougeTotals(k) for k in rouge.kinds}
    for ref, cand in pairs:
        for kind, scores in rouge.score(ref, cand).items():
            totals[kind].add(scores)
    return {k: t.means() for k, t in totals.items()}
