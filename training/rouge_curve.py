"""The valid ROUGE curve beside the loss (issue 23): generate with llama.cpp and score.

    flock /tmp/summarize-cpu.lock python -m training.rouge_curve training/checkpoints/rewrite-1
    flock /tmp/summarize-cpu.lock python -m training.rouge_curve --bare --out training/checkpoints/rewrite-1/rouge.jsonl

A checkpoint folder (compact, full ``best``: anything with PEFT's adapter_config.json and
adapter_model.safetensors) is exported to a GGUF LoRA (export_lora.py) and run through the
product's own ``Summarizer`` (guards, retry, fallback), which prompts an adapter with the
extract-then-rewrite template it was trained with (fr.toml [tuned]), on ``--limit`` valid articles from row
``--first`` (valid only: never the test split), and scored by ``summarize eval``'s code.
``--bare`` scores the bare model with the product's prompts on the same articles: the line
to beat. One JSON line is appended to ``--out`` (default ``<checkpoint>-rouge.jsonl`` beside the
folder: the trainer swaps the folder itself in at every checkpoint). The folder is copied
first, so a checkpoint written meanwhile cannot mix two adapters.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def valid_jsonl(path: Path, first: int, limit: int) -> None:
    """``summarize eval``'s input format from the valid split (abstract → reference)."""
    from .prepare import read_rows

    with path.open("w", encoding="utf-8") as f:
        for i, row in enumerate(read_rows("valid", first + limit)):
            if i >= first:
                f.write(json.dumps({"id": row["id"], "document": row["document"], "reference": row["abstract"]},
                                   ensure_ascii=False) + "\n")


def score(model: str, data: Path, limit: int, *, threads: int | None = None,
          min_tokens: int | None = None, lead_words: int | None = None) -> dict[str, Any]:
    from summarize.evaluate import evaluate
    from summarize.summarizer import Summarizer

    summarizer = Summarizer(model, length="short", use_cache=False, threads=threads)
    if min_tokens is not None:  # a decoding experiment: the prompts' floor replaced (fr.toml [tuned])
        summarizer.prompts = summarizer.prompts.with_length("short", min_tokens=min_tokens)
    if lead_words is not None:  # an input experiment: the short prompt shows this many opening words
        summarizer.prompts = summarizer.prompts.with_length("short", lead_words=lead_words)
    floor = summarizer.prompts.min_tokens("short")
    report = evaluate(str(data), length="short", limit=limit, summarizer=summarizer)
    shown = {"lead_words_short": lead_words} if lead_words is not None else {}
    # Drafts (fr.toml [tuned] drafts, seventh session): the points before them were greedy only.
    # Retries (fr.toml retries, eighth session): the points before them had the base schedule.
    retries = [overrides for _, overrides in summarizer.prompts.attempts()[1:]]
    return {"min_tokens": floor, "drafts": summarizer.prompts.drafts("short"), "retries": retries, **shown,
            "rouge_unicode": report.rouge.get("unicode"), "rouge_paper": report.rouge.get("paper"),
            "rouge_model_unicode": report.rouge_model.get("unicode"), "methods": report.methods,
            "model_written": round(report.model_documents / max(report.documents, 1), 3),
            "french_rate": report.french_rate, "guard_failures": report.guard_failures,
            "documents": report.documents, "mean_words": report.mean_words}


def lead45(data: Path) -> dict[str, float]:
    """ROUGE of the article's first 45 words on the same rows (``summarize eval``'s lead-45)."""
    from summarize.evaluate import BASELINES
    from summarize.quality.rouge import corpus

    rows = [json.loads(line) for line in data.open(encoding="utf-8")]
    return corpus([(r["reference"], BASELINES["lead-45"](r["document"])) for r in rows])["unicode"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?", type=Path, help="a folder with the PEFT adapter files")
    ap.add_argument("--bare", action="store_true", help="score the bare model (the product's prompts) instead")
    ap.add_argument("--first", type=int, default=1000, help="first valid row (rows beyond the loss selection slice)")
    ap.add_argument("--limit", type=int, default=150, help="articles (150: 50-article points were noise)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--min-tokens", type=int, help="replace the short length's decoding floor (fr.toml [tuned] "
                                                     "min_tokens; 0 = none, the points before it existed)")
    ap.add_argument("--lead-words", type=int, help="show the short prompt this many opening words instead of "
                                                     "fr.toml's (a run trained with prepare.py --lead-words short=N)")
    ap.add_argument("--out", type=Path, help="JSONL to append to (default <checkpoint>-rouge.jsonl)")
    args = ap.parse_args(argv)
    if not args.bare and args.checkpoint is None:
        ap.error("give a checkpoint folder, or --bare")
    out = args.out or args.checkpoint.with_name(args.checkpoint.name + "-rouge.jsonl")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "valid.jsonl"
        valid_jsonl(data, args.first, args.limit)
        if args.bare:
            entry: dict[str, Any] = {"model": "gemma3-270m-base (bare, product prompts)"}
            entry.update(score("gemma3-270m-base", data, args.limit, threads=args.threads, min_tokens=args.min_tokens,
                               lead_words=args.lead_words))
        else:
            import shutil

            from .checkpoint import existing
            from .export_lora import export

            found = existing(args.checkpoint)
            if found is None:
                raise SystemExit(f"{args.checkpoint}: no checkpoint there")
            copy = Path(shutil.copytree(found, Path(tmp) / "checkpoint"))
            gguf = Path(tmp) / "adapter.lora.gguf"
            digest = export(copy, gguf)
            state_file = copy / "state.json"
            progress = json.loads(state_file.read_text())["progress"] if state_file.exists() else {}
            entry = {"model": f"gemma3-270m-base+{args.checkpoint}", "adapter_sha256": digest,
                     "step": progress.get("step"), "examples": progress.get("examples")}
            entry.update(score(f"gemma3-270m-base+{gguf}", data, args.limit, threads=args.threads,
                               min_tokens=args.min_tokens, lead_words=args.lead_words))
        entry["lead45_unicode"] = lead45(data)  # the line to beat, on the same rows (slices differ by ±3 points)
    entry.update(valid_rows=[args.first, args.first + args.limit], seconds=round(time.perf_counter() - started, 1),
                 at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(json.dumps(entry, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
