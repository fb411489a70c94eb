"""The extracted text cut into quotable passages, each with its place in the original file.

A passage is a sentence of a line (French-aware sentence ends, plus the glued ones of
scraped news, « …à Venise.Selon le quotidien… »), with its character offsets in the
extracted text, so ``text[start:end] == quote``. Its location depends on what the source
has: the page of a PDF, the slide of a deck saved as text (and the slide's title), the
Markdown section (its heading), the line in the file for text, the paragraph for HTML and
DOCX, and the timestamp of a transcript.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..chunking import sentence_ends
from ..reading.layout import Layout

_GLUED = re.compile(r"(?<=[a-zà-ÿ0-9)»\"”][.!?])(?=[«\"“]?[A-ZÀ-ÖØ-Ý][a-zà-ÿ])")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*$")
_TIMESTAMP = re.compile(r"^\[?\(?((?:\d{1,2}:)?\d{1,2}:\d{2})(?:[.,]\d+)?\]?\)?")
_MARKS = re.compile(r"\*\*|__|^[-*•+–>\s]+|^#+\s*")
TITLE_CHARS = 80


@dataclass
class Passage:
    start: int
    end: int
    text: str
    location: dict[str, Any] = field(default_factory=dict)


def segment(text: str, layout: Layout | None = None) -> list[Passage]:
    """Passages of ``text`` (the extracted, normalized text) in order, with their locations."""
    fmt = layout.format if layout is not None else "text"
    out: list[Passage] = []
    paragraph, nonempty, section, slide_title, stamp = 0, -1, None, None, None
    slide_of_title = None
    previous_blank = True
    start = 0
    for n, line in enumerate(text.split("\n")):
        start, line_start = start + len(line) + 1, start
        if not line.strip():
            previous_blank = True
            continue
        nonempty += 1
        paragraph += previous_blank
        previous_blank = False
        heading = _HEADING.match(line)
        if heading:
            section = _title(heading.group(2))
        slide = layout.slide(nonempty) if layout is not None else None
        if slide is not None and slide != slide_of_title:
            slide_of_title, slide_title = slide, _title(line)
        ts = _TIMESTAMP.match(line)
        if ts:
            stamp = ts.group(1)
        location = _location(fmt, layout, n + 1, nonempty, paragraph, section, slide, slide_title, stamp)
        for a, b in sentence_spans(line):
            out.append(Passage(line_start + a, line_start + b, line[a:b], dict(location)))
    if layout is not None and layout.pages:
        for p in out:
            p.location["page"] = layout.page(p.start)
    return out


def _location(fmt: str, layout: Layout | None, line: int, nonempty: int, paragraph: int,
              section: str | None, slide: int | None, slide_title: str | None, stamp: str | None) -> dict[str, Any]:
    loc: dict[str, Any] = {}
    if slide is not None:
        loc.update(slide=slide, section=slide_title)
    elif section is not None:
        loc["section"] = section
    if fmt in ("html", "docx"):
        loc["paragraph"] = paragraph
    elif fmt != "pdf":
        raw = layout.raw_line(nonempty) if layout is not None else None
        loc["line"] = raw if raw is not None else line  # the file's line when known, else the extracted text's
    if stamp is not None:
        loc["timestamp"] = stamp
    return loc


def _title(line: str) -> str:
    title = " ".join(_MARKS.sub("", line).split())
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip() + "…"


def sentence_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a line, whitespace trimmed."""
    cuts = sorted({0, len(line), *sentence_ends(line), *(m.start() for m in _GLUED.finditer(line))})
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        piece = line[a:b]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((a + lead, a + len(piece.rstrip())))
    return spans

