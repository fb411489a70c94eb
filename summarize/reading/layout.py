"""Where the extracted text came from in the file: raw line numbers, slide breaks, PDF pages.

The readers normalize text (``text.normalize``: lines stripped, blank runs collapsed), which
loses what a reader of the file navigates by: the line number in the file and, in a slide
deck saved as text, the runs of blank lines between slides. A ``Layout`` keeps that, small
(a few integers per line), so a passage of the extracted text can be located in the file.

Normalization keeps the file's non-empty lines, in order, one for one; so non-empty line
``i`` of the extracted text is the ``i``-th raw line whose normalized form is not empty.
"""
from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass, field

SLIDE_GAP = 2  # blank lines in a row that end a slide (a paragraph break is one)
MIN_SLIDES = 3  # fewer breaks than this: not a deck, the gaps are accidents


@dataclass
class Layout:
    format: str = "text"  # the reader's format: text, html, pdf, docx
    lines: list[int] = field(default_factory=list)  # raw 1-based line number of each non-empty extracted line
    breaks: list[int] = field(default_factory=list)  # non-empty line indexes that open a slide (after a gap)
    pages: list[int] = field(default_factory=list)  # extracted-text offsets where each PDF page starts

    @property
    def is_deck(self) -> bool:
        return len(self.breaks) >= MIN_SLIDES

    def raw_line(self, nonempty_index: int) -> int | None:
        return self.lines[nonempty_index] if 0 <= nonempty_index < len(self.lines) else None

    def slide(self, nonempty_index: int) -> int | None:
        """1-based slide of a non-empty line; None when the text is not a deck."""
        return bisect.bisect_right(self.breaks, nonempty_index) + 1 if self.is_deck else None

    def page(self, offset: int) -> int | None:
        return bisect.bisect_right(self.pages, offset) if self.pages else None


def text_layout(raw: str) -> Layout:
    """The layout of a decoded text file, before normalization (whose per-line strip treats
    the same characters as blank: str.strip's whitespace, after removing BOMs and NULs)."""
    raw = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    layout = Layout()
    blanks = 0
    for number, line in enumerate(raw.split("\n"), 1):
        if not line.replace("\ufeff", "").replace("\x00", "").strip():
            blanks += 1
            continue
        if blanks >= SLIDE_GAP and layout.lines:
            layout.breaks.append(len(layout.lines))
        layout.lines.append(number)
        blanks = 0
    return layout


def pdf_layout(text: str, pages: list[str]) -> Layout:
    """Page starts in the extracted text of a PDF: each page's normalized text, found in order.
    A page that cannot be found (normalization merged it with its neighbour) keeps the
    previous page's start, so a passage is never placed on a later page than it is."""
    from .text import normalize

    starts, pos = [], 0
    for page in pages:
        norm = normalize(page)
        found = text.find(norm[:200], pos) if norm else -1
        starts.append(found if found >= 0 else pos)
        if found >= 0:
            pos = found + len(norm)
    return Layout(format="pdf", pages=starts)
