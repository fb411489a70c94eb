"""Collect real model sentences for the labelled set of invented details (issue 20, acceptance 4).

    python benchmarks/invented_collect.py --valid 40 [--seeds] [--batch] --out /tmp/raw.jsonl

Runs the default model (gemma3-270m, default length) through the real pipeline, with no cache,
on OrangeSum *valid* articles (never the test split) and on the single-chunk seeds, and writes
every model output the support rule sees — each attempt of each single-chunk or map call,
before unsupported sentences are dropped — one sentence a line: {doc, path, length, call (the
document's n-th model call), chunk (the start of the text it was checked against), sentence,
supported, missing}. ``--batch`` also runs the seeds the way ``summarize batch`` does (first attempts
decoded together), which is where the seed-000 « tabac privatisé » came from.

The labels are a person's: see benchmarks/data/invented.jsonl and benchmarks/invented_check.py.
Run it under the machine-wide CPU lock (``flock /tmp/summarize-cpu.lock …``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SEEDS = ("000", "001", "002", "003", "004")  # 002, the deck, is map-reduced: its chunks' outputs


def documents(valid: int, seeds: bool, skip: int = 0) -> list[tuple[str, str]]:
    import attribution_check

    docs = []
    if seeds:
        for n in SEEDS:
            path = next((ROOT / "seeds").glob(f"{n}_*.txt"))
            docs.append((f"seed:{path.name}", path.read_text(encoding="utf-8")))
    for row in list(attribution_check.rows("valid", skip + valid))[skip:]:
        docs.append((f"valid:{row['id']}", row["document"]))
    return docs


def collect(docs: list[tuple[str, str]], batch: bool = False, length: str = "medium",
            threads: int | None = None) -> list[dict]:
    from summarize import Summarizer
    from summarize.quality.guards import sentence_pieces
    from summarize.quality import attribution

    out: list[dict] = []
    current = {"doc": "", "calls": 0}
    original = attribution.keep_supported

    def recording(text: str, index: attribution.Index):  # every output the rule sees, as it sees it
        for piece in sentence_pieces(text):
            verdict = index.support(piece.strip())
            out.append({"doc": current["doc"], "path": "batch" if batch else "single", "length": length,
                        "threads": threads,
                        "call": current["calls"], "chunk": index.text[:60], "sentence": piece.strip(),
                        "supported": verdict.supported, "missing": verdict.missing})
        return original(text, index)

    attribution.keep_supported = recording
    try:
        s = Summarizer(use_cache=False, length=length, threads=threads)
        generate = s.backend.generate

        def counting(*args, **kwargs):  # which model call of the document an output comes from
            current["calls"] += 1
            return generate(*args, **kwargs)

        s.backend.generate = counting
        if batch:
            s.prefetch([text for _, text in docs])
        for name, text in docs:
            current.update(doc=name, calls=0)
            result = s.summarize_text(text, source=name)
            print(f"{name}: {result.method} {result.seconds:.1f} s", file=sys.stderr, flush=True)
        if batch:
            s.end_prefetch()
        s.close()
    finally:
        attribution.keep_supported = original
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--valid", type=int, default=40, help="N OrangeSum valid articles")
    parser.add_argument("--skip", type=int, default=0, help="after the first SKIP ones")
    parser.add_argument("--seeds", action="store_true")
    parser.add_argument("--batch", action="store_true", help="the seeds as a batch job decodes them")
    parser.add_argument("--length", default="medium")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads (default: the free cores; the output depends on it)")
    parser.add_argument("--only", default="", help="only the documents whose name holds this")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    docs = [d for d in documents(args.valid, args.seeds, args.skip) if args.only in d[0]]
    rows = collect(docs, length=args.length, threads=args.threads)
    if args.batch:
        rows += collect([d for d in documents(0, True) if args.only in d[0]], batch=True, length=args.length,
                        threads=args.threads)
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} sentences -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
