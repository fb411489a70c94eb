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
from typing import Iterator

from ..chunking import sentence_ends

WORDS = {"short": 45, "medium": 90, "long": 180}
MIN_WORDS = 4  # shorter "sentences" are titles, bylines, dates
# A period glued to the next sentence: lowercase letter (or closing mark) + . ! ? + capital.
# Markdown the readers keep: images are dropped, links keep their text.
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\s]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_GLUED = re.compile(r"(?<=[a-zà-ÿ0-9)»\"”][.!?])(?=[«\"“]?[A-ZÀ-ÖØ-Ý])")
PROSE_WORDS = 6
LONG_SENTENCE = 10
# Ends like a sentence: « . » or « ! », maybe inside closing marks; not « … » or « ... »
# (an unfinished line: « Levez la main si... ») and not « ? » (slide titles ask questions).
_ENDS_LIKE_SENTENCE = re.compile(r"(?<![.…])[.!](?:\s?[»\"”’)\]])*$")
# A French verb: the most frequent forms (third persons, auxiliaries, modals) and the
# endings of the imperfect, conditional and future. A cue, not a parser: a title has none.
_VERB = re.compile(
    r"(?<![\w-])(?:est|sont|était|étaient|sera|seront|serait|seraient|soit|soient|a|ont|avait|avaient|aura"
    r"|auront|aurait|auraient|ai|avons|avez|suis|sommes|êtes|fait|font|va|vont|peut|peuvent|pourrait"
    r"|pourraient|doit|doivent|devrait|devraient|faut|veut|veulent|sait|savent|dit|disent|vient|viennent"
    r"|prend|prennent|met|mettent|voit|voient|donne|donnent|permet|permettent|reste|restent|semble|semblent"
    r"|devient|deviennent|existe|existent|passe|passent|porte|portent|parle|parlent|montre|montrent|pense"
    r"|pensent|trouve|trouvent|crée|créent|propose|proposent|utilise|utilisent|consomme|consomment"
    r"|représente|représentent|signifie|dépend|dépendent|concerne|concernent|reçoit|ajoute|explique"
    r"|affirme|estime|annonce|déclare|indique|souligne|rappelle|précise|assure|demande|demandent|appelle"
    r"|travaille|travaillent|vit|vivent|compte|comptent|lance|lancent|change|changent|mène|mènent"
    r"|conduit|produit|produisent|repose|reposent|imite|imitent|traite|traitent|sert|servent)(?![\w-])"
    r"|\w{2,}(?:ait|aient|èrent|erait|eraient|eront)(?![\w-])", re.IGNORECASE)
# A one-word label opening the sentence: « Taille: … », « Source : … », « Note : … ».
_LABEL = re.compile(r"^[^\s:]+\s?:\s")
# The whole sentence is a quotation (« « Il faut à tout prix ne pas l'utiliser ! » »): an
# example the document quotes, not what it says.
_QUOTATION = re.compile(r"^[«\"“].*[»\"”][.!]?$")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_BULLET = re.compile(r"^(?:[-*•+–]\s+)+")


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
    from ..reading.cleanup import has_url
    from .language import is_english

    return not has_url(sentence) and not is_english(sentence)


def is_example(sentence: str) -> bool:
    """A labelled item or a whole quotation (« Taille: Les œufs de poule… », « « Il faut à
    tout prix ne pas l'utiliser ! » »): what the document shows or quotes, not what it says."""
    body = sentence.lstrip("-*•+ ")
    return bool(_LABEL.match(body) or _QUOTATION.match(body))


def is_prose(sentence: str) -> bool:
    """A sentence a reader reads as one: 6+ words, mostly words (not figures or code), a
    sentence's end, and a verb (or 10+ words: the verb list is short); not an example."""
    body = sentence.lstrip("-*•+ ")
    toks = body.split()
    if len(toks) < PROSE_WORDS or sum(bool(_HAS_LETTER.search(t)) for t in toks) < 0.6 * len(toks):
        return False
    return (bool(_ENDS_LIKE_SENTENCE.search(body)) and not is_example(body)
            and (len(toks) >= LONG_SENTENCE or bool(_VERB.search(body))))


# Tiers of candidate sentences, best first: prose; any sentence but examples; any sentence.
PROSE, PLAIN, ANY = "prose", "plain", "any"


def candidates(text: str, tier: str = ANY) -> Iterator[str]:
    """The text's usable sentences of MIN_WORDS+ words in the given tier, in order, without
    injected orders (issue 7). Lazy: language checks cost ~0.5 ms a sentence."""
    from .injection import without_instructions

    for s in sentences(without_instructions(text)):
        if len(s.split()) < MIN_WORDS or (tier == PROSE and not is_prose(s)) or (tier == PLAIN and is_example(s)):
            continue
        if usable(s):
            yield s


def _take(text: str, target: int, *, prose: bool = False) -> list[str]:
    """Sentences in order until ``target`` words; with ``prose``, from the best tier the text
    has (prose only, when it has any: fewer words then, rather than slide titles)."""
    def collect(tier: str) -> list[str]:
        out: list[str] = []
        for sentence in candidates(text, tier):
            out.append(sentence)
            if sum(len(s.split()) for s in out) >= target:
                break
        return out

    for tier in ((PROSE, PLAIN, ANY) if prose else (ANY,)):
        out = collect(tier)
        if out:
            return out
    return []


def lead(text: str, length: str = "medium") -> str:
    """Whole opening sentences, at least the length's word target (fallback summary); prose
    sentences first, so a slide deck's fallback is not a list of slide titles."""
    from .injection import NOTHING_TO_SUMMARIZE, without_instructions

    target = WORDS.get(length, 90)
    out = _take(text, target, prose=True)
    if not out:
        text = without_instructions(text)  # a document of orders only has nothing to summarize (issue 7)
        out = [" ".join(text.split()[:target]) or NOTHING_TO_SUMMARIZE]
    return " ".join(map(unbullet, out))


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
        out.append(unbullet(found[0]) if found else "")
    return " ".join(x for x in out if x)


def unbullet(sentence: str) -> str:
    """A picked sentence without its list marker: a summary is text, not a list of slide lines."""
    return _BULLET.sub("", sentence)


_TOKEN = re.compile(r"\w+", re.UNICODE)


def salient(text: str, words: int) -> str:
    """The chunk's most central sentences, in document order, until ``words`` words
    (prose sentences only, when they hold that many words).

    A sentence scores the mean weight of its content words (4+ letters), a word weighing
    log(1 + its count in the chunk): sentences about what the chunk keeps talking about win,
    and one long sentence does not win by length alone. Its first sentence gets a small bonus
    (a section usually opens on its topic)."""
    found = list(candidates(text))
    for tier in (is_prose, lambda s: not is_example(s)):  # the best tier holding enough words
        best = [s for s in found if tier(s)]
        if sum(len(s.split()) for s in best) >= words:
            found = best
            break
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
    picked = " ".join(unbullet(found[i]) for i in sorted(chosen)).split()
    limit = int(words * 2)
    return " ".join(picked[:limit]) + (" …" if len(picked) > limit else "")
