"""French typography for final summaries: « guillemets », typographic apostrophes,
narrow no-break spaces before ; ! ? and no-break spaces before : and inside guillemets.

Straight double quotes are paired by their position (an opening quote follows a space or
the start; a closing one follows a word or punctuation), not simply left to right: a
model that starts its summary in the middle of a quotation leaves an odd quote, and
pairing naively would turn the text *between* two quotations into the quoted part.
Quotes that have no partner are dropped rather than guessed.
"""
from __future__ import annotations

import re

NBSP = "\u00a0"  # before « : » and inside guillemets
NNBSP = "\u202f"  # fine space before ; ! ?

_APOS = re.compile(r"(?<=\w)['\u02bc\u2032´`](?=\w)")  # l'État, aujourd'hui (never a quote)
# Only punctuation that ends a clause (followed by a space, the end or a closing mark):
# never inside a URL (?id=3), a time (10:30) or a scheme (http://).
_HIGH = re.compile(r"(?<=[^\s;!?])[ \t\u00a0\u202f]*([;!?]+)(?=\s|$|[»\"”)\]])")
_COLON = re.compile(r"(?<=[^\s:])[ \t\u00a0\u202f]*:(?=\s|$|[»\"”])")
_SPACES = re.compile(r"[ \t]{2,}")
_STRAIGHT = {'"', "“", "”", "„"}


def _opening(text: str, i: int) -> bool:
    """A double quote opens when it is at the start or after a space or an opening bracket."""
    if text[i] == "“" or text[i] == "„":
        return True
    if text[i] == "”":
        return False
    return i == 0 or text[i - 1].isspace() or text[i - 1] in "([{—–-'’"


def guillemets(text: str) -> str:
    """Pair double quotes into « … » (with no-break spaces); drop unpaired ones."""
    marks = [i for i, c in enumerate(text) if c in _STRAIGHT]
    if not marks:
        return text
    pairs: dict[int, str] = {}
    open_at: int | None = None
    for i in marks:
        if _opening(text, i) and open_at is None:
            open_at = i
        elif open_at is not None:
            pairs[open_at], pairs[i] = "«", "»"
            open_at = None
        # else: a closing quote with nothing open (the model started mid-quotation): dropped
    out = []
    for i, c in enumerate(text):
        if c not in _STRAIGHT:
            out.append(c)
        elif pairs.get(i) == "«":
            out.append("«" + NBSP)
        elif pairs.get(i) == "»":
            out.append(NBSP + "»")
    return "".join(out)


def french_typography(text: str) -> str:
    text = guillemets(text)
    text = re.sub(r"«[ \t\u00a0\u202f]*", f"«{NBSP}", text)
    text = re.sub(r"[ \t\u00a0\u202f]*»", f"{NBSP}»", text)
    text = _APOS.sub("’", text)
    text = _HIGH.sub(lambda m: NNBSP + m.group(1), text)
    text = _COLON.sub(NBSP + ":", text)
    text = _SPACES.sub(" ", text)
    return text.strip()
