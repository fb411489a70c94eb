"""Warm cache: a batch rerun over 1,500 cached documents (goal ≥ 2,000 documents/s) and one
cached document from a cold process (goal ≤ 150 ms wall).

    python benchmarks/warm_cache.py [--docs 1500]

Summarizing 1,500 documents with a real model takes hours on 2 cores, so the cache is
filled directly with the Summarizer's own keys (same key function, same rows a real run
writes); what is timed is exactly the rerun path: discovery, reading, hashing, lookups,
Markdown and manifest writes. The single-document figure runs the real CLI in a new
process after a real (model) summary of that document.
Ratios printed are measured / goal for the batch rate, goal / measured for the latency
(≥ 1 means the goal is met).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, dev_documents, report

from summarize import Summarizer
from summarize.batch import BatchOptions, run_batch
from summarize.reading.readers import read_document


def make_corpus(folder: Path, n: int) -> list[Path]:
    docs = dev_documents(200)
    files = []
    for i in range(n):
        path = folder / f"doc_{i:05d}.txt"
        path.write_text(f"{docs[i % len(docs)]['document']}\n\nDépêche n° {i}.", encoding="utf-8")
        files.append(path)
    return files


def fill_cache(files: list[Path], cache: Path, length: str) -> None:
    s = Summarizer(length=length, cache_dir=str(cache))
    for path in files:
        text = read_document(str(path)).text
        s.cache.put(s._key("document", text, length), "document", "Résumé de la dépêche.",
                    {"model_sha256": s.model_sha256, "method": "model", "tokens_in": 600, "tokens_out": 40,
                     "seconds": 3.0})
    s.close()


def cold_single(cache: Path, reps: int) -> tuple[list[float], list[float]]:
    """Walls of a cached single summary in a new process, and of a bare Python start that
    imports sqlite3 (interleaved): their ratio does not depend on the machine's speed today."""
    seed = str(ROOT / "seeds" / "001_188ff14e355e4071.txt")
    env = {**os.environ, "SUMMARIZE_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "summarize", seed, "--length", "short"]
    bare_cmd = [sys.executable, "-c", "import sqlite3"]
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # the real, model-computed summary
    walls, bare = [], []
    for _ in range(reps):
        for command, into in ((cmd, walls), (bare_cmd, bare)):
            start = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, check=True)
            into.append(time.perf_counter() - start)
    return walls, bare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus, cache, out = Path(tmp, "corpus"), Path(tmp, "cache"), Path(tmp, "out")
        corpus.mkdir()
        files = make_corpus(corpus, args.docs)
        fill_cache(files, cache, "medium")
        options = BatchOptions(out=str(out), cache_dir=str(cache))
        first = run_batch([str(corpus)], options)  # writes the Markdown files once
        assert first.counts["cached"] == args.docs, first.counts
        start = time.perf_counter()
        again = run_batch([str(corpus)], options)
        batch_s = time.perf_counter() - start
        assert again.counts["cached"] == args.docs
        rate = args.docs / batch_s
        walls, bare = cold_single(cache, args.reps)
    single_ms = statistics.median(walls) * 1000
    bare_ms = statistics.median(bare) * 1000
    report("warm_cache", min(rate / 2000, 150 / single_ms), "batch >= 2000 docs/s and single <= 150 ms",
           docs=args.docs, batch_seconds=round(batch_s, 3), docs_per_second=round(rate),
           batch_ratio=round(rate / 2000, 3), single_cold_ms_median=round(single_ms, 1),
           single_cold_ms=[round(w * 1000) for w in walls], single_ratio=round(150 / single_ms, 3),
           bare_python_sqlite3_ms_median=round(bare_ms, 1),
           single_vs_bare_python=round(single_ms / bare_ms, 2))


if __name__ == "__main__":
    main()
