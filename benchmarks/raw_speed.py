"""Raw speed: prompt processing (pp) and generation (tg) tokens/s of the project's backend
vs llama.cpp's own llama-bench, same GGUF, same thread count, in one run.

    python benchmarks/raw_speed.py [--model gemma3-270m] [--pp 512] [--tg 128] [--reps 3]

llama-bench is built from the llama.cpp sources vendored in the llama-cpp-python sdist of
the installed version (benchmarks/llamacpp_tools.py; first run builds it, ~5-10 min).
Ratio = project tok/s / llama-bench tok/s, the lower of pp and tg (goal ≥ 0.90).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time

from common import dev_documents, report
from llamacpp_tools import tool

from summarize import models
from summarize.backends.base import GenSettings
from summarize.gguf import read_gguf
from summarize.backends import native
from summarize.backends.llama_cpp import LlamaCppBackend
from summarize.prompts import Prompt


def llama_bench(path: str, threads: int, pp: int, tg: int, reps: int) -> dict[str, float]:
    out = subprocess.run([str(tool("llama-bench")), "-m", path, "-t", str(threads), "-p", str(pp), "-n", str(tg),
                          "-r", str(reps), "-o", "json",
                          *native.llama_bench_args()], capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    return {"pp": next(r["avg_ts"] for r in rows if r["n_prompt"] == pp and r["n_gen"] == 0),
            "tg": next(r["avg_ts"] for r in rows if r["n_gen"] == tg and r["n_prompt"] == 0)}


def project(path: str, threads: int, pp: int, tg: int, reps: int) -> dict[str, float]:
    backend = LlamaCppBackend(read_gguf(path), n_threads=threads)
    backend.ensure_loaded(pp + tg + 64)
    texts = [d["document"] for d in dev_documents(reps + 1)]
    pp_rates, tg_rates = [], []
    for i in range(reps):
        ids = backend.tokenizer.tokenize(texts[i].encode(), add_bos=False)[: pp - 1]
        prompt = Prompt(text=backend.tokenizer.detokenize(ids).decode("utf-8", "ignore"), stop=())
        gen = backend.generate(prompt, GenSettings(max_tokens=1))  # distinct texts: no prefix reuse
        pp_rates.append(gen.tokens_in / gen.seconds)
        backend._llm.reset()
        start = time.perf_counter()
        gen = backend.generate(Prompt(text="Il était une fois", stop=()),
                               GenSettings(max_tokens=tg, repeat_penalty=1.0, seed=i))
        tg_rates.append(gen.tokens_out / (time.perf_counter() - start - gen.tokens_in / pp_rates[-1]))
    backend.close()
    return {"pp": sum(pp_rates) / reps, "tg": sum(tg_rates) / reps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    path = models.resolve(args.model).path
    threads = LlamaCppBackend(read_gguf(path)).n_threads
    tool("llama-bench")  # build first so the build does not land between the two measurements
    ours, ref = {}, {}
    for _ in range(2):  # interleaved: engine, project, engine, project; best of each
        for k, v in llama_bench(path, threads, args.pp, args.tg, args.reps).items():
            ref[k] = max(ref.get(k, 0.0), v)
        for k, v in project(path, threads, args.pp, args.tg, args.reps).items():
            ours[k] = max(ours.get(k, 0.0), v)
    ratios = {k: ours[k] / ref[k] for k in ("pp", "tg")}
    report("raw_speed", min(ratios.values()), ">= 0.90", model=args.model, threads=threads,
           project_tps={k: round(v, 1) for k, v in ours.items()},
           llama_bench_tps={k: round(v, 1) for k, v in ref.items()},
           ratios={k: round(v, 3) for k, v in ratios.items()})


if __name__ == "__main__":
    main()
