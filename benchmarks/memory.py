"""Memory: peak RSS over a long batch stays flat (goal ≤ model file size + 300 MB).

    python benchmarks/memory.py [--docs 200] [--cached 1500]

Runs `summarize batch` over --docs OrangeSum documents with the real model (fresh cache),
then a rerun over --cached documents served from the cache, sampling the process RSS after
every document. Flatness = RSS growth between the first and last tenth of the model run.
Ratio = goal / peak (≥ 1 means the goal is met).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

import psutil
from common import dev_documents, report
from warm_cache import fill_cache, make_corpus

from summarize import models
from summarize.batch import BatchOptions, Observer, run_batch


class Sampler(Observer):
    def __init__(self) -> None:
        self.proc, self.rss = psutil.Process(), []

    def doc_done(self, index, item, row):  # type: ignore[no-untyped-def]
        self.rss.append(self.proc.memory_info().rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--cached", type=int, default=1500)
    ap.add_argument("--length", default="short")
    args = ap.parse_args()
    model_bytes = os.path.getsize(models.resolve(None).path)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        for row in dev_documents(args.docs):
            (corpus / f"{row['id']}.txt").write_text(row["document"], encoding="utf-8")
        live = Sampler()
        run_batch([str(corpus)], BatchOptions(out=f"{tmp}/out", cache_dir=f"{tmp}/cache", length=args.length), live)
        big = Path(tmp, "big")
        big.mkdir()
        files = make_corpus(big, args.cached)
        fill_cache(files, Path(tmp, "cache"), args.length)
        cached = Sampler()
        run_batch([str(big)], BatchOptions(out=f"{tmp}/out2", cache_dir=f"{tmp}/cache", length=args.length), cached)
    # True peak of the whole process (kernel high-water mark), not only the per-document samples.
    peak = max(max(live.rss + cached.rss), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    tenth = max(1, len(live.rss) // 10)
    growth = sum(live.rss[-tenth:]) / tenth - sum(live.rss[:tenth]) / tenth
    goal = model_bytes + 300e6
    report("memory", goal / peak, "peak <= model + 300 MB", docs=args.docs, cached_docs=args.cached,
           model_mb=round(model_bytes / 1e6), peak_rss_mb=round(peak / 1e6),
           growth_first_to_last_tenth_mb=round(growth / 1e6, 1),
           rss_mb_samples=[round(r / 1e6) for r in live.rss[:: max(1, len(live.rss) // 10)]],
           cached_peak_rss_mb=round(max(cached.rss) / 1e6), goal_mb=round(goal / 1e6))


if __name__ == "__main__":
    main()
