"""The document's opening sentences, used two ways:

* ``lead``: the extractive fallback, when the model's output fails the guards twice.
  Faithful by construction; recorded as its own method (``extractive-fallback``).
* ``opening``: the part of the document a lead-focused prompt shows the model (the
  "extract-then-rewrite" design of the short single-chunk prompt, see prompts/fr.toml).

Sentences are split with the chunker's French-aware rule, plus one that news text needs:
sentences glued without a space (« …Mizan Online.Moussavi Majd… », « finale."En tous… »).
"""
from __future__ import annotations

import re

from .chunking import sentence_ends

WORDS = {"short": 45, "medium": 90, "long": 180}
MIN_WORDS = 4  # shorter "sentences" are titles, bylines, dates
# A period glued to the next sentence: lowercase letter (or closing mark) + . ! ? + capital.
# Markdown the readers keep: images are dropped, links keep their text.
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\s]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_GLUED = re.compile(r"(?<=[a-zà-ÿ0-9)»\"”][.!?])(?=[«\"“]?[A-ZÀ-ÖØ-Ý])")


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


def _take(text: str, target: int) -> list[str]:
    from .injection import without_instructions

    out: list[str] = []
    for sentence in sentences(without_instructions(text)):  # never an injected order (issue 7)
        if len(sentence.split()) < MIN_WORDS:
            continue
        out.append(sentence)
        if sum(len(s.split()) for s in out) >= target:
            break
    return out


def lead(text: str, length: str = "medium") -> str:
    """Whole opening sentences, at least the length's word target (fallback summary)."""
    from .injection import NOTHING_TO_SUMMARIZE, without_instructions

    target = WORDS.get(length, 90)
    out = _take(text, target)
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
