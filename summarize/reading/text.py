"""Text normalization and content hashing shared by the cache and the chunker."""
from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACES = re.compile(r"[ \t\u00a0\u2009\u202f]+")
_BLANKS = re.compile(r"\n{3,}")
_SURROGATES = re.compile("[\ud800-\udfff]")


_RECENT: dict[str, None] = {}  # last outputs: the pipeline normalizes one text at several layers


def normalize(text: str) -> str:
    """Canonical form of a document: NFC, Unix newlines, no trailing spaces, ≤1 blank line.

    Two files that differ only by encoding, line endings or stray spaces get the same
    cache key and the same chunks. Idempotent; a text it just returned comes back as is.
    """
    if text in _RECENT:
        return text
    out = _normalize(text)
    if len(_RECENT) >= 8:
        _RECENT.pop(next(iter(_RECENT)))
    _RECENT[out] = None
    return out


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\ufeff", "").replace("\x00", "")
    text = _SURROGATES.sub("\ufffd", text)  # lone surrogates (library callers) cannot be encoded (issue 7)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_file(path: str, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
