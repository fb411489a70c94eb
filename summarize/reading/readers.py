"""Document reading: bytes on disk (or stdin) → plain text, with one clear error per failure.

The same readers serve the single-document command and the batch job.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DocumentError
from .layout import Layout, pdf_layout, text_layout
from .text import normalize

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # a hostile or accidental huge input cannot exhaust memory
TEXT_EXT = {".txt", ".md", ".markdown", ".text", ".rst", ""}
HTML_EXT = {".html", ".htm", ".xhtml"}
SUPPORTED = sorted(TEXT_EXT - {""} | HTML_EXT | {".pdf", ".docx"})


@dataclass
class Document:
    source: str
    text: str  # normalized
    format: str
    encoding: str | None = None
    note: str | None = None  # e.g. "invalid UTF-8 bytes replaced"
    sha256: str | None = None  # of the bytes on disk: the batch manifest identifies inputs by it
    layout: Layout | None = None  # where the text's lines and pages are in the file (citations, issue 20)


def read_document(source: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    if source == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
        _check_size(source, len(data), max_bytes)
        return _hashed(_read_text(source, data), data)
    path = Path(source)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DocumentError("file not found", path=source, hint="check the path") from None
    except OSError as exc:  # symlink loops, name too long...
        raise DocumentError(f"cannot access file ({exc.strerror or exc})", path=source,
                            hint="check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise DocumentError("is a directory", path=source, hint="use `summarize batch DIR --out OUT` for folders")
    if not stat.S_ISREG(st.st_mode):
        raise DocumentError("not a regular file", path=source, hint="pass a text, Markdown, HTML, PDF or DOCX file")
    ext = path.suffix.lower()
    if ext == ".gguf":
        raise DocumentError("this is a model file, not a document", path=source, hint="pass it with --model instead")
    reader = _READERS.get(ext)
    if reader is None:
        raise DocumentError(f"unsupported format {ext!r}", path=source,
                            hint="supported: " + ", ".join(SUPPORTED) + "; convert the file to text first")
    _check_size(source, st.st_size, max_bytes)
    try:
        with path.open("rb") as fh:  # bounded: /proc-like files report size 0 but never end
            data = fh.read(max_bytes + 1)
        _check_size(source, len(data), max_bytes)
    except PermissionError:
        raise DocumentError("permission denied", path=source, hint="make the file readable (chmod +r)") from None
    except OSError as exc:
        raise DocumentError(f"cannot read file ({exc.strerror or exc})", path=source) from None
    return _hashed(reader(source, data), data)


def _hashed(doc: Document, data: bytes) -> Document:
    doc.sha256 = hashlib.sha256(data).hexdigest()
    return doc


def _check_size(source: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentError(f"document too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB)",
                            path=source, hint="split it, or raise the limit with --max-bytes")


def _finish(source: str, fmt: str, text: str, encoding: str | None = None, note: str | None = None) -> Document:
    text = normalize(text)
    if not text:
        raise DocumentError("document is empty (no text to summarize)", path=source,
                            hint="check the file; scanned PDFs need OCR first")
    return Document(source=source, text=text, format=fmt, encoding=encoding, note=note)


def _decode(source: str, data: bytes) -> tuple[str, str | None, str | None]:
    if not data.strip():
        raise DocumentError("document is empty (no text to summarize)", path=source, hint="check the file")
    bom16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not bom16 and (b"\x00" in data[:8192] or _control_ratio(data[:65536]) > 0.01):
        raise DocumentError("binary file, not text", path=source,
                            hint="pass a text, Markdown, HTML, PDF or DOCX file")
    try:
        return data.decode("utf-8-sig"), "utf-8", None
    except UnicodeDecodeError:
        pass
    if not bom16:
        lenient = data.decode("utf-8", errors="replace")
        bad = lenient.count("\ufffd")
        good = sum(1 for ch in lenient if ord(ch) > 127) - bad
        if good >= bad:  # real UTF-8 with a few broken bytes (truncated copy...): keep it, say so
            return lenient, "utf-8", f"{bad} invalid UTF-8 byte(s) replaced by U+FFFD"
        legacy = _legacy_french(data)
        if legacy is not None:
            return legacy
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["cp1252", "latin_1", "iso8859_15", "mac_roman", "utf_16", "cp850"]).best()
    if best is None or best.chaos > 0.3 or _letter_ratio(str(best)) < 0.5:
        raise DocumentError("cannot detect the text encoding (binary or corrupt file?)", path=source,
                            hint="convert the file to UTF-8")
    return str(best), best.encoding, None


# Non-ASCII characters expected in French text; a cp1252 decoding made mostly of them is
# taken before the generic detector, which misreads short French texts as mac_roman.
_FRENCH = set("àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ’‘“”«»…–—€°\xa0·•")
_CONTROLS = bytes(c for c in range(32) if c not in (9, 10, 12, 13, 27))


def _control_ratio(data: bytes) -> float:
    return sum(data.count(c) for c in _CONTROLS) / max(1, len(data))


def _letter_ratio(text: str) -> float:
    visible = [ch for ch in text if not ch.isspace()]
    return sum(ch.isalpha() for ch in visible) / max(1, len(visible))


def _legacy_french(data: bytes) -> tuple[str, str | None, str | None] | None:
    """Latin-1 / Windows-1252 French files (the legacy encodings of French archives)."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    high = [ch for ch in text if ord(ch) > 127]
    if sum(ch in _FRENCH for ch in high) < 0.9 * len(high) or _letter_ratio(text) < 0.5:
        return None
    # Bytes 0x80-0x9F are control codes in latin-1 but letters/quotes in cp1252.
    return text, "cp1252" if any(0x80 <= b <= 0x9F for b in data) else "latin-1", None


