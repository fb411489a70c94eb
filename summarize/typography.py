"""French typography for final summaries: « guillemets », typographic apostrophes,
narrow no-break spaces before ; ! ? and no-break spaces before : and inside guillemets."""
from __future__ import annotations

import re

NBSP = "\u00a0"  # before « : » and inside guillemets
NNBSP = "\u202f"  # fine space before ; ! ?

_QUOTED = re.compile(r'"\s*([^"\n]{1,400}?)\s*"')
_APOS = re.compile(r"(?<=\w)'(?=\w)")
_HIGH = re.compile(r"\s*([;!?])(?!\S*//)")  # leave URLs alone
_COLON = re.compile(r"(?<!\d)(?<![a-z])\s*:(?=\s|$)")
_SPACES = re.compile(r"[ \t]{2,}")


def french_typography(text: str) -> str:
    text = _QUOTED.sub(lambda m: f"«{NBSP}{m.group(1)}{NBSP}»", text)
    text = re.sub(r"«\s*", f"«{NBSP}", text)
    text = re.sub(r"\s*»", f"{NBSP}»", text)
    text = _APOS.sub("’", text)
    text = _HIGH.sub(lambda m: NNBSP + m.group(1), text)
    text = _COLON.sub(NBSP + ":", text)
    text = _SPACES.sub(" ", text)
    return text.strip()
