"""Sentence-level attribution: which passages of the source support each summary sentence.

Candidates come from BM25 (bm25s) over the passages' content stems and numbers; a written
rule then decides, with no second model:

1. **Key items**: every number, name (capitalized word) and date (weekday, month) of the
   sentence must be in the chosen passages (numbers digit for digit, words accent-folded).
2. **Content**: at least ``SUPPORT`` of the sentence's content stems (words of 4+ letters,
   not function words, cut to 6 letters) must be in the chosen passages; a stem the whole
   document never uses counts ``1 + NOVEL_WEIGHT`` times in the denominator.
3. **Polarity**: what the sentence negates, a passage must negate near the same words
   (« ne … pas », « sans », « aucun », « refuse »…), and a passage's « n'a pas pu » must not
   be the sentence's « a pu ».

Passages are chosen greedily, at most ``MAX_SOURCES``: each time the one adding the most of
the sentence's uncovered items (key items weigh ``KEY_WEIGHT``), among BM25's best
``CANDIDATES`` and the passages holding one of its key items; ties go to the higher BM25
score. Then up to ``EXTRA_SOURCES`` more, each for a key item the first ones lack (a date
said in another paragraph), and the passage that holds a negation. A sentence's ``score`` is
the weighted share of its items the chosen passages hold. The thresholds were set on
OrangeSum train/valid with corrupted abstracts (benchmarks/attribution_check.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import lexicon
from .layout import Layout
from .passages import Passage, sentence_spans, segment

SUPPORT = 0.5  # share of a sentence's content stems its passages must hold
MAX_SOURCES = 3  # a summary sentence fuses at most a few passages
EXTRA_SOURCES = 2  # more passages, each for a name, number or date the first ones lack
NOVEL_WEIGHT = 1.0  # extra weight of a content word the document never uses
CANDIDATES = 8  # BM25's best passages considered per sentence
COPIED = 0.7  # share of a sentence's words taken in order from one passage: a near-copy
KEY_WEIGHT = 2.0  # a name, number or date counts as two content words in the greedy choice and the score


@dataclass
class Source:
    quote: str
    start: int
    end: int
    score: float
    location: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"quote": self.quote, "start": self.start, "end": self.end, **self.location,
                "score": round(self.score, 3)}


@dataclass
class Sentence:
    text: str
    supported: bool
    score: float
    sources: list[Source] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # key items no passage holds, and « négation »

    def as_dict(self) -> dict[str, Any]:
        out = {"text": self.text, "supported": self.supported, "score": round(self.score, 3),
               "sources": [s.as_dict() for s in self.sources]}
        if self.missing:
            out["missing"] = self.missing
        return out


class Index:
    """A source text ready to be searched: passages, their tokens, a BM25 index."""

    def __init__(self, text: str, layout: Layout | None = None) -> None:
        self.text = text
        self.passages: list[Passage] = segment(text, layout)
        self._stems = [lexicon.stems(p.text) for p in self.passages]
        self._words = [lexicon.folded_words(p.text) for p in self.passages]
        self._numbers = [lexicon.numbers(p.text) for p in self.passages]
        self.lower = lexicon.lowercase_words(text)
        self.capitalized = lexicon.capitalized_words(text)
        self.all_stems = set().union(*self._stems) if self._stems else set()
        self._where: dict[str, list[int]] = {}  # key item → passages holding it
        for i, (ws, ns) in enumerate(zip(self._words, self._numbers)):
            for item in ws | {"#" + n for n in ns}:
                self._where.setdefault(item, []).append(i)
        self._bm25 = None
        corpus = [sorted(s) + sorted("#" + n for n in ns) for s, ns in zip(self._stems, self._numbers)]
        if any(corpus):
            import logging

            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index at DEBUG
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    # -- search --------------------------------------------------------------
    def _candidates(self, claims: lexicon.Claims) -> list[tuple[int, float]]:
        """(passage, BM25 score): BM25's best, then every passage holding a key item."""
        scores: dict[int, float] = {}
        if self._bm25 is not None:
            query = [t for t in sorted(claims.stems) + sorted("#" + n for n in claims.numbers)
                     if t in self._bm25.vocab_dict]
            if query:
                found = self._bm25.get_scores(query)
                top = found.argsort()[::-1][:CANDIDATES]
                scores = {int(i): float(found[i]) for i in top if found[i] > 0}
        for item in self._keys(claims):
            for i in self._where.get(item, ())[:50]:  # a name said 500 times: its first 50 do
                scores.setdefault(i, 0.0)
        return sorted(scores.items(), key=lambda kv: -kv[1])

    @staticmethod
    def _keys(claims: lexicon.Claims) -> list[str]:
        return sorted(claims.names | claims.dates) + sorted("#" + n for n in claims.numbers)

    def _holds(self, i: int) -> set[str]:
        return self._words[i] | {"#" + n for n in self._numbers[i]} | self._stems[i]

    # -- the rule ------------------------------------------------------------
    def support(self, sentence: str) -> Sentence:
        claims = lexicon.claims(sentence, self.lower, self.capitalized)
        keys = set(self._keys(claims))
        items = {("k", k): KEY_WEIGHT for k in keys} | {("s", s): 1.0 for s in claims.stems}
        total = sum(items.values())
        if not total or not self.passages:
            return Sentence(sentence, False, 0.0)
        chosen: list[int] = []
        covered: set[tuple[str, str]] = set()
        gains: dict[int, float] = {}

        def gain(i: int, new_only: bool = True) -> float:
            holds = self._holds(i)
            return sum(w for it, w in items.items() if it[1] in holds and not (new_only and it in covered))

        def take(i: int) -> None:
            holds = self._holds(i)
            chosen.append(i)
            gains[i] = gain(i, new_only=False) / total
            covered.update(it for it in items if it[1] in holds)

        candidates = self._candidates(claims)
        while len(chosen) < MAX_SOURCES:  # greedy: the passage adding most of what is still uncovered
            best = max((i for i, _ in candidates if i not in chosen), key=gain, default=None)  # ties: BM25 order
            if best is None or gain(best) <= 0:
                break
            take(best)
        for key in sorted(keys):  # a date or name said elsewhere: the passage that says it, up to EXTRA more
            where = self._where.get(key)
            if where and ("k", key) not in covered and len(chosen) < MAX_SOURCES + EXTRA_SOURCES:
                take(max(where[:50], key=lambda i: gain(i, new_only=False)))
        missing = sorted(k.lstrip("#") for k in keys if ("k", k) not in covered)
        for clause in lexicon.negated_clauses(sentence):
            # What the sentence denies, a passage must deny too, near the same words (« ne … pas »,
            # « sans », « aucun », « refuse »…): that passage joins the sources; none, a contradiction.
            denying = [i for i in chosen if lexicon.denies(self.passages[i].text, clause)] or \
                      [i for i, _ in candidates if lexicon.denies(self.passages[i].text, clause)]
            if not denying:
                missing.append("négation")
                break
            if denying[0] not in chosen:
                take(denying[0])
        if "négation" not in missing and self._polarity_conflict(sentence, claims, chosen):
            missing.append("négation")
        # A word the whole document never uses counts twice: what a summary adds is what it invents.
        novel = len(claims.stems - self.all_stems)
        held = sum(("s", s) in covered for s in claims.stems)
        content = held / (len(claims.stems) + NOVEL_WEIGHT * novel) if claims.stems else 1.0
        score = sum(items[it] for it in covered) / total
        supported = bool(chosen) and not missing and content >= SUPPORT
        if supported and self._substituted(sentence, chosen):
            missing.append("substitution")
            supported = False
        sources = [Source(self.passages[i].text, self.passages[i].start, self.passages[i].end, gains[i],
                          self.passages[i].location) for i in sorted(chosen)]  # in document order
        return Sentence(sentence, supported, score, sources, missing)

    def _substituted(self, sentence: str, chosen: list[int]) -> bool:
        """The sentence copies a passage word for word but for one content word put in place of
        the passage's own: « Tout usage du numérique est éco-idéal » for « … est écocidaire ».
        A paraphrase rewrites more than a word or two; an inflection keeps the stem."""
        import difflib

        def content(ws: list[str]) -> set[str]:
            return {w[:lexicon.STEM] for w in ws if len(w) >= lexicon.MIN_CONTENT and w not in lexicon.FUNCTION_WORDS}

        mine = lexicon.words(lexicon.fold(sentence))
        for i in chosen:
            theirs = lexicon.words(lexicon.fold(self.passages[i].text))
            match = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
            if sum(b.size for b in match.get_matching_blocks()) < COPIED * len(mine):
                continue
            # Edits of content words; the passage's words past the sentence's end (a longer
            # passage cut short) are no edit.
            edits = [(a0, a1, b0, b1) for op, a0, a1, b0, b1 in match.get_opcodes()
                     if op != "equal" and (content(mine[a0:a1]) or content(theirs[b0:b1])) and a0 < len(mine)]
            if len(edits) == 1:  # one swap, everything else copied: not a paraphrase
                a0, a1, b0, b1 = edits[0]
                new, old = content(mine[a0:a1]), content(theirs[b0:b1])
                if a1 - a0 <= 2 and b1 - b0 <= 2 and new - content(theirs) and old - content(mine):
                    return True
        return False

    def _polarity_conflict(self, sentence: str, claims: lexicon.Claims, chosen: list[int]) -> bool:
        """The sentence negates what its passages affirm, or affirms what they negate."""
        quotes = [self.passages[i].text for i in chosen]
        for _, _, word in claims.negated:  # « n'est pas porté disparu » against « est porté disparu »
            if word and any(lexicon.denied_near(q, word) is False for q in quotes):
                return True
        mine = {v for v, _, _ in claims.negated}
        plain = lexicon.plain_pairs(sentence)
        for verb, after, _ in set().union(*(lexicon.negated(q) for q in quotes)) if quotes else ():
            if after and (verb, after) in plain and verb not in mine:
                return True  # « a pu établir » against « n'a pas pu établir »
        return False


