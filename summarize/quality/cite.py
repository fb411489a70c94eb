"""Citations as text a reader can check, in a terminal as on a Markdown viewer:

    Le paquebot a heurté un quai à Venise [1]. Quatre personnes ont été blessées [2].

    Sources :
    1. ligne 3 — « Le navire, qui peut contenir plus de 2.600 passagers, est venu heurter le quai… »
    2. ligne 7 — « Quatre personnes ont été blessées dans cet accident… »

Each distinct passage gets one number, in order of first citation. A sentence no passage
supports is never shown as a fact: it carries « [non vérifié] » instead of numbers.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

UNVERIFIED = "[non vérifié]"
QUOTE_CHARS = 220  # the full passage is in --format json; the Markdown shows its start
HEADER = "Sources :"
LEGEND = f"{UNVERIFIED} : aucun passage du document n'appuie cette phrase."


def where(location: Mapping[str, Any]) -> str:
    """« p. 3 », « diapo 12 (Titre) », « section Méthode, ligne 40 », « § 4 », « à 00:12:34 »."""
    parts = []
    if location.get("page") is not None:
        parts.append(f"p. {location['page']}")
    if location.get("slide") is not None:
        title = location.get("section")
        parts.append(f"diapo {location['slide']}" + (f" ({title})" if title else ""))
    elif location.get("section"):
        parts.append(f"section {location['section']}")
    if location.get("timestamp"):
        parts.append(f"à {location['timestamp']}")
    if location.get("line") is not None:
        parts.append(f"ligne {location['line']}")
    if location.get("paragraph") is not None:
        parts.append(f"§ {location['paragraph']}")
    return ", ".join(parts)


_DISPLAY_MARKS = re.compile(r"\*\*|__|^[-*•+–]\s+")


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """A passage as shown: without list bullets and bold marks (JSON keeps it verbatim)."""
    text = " ".join(_DISPLAY_MARKS.sub("", " ".join(text.split())).split())
    return f"« {text if len(text) <= limit else text[: limit - 1].rstrip() + '…'} »"


_END = re.compile(r"\s*[.!?…]+$")


def _mark(sentence: str, mark: str) -> str:
    """The mark before the sentence's final punctuation: « …à Venise [1]. »"""
    end = _END.search(sentence)
    return f"{sentence[: end.start()]} {mark}{end.group().strip()}" if end else f"{sentence} {mark}"


def render(sentences: Iterable[Mapping[str, Any]]) -> str:
    """The summary with numbered references after each sentence, then the quoted passages.
    ``sentences`` are attribution dicts (``Sentence.as_dict()``)."""
    numbers: dict[tuple[int, int], int] = {}
    body, notes, unverified = [], [], False
    for s in sentences:
        refs = []
        for src in s.get("sources", ()) if s.get("supported") else ():
            key = (src["start"], src["end"])
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                place = where(src)
                notes.append(f"{numbers[key]}. {place + ' — ' if place else ''}{quote(src['quote'])}")
            refs.append(numbers[key])
        if refs:
            body.append(_mark(s["text"], f"[{', '.join(map(str, sorted(set(refs))))}]"))
        else:
            unverified = True
            body.append(_mark(s["text"], UNVERIFIED))
    out = " ".join(body)
    if notes or unverified:
        out += "\n\n" + HEADER + "\n\n" + "\n".join(notes)
        if unverified:
            out += ("\n\n" if notes else "") + LEGEND
    return out


_REF = re.compile(r" \[(?:\d+(?:, \d+)*|non vérifié)\]")


def uncited(text: str) -> str:
    """The summary a rendering was made from: references and the sources list taken out."""
    return _REF.sub("", text.split("\n\n" + HEADER + "\n\n", 1)[0])


def corpus_passages(points: Iterable[tuple[str, list[int]]], paths: list[str]) -> list[list[dict[str, Any]]]:
    """For each point of a corpus synthesis (sentence, indices of the files it cites), the
    passages of those files' own text that support it: ``{file, quote, start, end, …}``. A
    file cited for a point whose words its text does not hold contributes nothing (the
    point stays supported by the file's summary, as the synthesis requires)."""
    from ..errors import SummarizeError
    from ..reading.readers import read_document
    from .attribution import Index

    indexes: dict[int, Index | None] = {}
    out = []
    for sentence, cited in points:
        found: list[dict[str, Any]] = []
        for i in cited:
            if i not in indexes:
                try:
                    doc = read_document(paths[i])
                    indexes[i] = Index(doc.text, doc.layout)
                except (SummarizeError, OSError):
                    indexes[i] = None  # moved or unreadable since the batch: its point keeps the file citation
            index = indexes[i]
            support = index.support(sentence) if index is not None else None
            if support is not None and support.supported:
                found += [{"file": paths[i], **src.as_dict()} for src in support.sources]
        out.append(found)
    return out
