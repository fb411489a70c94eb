"""The LoRA adapter's cost on raw speed: prompt processing (pp) and generation (tg) tokens/s
of the in-process backend, bare model vs model + adapter, interleaved in one run.

    python benchmarks/adapter_cost.py --adapter training/build/demo/gemma3-270m-fr.lora.gguf [--adapter B ...]

The cost depends on the adapter's shapes (rank, adapted projections), not on its values,
so the CPU demo's adapter (rank 16, all 7 projections: the shipped configuration) measures
what a trained one will cost. Ratio = adapter tok/s / bare tok/s, the lower of pp and tg
(goal ≥ 0.95: issue 11 allows ≤ 5 % cost); with several adapters, one ratio each, the
reported ratio being the first adapter's. Each adapter is measured twice: applied at run time
by llama.cpp, and merged into the weights (summarize/backends/merge.py, the product's default:
made once here in a temporary folder, its merge time reported).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import dev_documents, report

from summarize import models
from summarize.backends import GenSettings
from summarize.gguf import read_gguf
from summarize.backends.llama_cpp import LlamaCppBackend
from summarize.backends.merge import merged
from summarize.prompts import Prompt


def speed(path: str, adapter: str | None, texts: list[str], pp: int, tg: int) -> dict[str, float]:
    backend = LlamaCppBackend(read_gguf(path), adapter=adapter)
    backend.ensure_loaded(pp + tg + 64)
    pp_rates, tg_rates = [], []
    for i, text in enumerate(texts):
        ids = backend.tokenizer.tokenize(text.encode(), add_bos=False)[: pp - 1]
        prompt = Prompt(text=backend.tokenizer.detokenize(ids).decode("utf-8", "ignore"), stop=())
        gen = backend.generate(prompt, GenSettings(max_tokens=1))  # distinct texts: no prefix reuse
        pp_rates.append(gen.tokens_in / gen.seconds)
        start = time.perf_counter()
        gen = backend.generate(Prompt(text="Il était une fois", stop=()),
                               GenSettings(max_tokens=tg, repeat_penalty=1.0, seed=i))
        tg_rates.append(gen.tokens_out / (time.perf_counter() - start - gen.tokens_in / pp_rates[-1]))
    backend.close()
    return {"pp": max(pp_rates), "tg": max(tg_rates)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter", action="append", required=True)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    path = models.resolve("gemma3-270m-base").path
    texts = [d["document"] for d in dev_documents(args.reps)]
    tmp = tempfile.TemporaryDirectory()
    runs: dict[str, tuple[str, str | None]] = {"bare": (path, None)}
    merge_seconds = {}
    for i, adapter in enumerate(args.adapter):
        start = time.perf_counter()
        runs[adapter] = (path, adapter)
        runs[f"{adapter} (merged)"] = (str(merged(path, adapter, Path(tmp.name) / f"{i}.gguf")), None)
        merge_seconds[adapter] = round(time.perf_counter() - start, 1)
    best: dict[str, dict[str, float]] = {}
    for _ in range(2):  # interleaved: bare, each adapter (run time, merged), then again; best of each
        for name, (model, adapter) in runs.items():
            for k, v in speed(model, adapter, texts, args.pp, args.tg).items():
                row = best.setdefault(name, {})
                row[k] = max(row.get(k, 0.0), v)
    tmp.cleanup()
    bare = best["bare"]
    ratios = {name: {k: round(best[name][k] / bare[k], 3) for k in ("pp", "tg")} for name in runs if name != "bare"}
    first = args.adapter[0]
    report("adapter_cost", min(ratios[f"{first} (merged)"].values()), ">= 0.95",
           runtime_ratio=min(ratios[first].values()), bare_tps={k: round(v, 1) for k, v in bare.items()},
           adapter_tps={name: {k: round(v, 1) for k, v in best[name].items()} for name in ratios},
           ratios=ratios, merge_seconds=merge_seconds)

if __name__ == "__main__":
    main()