def split(summary: str) -> list[str]:
    """A summary's sentences, in order (a bullet list's items are sentences too)."""
    out = []
    for line in summary.split("\n"):
        body = line.strip().lstrip("-*•+ ").strip()
        out += [body[a:b] for a, b in sentence_spans(body)]
    return [s for s in out if s]


def attribute(summary: str, source: str | Index, layout: Layout | None = None) -> list[Sentence]:
    """Each sentence of ``summary`` with the passages of ``source`` that support it."""
    index = source if isinstance(source, Index) else Index(source, layout)
    return [index.support(s) for s in split(summary)]


def supported_share(sentences: list[Sentence]) -> float:
    return sum(s.supported for s in sentences) / len(sentences) if sentences else 1.0


UNSUPPORTED = "unsupported"  # guard failure: too few of the output's sentences are supported
MIN_KEPT = 0.5  # share of an output's sentences that must be supported for the others to be dropped


def keep_supported(text: str, index: Index) -> tuple[str, int, bool]:
    """A model output without its unsupported sentences: (kept text, sentences dropped, ok).
    Not ok (the text comes back unchanged) when fewer than MIN_KEPT of its sentences are
    supported: then the output is a guard failure, retried, and at last replaced by the
    extractive fallback."""
    from ..guards import sentence_pieces  # the guards' own sentence cut: the kept text is the output's own characters

    spans = sentence_pieces(text)
    kept = [s for s in spans if index.support(s.strip()).supported]
    if not spans or len(kept) == len(spans):
        return text, 0, True
    if not kept or len(kept) < MIN_KEPT * len(spans):
        return text, 0, False
    return "".join(kept).strip(), len(spans) - len(kept), True
