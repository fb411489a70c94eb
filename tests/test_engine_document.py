"""The per-document code path both batch engines call (engines/document.py), on a fake backend."""
from __future__ import annotations

from pathlib import Path

from summarize.batch.corpus import Item
from summarize.engines.document import DEFERRED, summarize_document
from summarize.errors import DocumentError
from summarize.summarizer import Summarizer

from .ray_fakes import SUMMARY, FakeFactory, generations, write_fake_corpus


def _summarizer(tmp_path: Path) -> Summarizer:
    from summarize import models

    backend = FakeFactory(tmp_path / "log")(models.resolve(None))
    return Summarizer(None, length="short", cache_dir=str(tmp_path / "cache"), backend=backend)


def test_a_miss_is_computed_and_committed_then_a_hit_keeps_its_first_cost(tmp_path):
    doc = write_fake_corpus(tmp_path / "corpus", 1)[0]
    item = Item(str(doc), doc.name, doc.stat().st_size, None, doc.name + ".md")
    s = _summarizer(tmp_path)
    first = summarize_document(s, item, want_meta=True)
    assert first.row["status"] == "ok" and first.row["summary"] == SUMMARY and first.error is None
    assert first.meta["cpu_seconds"] == first.row["cpu_seconds"]  # what the driver's cache receives
    assert s.cache.get(first.key).meta["cpu_seconds"] == first.row["cpu_seconds"]
    again = summarize_document(s, item, claim=lambda key: DEFERRED)  # a hit never asks for a claim
    assert again.row["status"] == "cached" and again.row["tokens_in"] == first.row["tokens_in"]
    assert sum(generations(tmp_path / "log").values()) == 1


def test_a_miss_can_be_deferred_and_a_bad_document_is_an_error_row(tmp_path):
    doc = write_fake_corpus(tmp_path / "corpus", 1)[0]
    s = _summarizer(tmp_path)
    item = Item(str(doc), doc.name, 0, None, doc.name + ".md")
    assert summarize_document(s, item, claim=lambda key: DEFERRED) is DEFERRED
    empty = tmp_path / "vide.txt"
    empty.write_bytes(b"")
    done = summarize_document(s, Item(str(empty), empty.name, 0, None, "vide.txt.md"))
    assert done.row["status"] == "error" and "empty" in done.row["error"] and isinstance(done.error, DocumentError)
    assert done.row["sha256"] is not None and done.key is None
    assert not generations(tmp_path / "log")  # nothing generated
