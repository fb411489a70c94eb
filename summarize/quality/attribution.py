"""Sentence-level attribution: which passages of the source support each summary sentence.

Candidates come from BM25 (bm25s) over the passages' content stems and numbers; a written
rule then decides, with no second model:

1. **Key items**: every number, name (capitalized word) and date (weekday, month) of the
   sentence must be in the chosen passages (numbers digit for digit, words accent-folded).
2. **Content**: at least ``SUPPORT`` of the sentence's content stems (words of 4+ letters,
   not function words, without a plural « s » and a final « e », cut to 5 letters) must be in
   the chosen passages; a stem the whole document never uses counts ``1 + NOVEL_WEIGHT``
   times in the denominator.
3. **Polarity**: what the sentence negates, a passage must negate near the same words
   (« ne … pas », « sans », « aucun », « refuse »…), and a passage's « n'a pas pu » must not
   be the sentence's « a pu ».
4. **Quotations**: a quotation of the sentence (« … », “ … ”, "…") with ``QUOTE_MIN`` content
   stems or more is copied, not paraphrased: one passage of the document holds ``QUOTED`` of
   its stems (that passage joins the sources). The small model writes quotes nobody said
   (« "L'Europe est très touchée", a déclaré Hans Kluge »): their words are scattered, or
   are not in the document at all.
5. **Swap**: a sentence that copies one passage (``COPIED`` of its words, in order) with a
   single edit of content words, where it puts ≤ ``SWAP_WORDS`` content words of its own in
   place of ≤ ``SWAP_WORDS`` of the passage's, is not supported: « Tout usage du numérique
   est éco-idéal » for « … ÉCOCIDAIRE », « au profit du bien-être collectif » for « au profit
   du... profit ». A paraphrase rewrites more than one short stretch; an inflection keeps the
   stem; a word moved or dropped is no swap.

Passages are chosen greedily, at most ``MAX_SOURCES``: each time the one adding the most of
the sentence's uncovered items (key items weigh ``KEY_WEIGHT``), among BM25's best
``CANDIDATES`` and the passages holding one of its key items; ties go to the higher BM25
score. Then up to ``EXTRA_SOURCES`` more, each for a key item the first ones lack (a date
said in another paragraph), the passage that holds a negation and the one that holds a
quotation. A sentence's ``score`` is the weighted share of its items the chosen passages
hold. A model output is judged sentence by sentence, glued sentences too (« …la Maison
Blanche."Vous allez… » is two). The thresholds were set on OrangeSum train/valid with
corrupted abstracts (benchmarks/attribution_check.py) and checked on sentences the model
really invented (benchmarks/invented_check.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..reading.layout import Layout
from . import lexicon
from .passages import Passage, sentence_spans, segment

SUPPORT = 0.5  # share of a sentence's content stems its passages must hold
MAX_SOURCES = 3  # a summary sentence fuses at most a few passages
EXTRA_SOURCES = 2  # more passages, each for a name, number or date the first ones lack
NOVEL_WEIGHT = 1.0  # extra weight of a content word the document never uses
CANDIDATES = 8  # BM25's best passages considered per sentence
COPIED = 0.7  # share of a sentence's words taken in order from one passage: a near-copy
KEY_WEIGHT = 2.0  # a name, number or date counts as two content words in the greedy choice and the score
QUOTED = 0.75  # share of a quotation's content stems one passage of the document must hold
QUOTE_MIN = 2  # a quotation with fewer content stems is a word in quotes, not a quotation
SWAP_WORDS = 2  # content words on each side of the one swap a near-copy may not make
SWAP_TAIL = 2  # an edit that ends the sentence: passage words compared beyond its length


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
        self._with_stem: dict[str, list[int]] = {}  # content stem → passages holding it
        for i, ss in enumerate(self._stems):
            for item in ss:
                self._with_stem.setdefault(item, []).append(i)
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
        for quoted in lexicon.quotations(sentence, QUOTE_MIN):
            # A quotation is copied, not paraphrased: one passage holds most of its words.
            where = self._quoted_in(quoted)
            if where is None:
                missing.append("citation")
                break
            if where not in chosen:
                take(where)
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

    def _quoted_in(self, quoted: set[str]) -> int | None:
        """The passage holding at least QUOTED of a quotation's content stems, if one does."""
        counts: dict[int, int] = {}
        for st in quoted:
            for i in self._with_stem.get(st, ())[:200]:
                counts[i] = counts.get(i, 0) + 1
        best = max(counts.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
        return best[0] if best and best[1] >= QUOTED * len(quoted) else None

    def _substituted(self, sentence: str, chosen: list[int]) -> bool:
        """The sentence copies a passage word for word but for one stretch where it puts its own
        content words in place of the passage's: « Tout usage du numérique est éco-idéal » for
        « … est écocidaire », « … et l'introduction d'un tabac privatisé » for « … ainsi que
        l'introduction d'une privation de liberté ». A paraphrase rewrites more than one stretch
        of a few words; an inflection keeps the stem; a word moved is no swap."""
        import difflib
        from collections import Counter

        def content(ws: list[str]) -> list[str]:
            return [lexicon.stem(w) for w in ws if len(w) >= lexicon.MIN_CONTENT and w not in lexicon.FUNCTION_WORDS]

        mine = lexicon.words(lexicon.fold(sentence))
        said = Counter(content(mine))
        for i in chosen:
            theirs = lexicon.words(lexicon.fold(self.passages[i].text))
            match = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
            if sum(b.size for b in match.get_matching_blocks()) < COPIED * len(mine):
                continue
            # Edits of content words; the passage's words past the sentence's end (a longer
            # passage cut short) are no edit, and an edit that ends the sentence is compared
            # with as many of the passage's words as it has, plus SWAP_TAIL.
            edits = []
            for op, a0, a1, b0, b1 in match.get_opcodes():
                if op == "equal" or a0 >= len(mine):
                    continue
                if a1 == len(mine):
                    b1 = min(b1, b0 + (a1 - a0) + SWAP_TAIL)
                if content(mine[a0:a1]) or content(theirs[b0:b1]):
                    edits.append((a0, a1, b0, b1))
            if len(edits) == 1:  # one swap, everything else copied: not a paraphrase
                a0, a1, b0, b1 = edits[0]
                new, old = content(mine[a0:a1]), content(theirs[b0:b1])
                passage = Counter(content(theirs))
                lost = [w for w in old if passage[w] > said[w]]  # passage words the sentence says less often
                if 0 < len(new) <= SWAP_WORDS and len(old) <= SWAP_WORDS and set(new) - set(passage) and lost:
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


def piece_supported(index: Index, piece: str) -> bool:
    """Whether a piece of a model output is supported: each of its sentences, glued ones too
    (« …la Maison Blanche."Vous allez… » is two sentences, as the final attribution reads it)."""
    parts = split(piece)
    return bool(parts) and all(index.support(p).supported for p in parts)


def supported_share(sentences: list[Sentence]) -> float:
    return sum(s.supported for s in sentences) / len(sentences) if sentences else 1.0


UNSUPPORTED = "unsupported"  # guard failure: too few of the output's sentences are supported
MIN_KEPT = 0.5  # share of an output's sentences that must be supported for the others to be dropped


def keep_supported(text: str, index: Index) -> tuple[str, int, bool]:
    """A model output without its unsupported sentences: (kept text, sentences dropped, ok).
    Not ok (the text comes back unchanged) when fewer than MIN_KEPT of its sentences are
    supported: then the output is a guard failure, retried, and at last replaced by the
    extractive fallback."""
    from .guards import sentence_pieces  # the guards' own sentence cut: the kept text is the output's own characters

    spans = sentence_pieces(text)
    kept = [s for s in spans if piece_supported(index, s)]
    if not spans or len(kept) == len(spans):
        return text, 0, True
    if not kept or len(kept) < MIN_KEPT * len(spans):
        return text, 0, False
    return "".join(kept).strip(), len(spans) - len(kept), True
