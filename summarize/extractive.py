"""Sentence extraction, used three ways:

* ``lead``: the extractive fallback, when the model's output fails the guards twice.
  Faithful by construction; recorded as its own method (``extractive-fallback``).
* ``opening``: the part of the document a lead-focused prompt shows the model (the
  "extract-then-rewrite" design of the short single-chunk prompt, see prompts/fr.toml).
* ``salient``: a long document's chunk reduced to its most central sentences, which the
  map prompt shows the model (same design: a 270M model given the whole chunk after
  few-shot examples copies an example instead; docs/BENCHMARKS.md, long_coverage).

Sentences are split with the chunker's French-aware rule, plus one that news text needs:
sentences glued without a space (« …Mizan Online.Moussavi Majd… », « finale."En tous… »).

Output rules (issue 11): no pick is ever an English sentence or one with a bare URL, and
``lead`` and ``salient`` prefer prose — a sentence of 6+ words with a verb, ending like a
sentence — over title-like fragments and labelled items (« Risques sociaux : emploi »,
« Taille: Les œufs de poule… », a chatbot's answer quoted on a slide), so a slide deck's
fallback reads as sentences, not as a list of slide lines.
"""
from __future__ import annotations

import math
import re
from collections import Counter

from .chunking import sentence_ends

WORDS = {"short": 45, "medium": 90, "long": 180}
MIN_WORDS = 4  # shorter "sentences" are titles, bylines, dates
# A period glued to the next sentence: lowercase letter (or closing mark) + . ! ? + capital.
# Markdown the readers keep: images are dropped, links keep their text.
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\s]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_GLUED = re.compile(r"(?<=[a-zà-ÿ0-9)»\"”][.!?])(?=[«\"“]?[A-ZÀ-ÖØ-Ý])")
PROSE_WORDS = 6
_ENDS_LIKE_SENTENCE = re.compile(r"[.!…](?:\s?[»\"”’)\]])*$")
# A French verb: frequent forms, elided ones (« c'est », « n'a »), and conjugation endings
# (imperfect, future, conditional, plural persons; « -ent » but not the adverbs in « -ment »).
_VERB = re.compile(
    r"(?<![\w-])(?:est|sont|était|étaient|sera|seront|serait|seraient|soit|soient|a|ont|avait|avaient|aura"
    r"|auront|aurait|auraient|ai|avons|avez|suis|sommes|êtes|fait|font|peut|peuvent|pourrait|doit|doivent"
    r"|devrait|va|vont|faut|fallait|reste|restent|semble|permet|permettent|existe|devient|dit|veut|veulent"
    r"|sait|vient|prend|met|y\s+a)(?![\w-])"
    r"|\w{2,}(?:ait|aient|èrent|erait|eraient|eront|era|ons|ez)\b|\w{3,}(?<!m)ent\b", re.IGNORECASE)
# A one-word label opening the sentence: « Taille: … », « Source : … », « Note : … ».
_LABEL = re.compile(r"^[^\s:]+\s?:\s")


def sentences(text: str) -> list[str]:
    """Sentences of the text, whitespace-collapsed, in order."""
    text = _GLUED.sub(" ", _LINK.sub(r"\1", _IMAGE.sub(" ", text)))
    out = []
    for line in text.split("\n"):  # a line break ends a title, a byline or a list item
        start = 0
        for end in sentence_ends(line) + [len(line)]:
            sentence = " ".join(line[start:end].split())
            start = end
            if sentence:
                out.append(sentence)
    return out


def usable(sentence: str) -> bool:
    """May be shown or picked at all: not English, no bare URL (output rules, issue 11)."""
    from .cleanup import has_url
    from .language import is_english

    return not has_url(sentence) and not is_english(sentence)


def is_prose(sentence: str) -> bool:
    """A sentence a reader reads as one: 6+ words, a verb, a sentence's end, no label first."""
    body = sentence.lstrip("-*•+ ")
    return (len(body.split()) >= PROSE_WORDS and bool(_ENDS_LIKE_SENTENCE.search(body))
            and not _LABEL.match(body) and bool(_VERB.search(body)))


def candidates(text: str, *, prose: bool = False, enough: int = 0) -> list[str]:
    """The text's usable sentences (MIN_WORDS+ words), without injected orders (issue 7);
    with ``prose``, only prose sentences when they hold at least ``enough`` words."""
    from .injection import without_instructions

    found = [s for s in sentences(without_instructions(text)) if len(s.split()) >= MIN_WORDS and usable(s)]
    if prose:
        full = [s for s in found if is_prose(s)]
        if full and sum(len(s.split()) for s in full) >= enough:
            return full
    return found


def _take(text: str, target: int, *, prose: bool = False) -> list[str]:
    out: list[str] = []
    for sentence in candidates(text, prose=prose, enough=target):
        out.append(sentence)
        if sum(len(s.split()) for s in out) >= target:
            break
    return out


def lead(text: str, length: str = "medium") -> str:
    """Whole opening sentences, at least the length's word target (fallback summary); prose
    sentences first, so a slide deck's fallback is not a list of slide titles."""
    from .injection import NOTHING_TO_SUMMARIZE, without_instructions

    target = WORDS.get(length, 90)
    out = _take(text, target, prose=True)
    if not out:
        text = without_instructions(text)  # a document of orders only has nothing to summarize (issue 7)
        out = [" ".join(text.split()[:target]) or NOTHING_TO_SUMMARIZE]
    return " ".join(out)


def opening(text: str, words: int, *, cap: float = 2.0) -> str:
    """Whole opening sentences until ``words`` words; a first sentence longer than
    ``cap × words`` is cut at a word boundary (the prompt needs the lead, not all of it)."""
    out = _take(text, words) or [" ".join(text.split())]
    joined = " ".join(out).split()
    limit = int(words * cap)
    return " ".join(joined[:limit]) + (" …" if len(joined) > limit else "")


def firsts(parts: list[str]) -> str:
    """The first sentence of each part, in order (a reduce that could not fuse them)."""
    out = []
    for part in parts:
        found = [s for s in sentences(part) if usable(s)]
        out.append(found[0] if found else "")
    return " ".join(x for x in out if x)


_TOKEN = re.compile(r"\w+", re.UNICODE)


def salient(text: str, words: int) -> str:
    """The chunk's most central sentences, in document order, until ``words`` words
    (prose sentences only, when they hold that many words).

    A sentence scores the mean weight of its content words (4+ letters), a word weighing
    log(1 + its count in the chunk): sentences about what the chunk keeps talking about win,
    and one long sentence does not win by length alone. Its first sentence gets a small bonus
    (a section usually opens on its topic)."""
    found = candidates(text, prose=True, enough=words)
    if not found:
        return opening(text, words)
    toks = [[w for w in _TOKEN.findall(x.lower()) if len(w) >= 4] for x in found]
    counts = Counter(w for t in toks for w in t)
    scores = []
    for i, t in enumerate(toks):
        score = sum(math.log1p(counts[w]) for w in t) / math.sqrt(len(t) + 1)
        scores.append(score * (1.2 if i == 0 else 1.0))
    chosen: set[int] = set()
    total = 0
    for i in sorted(range(len(found)), key=lambda i: -scores[i]):
        if total >= words:
            break
        chosen.add(i)
        total += len(found[i].split())
    picked = " ".join(found[i] for i in sorted(chosen)).split()
    limit = int(words * 2)
    return " ".join(picked[:limit]) + (" …" if len(picked) > limit else "")
