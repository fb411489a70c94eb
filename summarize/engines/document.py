"""The per-document work of a batch, whatever the engine: read → key → summarize → manifest row.

The local engine calls it in the batch process; the Ray engine calls it in each actor (misses)
and in the driver (cache hits and unreadable documents). So a document's row and summary are
the same function of (document, model, prompts, settings) on every engine.
"""
from __future__ import annotations

import hashlib
import os
import stat as stat_mod
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import DocumentError, ModelError, SummarizeError, UsageError
from ..reading.readers import Document, read_document
from ..sobriety import cpu_seconds
from ..summarizer import Progress, Summarizer

if TYPE_CHECKING:
    from ..batch.corpus import Item  # the batch imports the engines: not the other way round at import time

DEFERRED = object()  # not computed here: another process holds its lease, or another engine computes it
# Called on a cache miss with the document's key, before any inference: returns a lease to release
# afterwards, None (no lease needed) or DEFERRED (leave this document for later / for someone else).
Claim = Callable[[str], Any]


@dataclass
class Done:
    row: dict[str, Any]  # the manifest row (status ok, cached or error)
    key: str | None = None  # the document's cache key (None when it could not be read)
    meta: dict[str, Any] | None = None  # the cache entry's metadata (asked for with want_meta)
    error: Exception | None = None  # the exception behind an error row (the caller decides if it is fatal)


def summarize_document(s: Summarizer, item: Item, *, doc: Document | None = None, claim: Claim | None = None,
                       progress: Progress | None = None, want_meta: bool = False) -> Any:
    """One document's row; DEFERRED when ``claim`` says so. Never raises for a bad document."""
    started = time.perf_counter()
    row = base_row(item, s)
    key = None
    try:
        if item.error:
            raise DocumentError(item.error, path=item.path)
        doc = doc or read_document(item.path, max_bytes=s.max_bytes)
        row.update(sha256=doc.sha256, format=doc.format, encoding=doc.encoding, note=doc.note)
        key = s.document_key(doc.text)
        lease = None
        if claim is not None and s.cache.get(key) is None:
            lease = claim(key)
            if lease is DEFERRED:
                return DEFERRED
        cpu0 = cpu_seconds()
        try:
            result = s.summarize_text(doc.text, source=item.path, progress=progress, layout=doc.layout)
        finally:
            if lease is not None:
                lease.release()
    except Exception as exc:  # noqa: BLE001 - failure isolation: one bad document never stops the batch
        row.update(status="error", error=one_line(exc), run_seconds=round(time.perf_counter() - started, 3))
        row["sha256"] = row["sha256"] or safe_sha256(item.path, s.max_bytes)
        return Done(row, key, None, exc)
    row.update(status="cached" if result.cache_hit else "ok", cache_hit=result.cache_hit,
               summary=result.summary, text_sha256=result.doc_sha256, method=result.method,
               guard_failures=result.guard_failures, run_seconds=round(time.perf_counter() - started, 3),
               tokens_in=result.tokens_in, tokens_out=result.tokens_out, seconds=round(result.seconds, 3),
               supported=result.supported)
    if result.sentences is not None:  # for the Markdown file only: batch.Job.record takes it out of the manifest row
        row["sentences"] = result.sentences
    if result.cache_hit:
        # Record what producing this summary cost the first time: the manifest and the
        # Markdown stay identical whichever run (or process, or node) computed it.
        cost = result.cost or {}
        row.update(tokens_in=int(cost.get("tokens_in") or 0), tokens_out=int(cost.get("tokens_out") or 0),
                   seconds=round(float(cost.get("seconds") or 0.0), 3), cpu_seconds=cost.get("cpu_seconds"))
        hit = s.cache.get(key) if want_meta else None
    else:
        row["cpu_seconds"] = round(cpu_seconds() - cpu0, 3)
        hit = s.cache.get(key)
        if hit is not None:  # keep the CPU cost with the summary: what a later hit saves (sobriety report)
            hit.meta = {**hit.meta, "cpu_seconds": row["cpu_seconds"]}
            s.cache.put(key, "document", hit.summary, hit.meta)
    return Done(row, key, hit.meta if hit is not None and want_meta else None)


def base_row(item: Item, s: Summarizer) -> dict[str, Any]:
    return {"path": item.path, "output": item.output, "sha256": None, "text_sha256": None, "format": None,
            "encoding": None, "status": "error", "cache_hit": False, "summary": None, "model": s.ref.name,
            "prompt_version": s.prompts.cache_id, "length": s.length, "method": None, "supported": None, "tokens_in": 0,
            "tokens_out": 0, "seconds": 0.0, "cpu_seconds": None, "run_seconds": 0.0, "guard_failures": [], "note": None,
            "error": None}


def fatal(exc: Exception, model_worked: bool) -> bool:
    """Errors every document would hit the same way: stop at once instead of failing N times."""
    if isinstance(exc, ModelError):
        return not model_worked  # the model never ran in this process: it cannot load
    return isinstance(exc, UsageError) and not isinstance(exc, DocumentError)  # e.g. a bad --ctx


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SummarizeError) else f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


def safe_sha256(path: str, limit: int) -> str | None:
    """Hash of a file that failed to read, when that is cheap and safe (regular, not huge)."""
    try:
        st = os.stat(path)
        if not stat_mod.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read(limit + 1)).hexdigest()
    except OSError:
        return None
