"""Token-exact chunking: split a text into contiguous spans that each fit a token budget.

Chunks are exact, contiguous slices of the text (``"".join(c.text for c in chunks) == text``),
so nothing is dropped and order is preserved. Boundaries are chosen, in order of
preference, at paragraph ends, sentence ends (French-aware), word boundaries, and only as
a last resort inside a single over-long "word".
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable

Counter = Callable[[str], int]

# Abbreviations after which a period does not end a sentence (compared lowercased).
ABBREVIATIONS = {
    "m", "mm", "mme", "mmes", "mlle", "mlles", "dr", "pr", "me", "st", "ste", "p", "pp", "ex", "cf",
    "av", "apr", "j.-c", "art", "al", "vol", "chap", "fig", "env", "min", "max", "cie", "éd", "ed",
    "ibid", "op", "cit", "c.-à-d", "n°", "no", "tél", "etc.,", "mr", "mrs", "vs", "resp", "hab", "km",
}
_SENTENCE_END = re.compile(r"[.!?…]+(?:\s?[»\"”’)\]])*\s+(?=[«\"“(\[]?\s*[A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ0-9«—–-])")
_PARAGRAPH = re.compile(r"\n\s*\n|\n")
_WORD = re.compile(r"\s+")
# Fill ratio below which a coarser boundary is abandoned for a finer one (avoids tiny chunks).
MIN_FILL = 0.5


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str
    tokens: int


def sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end (after the following whitespace)."""
    ends = []
    for m in _SENTENCE_END.finditer(text):
        before = text[: m.start() + 1].rsplit(None, 1)[-1].lower()
        word = before.rstrip(".")
        if m.group().startswith(".") and (word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue  # « M. Dupont », « p. ex. », initials
        ends.append(m.end())
    return ends


def _boundaries(text: str) -> list[list[int]]:
    paragraphs = sorted({m.end() for m in _PARAGRAPH.finditer(text)})
    sentences = sorted(set(sentence_ends(text)) | set(paragraphs))
    words = sorted({m.end() for m in _WORD.finditer(text)} | set(sentences))
    return [paragraphs, sentences, words]


def chunk_text(text: str, budget: int, count: Counter) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``budget`` tokens each (as counted by ``count``)."""
    if budget < 1:
        raise ValueError("token budget must be positive")
    if not text:
        return []
    levels = [lvl + [len(text)] for lvl in _boundaries(text)]
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        end = _next_end(text, start, budget, count, levels)
        piece = text[start:end]
        chunks.append(Chunk(len(chunks), start, end, piece, count(piece)))
        start = end
    return chunks


def _fits(text: str, start: int, end: int, budget: int, count: Counter) -> bool:
    return count(text[start:end]) <= budget


def _furthest(text: str, start: int, cands: list[int], budget: int, count: Counter) -> int | None:
    """Largest candidate end (> start) whose slice fits; token counts grow with length."""
    lo = bisect.bisect_right(cands, start)
    hi = len(cands) - 1
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        if _fits(text, start, cands[mid], budget, count):
            best, lo = cands[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _next_end(text: str, start: int, budget: int, count: Counter, levels: list[list[int]]) -> int:
    if _fits(text, start, len(text), budget, count):
        return len(text)
    # Finest possible fit: character-level binary search (token boundary fallback).
    lo, hi = start + 1, min(len(text), start + budget * 32)
    char_fit = start + 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if _fits(text, start, mid, budget, count):
            char_fit, lo = mid, mid + 1
        else:
            hi = mid - 1
    for depth, cands in enumerate(levels):
        end = _furthest(text, start, cands, budget, count)
        last = depth == len(levels) - 1  # words: any fit beats cutting inside a word
        if end is not None and (last or end - start >= MIN_FILL * (char_fit - start)):
            return end
    return char_fit
