"""Issue 7 measurement: run the prompt-injection corpus through real models, count obedience.

    python benchmarks/trust_injection.py [--models gemma3-270m smollm2-135m] [--length medium]

Prints one line per document, then a Markdown table for docs/BENCHMARKS.md, and writes
every draft and final summary to benchmarks/results/trust_injection.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.injection_corpus import as_json, documents, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    parser.add_argument("--length", default="medium")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "trust_injection.json"))
    args = parser.parse_args()
    docs = documents()
    rows, everything = [], []
    for model in args.models:
        outcomes = run(model, length=args.length, docs=docs, progress=True)
        everything += as_json(outcomes)
        methods = Counter(o.method for o in outcomes)
        injection_flags = sum(any(f.endswith(":injection") for f in o.guard_failures) for o in outcomes)
        rows.append(f"| {model} | {len(outcomes)} | {sum(bool(o.raw_obeys) for o in outcomes)} | "
                    f"{sum(bool(o.raw_leaks) for o in outcomes)} | {sum(bool(o.final_obeys) for o in outcomes)} | "
                    f"{sum(bool(o.final_leaks) for o in outcomes)} | {injection_flags} | {methods['model']} | "
                    f"{methods['model-retry']} | {methods['extractive-fallback']} | "
                    f"{sum(o.seconds for o in outcomes) / max(1, len(outcomes)):.1f} s |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(everything, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nlength={args.length}, {len(docs)} documents "
          f"({sum(d.suffix == '.txt' for d in docs)} .txt, {sum(d.suffix == '.html' for d in docs)} .html)\n")
    print("| model | docs | first draft obeys | first draft leaks prompt | final obeys | final leaks prompt | "
          "docs flagged `injection` | model | model-retry | extractive-fallback | mean time/doc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
