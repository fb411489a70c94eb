"""Long documents: is every part of a document represented in its summary?

    python benchmarks/long_coverage.py [--docs 4] [--articles 10] [--length medium]

Builds long documents by joining consecutive OrangeSum dev articles (each ~500 tokens, so
10 of them need several chunks), summarizes each with the real pipeline (no cache), and
measures, per document:

* coverage: the share of its articles the summary mentions, an article counting as
  mentioned when the summary contains at least two of the words found in that article
  and in no other article of the document (names, places, topic words);
* ROUGE-1 (unicode tokens) of the summary against the joined gold abstracts;
* words, seconds, and how each stage ended (model, retry, extractive fallback).

Prints the figures as JSON, then mean coverage on the last line (higher is better).
"""
from __future__ import annotations

import argparse
import re
import statistics
import time

from common import dev_documents, report

from summarize import Summarizer
from summarize.quality.guards import STOP_WORDS as _STOP
from summarize.quality.rouge import Rouge

_WORD = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOP and not w.isdigit()}


def coverage(summary: str, articles: list[str]) -> tuple[float, list[int]]:
    said = content_words(summary)
    words = [content_words(a) for a in articles]
    hits = []
    for i, own in enumerate(words):
        unique = own - set().union(*(w for j, w in enumerate(words) if j != i))
        hits.append(len(said & unique))
    return sum(h >= 2 for h in hits) / len(articles), hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=4)
    ap.add_argument("--articles", type=int, default=10)
    ap.add_argument("--length", default="medium")
    ap.add_argument("--model", default=None)
    ap.add_argument("--offset", type=int, default=100, help="first dev article used")
    args = ap.parse_args()
    rows = dev_documents(args.offset + args.docs * args.articles)[args.offset :]
    s = Summarizer(args.model, length=args.length, use_cache=False)
    results = []
    rouge = Rouge(["unicode"])
    for d in range(args.docs):
        group = rows[d * args.articles : (d + 1) * args.articles]
        text = "\n\n".join(r["document"] for r in group)
        start = time.perf_counter()
        res = s.summarize_text(text, source=f"long-{d}")
        seconds = time.perf_counter() - start
        cov, hits = coverage(res.summary, [r["document"] for r in group])
        gold = " ".join(r["reference"] for r in group)
        r1 = 100 * rouge.score(gold, res.summary)["unicode"]["rouge1"]
        results.append({"coverage": cov, "hits": hits, "rouge1": round(r1, 2), "words": len(res.summary.split()),
                        "seconds": round(seconds, 1), "chunks": len(res.plan["chunks"]) if res.plan else 1,
                        "methods": [f"{st['stage']}{st['part']}:{st['method']}" for st in res.stages],
                        "summary": res.summary})
    s.close()
    mean = statistics.mean(r["coverage"] for r in results)
    report("long_coverage", mean, "higher is better", length=args.length, articles_per_doc=args.articles,
           rouge1=round(statistics.mean(r["rouge1"] for r in results), 2),
           seconds=round(sum(r["seconds"] for r in results), 1), docs=results)


if __name__ == "__main__":
    main()
