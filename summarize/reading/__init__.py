"""Document reading → text: the first stage of every summary, single document or batch.

    from summarize.reading import read_document, clean
    doc = read_document("rapport.pdf")          # Document: text, sha256, format, layout
    text = clean(doc.text)                      # what a reader skips never reaches the model

Modules: readers (bytes on disk or stdin → text, one clear error per failure), htmlclean
(what a page hides is dropped before extraction), text (normalization and content hashes),
layout (where the text's lines and pages are in the file, for citations), cleanup (URLs,
image lines, page furniture, repeats), limits (per-document byte and token limits).

Public surface: ``read_document``, ``Document``, ``SUPPORTED``, ``is_supported``,
``DEFAULT_MAX_BYTES``; ``normalize``, ``sha256_text``, ``sha256_file``; ``Layout``,
``text_layout``, ``pdf_layout``; ``clean``, ``clean_lines``, ``has_url``;
``resolve_max_tokens``. Names load lazily: the cache importing ``reading.text`` pays for no
reader (trafilatura, pypdf and python-docx load with their format).
"""
from __future__ import annotations

from ..lazy import names

_WHERE = {"read_document": "readers", "Document": "readers", "SUPPORTED": "readers", "is_supported": "readers",
          "DEFAULT_MAX_BYTES": "readers", "normalize": "text", "sha256_text": "text", "sha256_file": "text",
          "Layout": "layout", "text_layout": "layout", "pdf_layout": "layout", "clean": "cleanup",
          "clean_lines": "cleanup", "has_url": "cleanup", "resolve_max_tokens": "limits"}
__all__ = sorted(_WHERE)

__getattr__ = names(__name__, _WHERE)