def _read_text(source: str, data: bytes) -> Document:
    text, encoding, note = _decode(source, data)
    doc = _finish(source, "text", text, encoding, note)
    doc.layout = text_layout(text)  # the file's line numbers and slide breaks, which normalizing loses
    return doc


def _read_html(source: str, data: bytes) -> Document:
    import trafilatura  # lazy: heavy import, only for HTML

    from .htmlclean import strip_hidden

    html, encoding, _ = _decode(source, data)
    html = strip_hidden(html)  # hidden text and comments carry prompt injections (issue 7)
    # No deduplicate=True: trafilatura's dedup cache is process-wide, so a page read a third time
    # (eval, retries, tests) would lose its paragraphs as "duplicates".
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=True) or ""
    if not text.strip() or _only_links(html, text):
        raise DocumentError("no article text found in the HTML", path=source,
                            hint="the page may be only navigation or need JavaScript; save its text instead")
    doc = _finish(source, "html", text, encoding)
    doc.layout = Layout(format="html")
    return doc


def _only_links(html: str, text: str) -> bool:
    """On a page of menus only, the extractor falls back to the link labels: that is no article."""
    import lxml.html

    try:
        labels = sorted({" ".join(a.text_content().split()) for a in lxml.html.fromstring(html).iter("a")},
                        key=len, reverse=True)
    except (ValueError, TypeError, lxml.etree.LxmlError):
        return False
    rest = " ".join(text.split())
    for label in labels:
        if label:
            rest = rest.replace(label, " ")
    return len(re.findall(r"\w{2,}", rest)) < 3


def _read_pdf(source: str, data: bytes) -> Document:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs its repairs ("EOF marker not found") on stderr: our one-line error says it all.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("PDF is encrypted", path=source, hint="remove the password first")
        pages = [page.extract_text() or "" for page in reader.pages]
        text = "\n\n".join(pages)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as exc:
        raise DocumentError(f"corrupt or unreadable PDF ({type(exc).__name__})", path=source,
                            hint="open and re-save it, or export its text") from None
    if not text.strip():
        raise DocumentError("PDF has no text layer (scanned?)", path=source, hint="run OCR on it first")
    doc = _finish(source, "pdf", text)
    doc.layout = pdf_layout(doc.text, pages)
    return doc


MAX_UNZIPPED = 256 * 1024 * 1024  # a DOCX is a zip: 10 MB can declare gigabytes (zip bomb)


def _check_unzipped_size(source: str, data: bytes) -> None:
    """python-docx loads every part in memory; zipfile never inflates past the declared sizes."""
    import zipfile

    try:
        declared = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a readable zip: python-docx reports it below
    if declared > MAX_UNZIPPED:
        raise DocumentError(f"DOCX expands to {declared / 1e6:.0f} MB (limit {MAX_UNZIPPED / 1e6:.0f} MB)",
                            path=source, hint="this looks like a zip bomb; open and re-save it, or export its text")


def _read_docx(source: str, data: bytes) -> Document:
    import zipfile

    import docx

    _check_unzipped_size(source, data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DocumentError(f"corrupt or unreadable DOCX ({type(exc).__name__})", path=source,
                            hint="open and re-save it in Word or LibreOffice") from None
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise DocumentError(f"corrupt or unreadable DOCX ({type(exc).__name__})", path=source,
                            hint="open and re-save it in Word or LibreOffice") from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    doc = _finish(source, "docx", "\n\n".join(parts))
    doc.layout = Layout(format="docx")
    return doc


_READERS: dict[str, Callable[[str, bytes], Document]] = {
    **{ext: _read_text for ext in TEXT_EXT},
    **{ext: _read_html for ext in HTML_EXT},
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}


def is_supported(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in _READERS
