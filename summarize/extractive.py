"""Extractive fallback: the document's own opening sentences, used when the model's
output fails the guards twice. Faithful by construction; recorded as its own method."""
from __future__ import annotations

from .chunking import sentence_ends

WORDS = {"short": 45, "medium": 90, "long": 180}


def lead(text: str, length: str = "medium") -> str:
    from .injection import NOTHING_TO_SUMMARIZE, without_instructions

    text = without_instructions(text)  # never copy an injected order, even from the lead (issue 7)
    if not text.strip():
        return NOTHING_TO_SUMMARIZE
    target = WORDS.get(length, 90)
    out: list[str] = []
    start = 0
    for end in sentence_ends(text) + [len(text)]:
        sentence = " ".join(text[start:end].split())
        start = end
        if len(sentence.split()) < 4:  # titles, bylines, dates
            continue
        out.append(sentence)
        if sum(len(s.split()) for s in out) >= target:
            break
    if not out:
        out = [" ".join(text.split()[:target])]
    return " ".join(out)
