"""Contention: the project's throughput when the CPU is shared, as a ratio to the project alone
in the same run (issue 12).

    python benchmarks/contention.py [--window 15] [--docs 40] [--only gen|batch] [--slots-on-only]

Decoding configurations (a worker loads the default model, then generates fixed-size summaries
of OrangeSum dev articles — 200-token prompts, 48 new tokens — for `--window` seconds; all
workers of a configuration start at the same instant):
  alone                  one worker
  two                    two workers at once (two unrelated single runs)
  beside llama.cpp       one worker and a plain llama-cpp-python generation loop (2 threads, no slots)
  beside a CPU hog       one worker and a Python busy loop at normal priority
Batch configurations: `summarize batch` of `--docs` documents, one process vs two processes on one
cache (leases split the work). Each contended configuration runs with the CPU slots on (the
default), off (SUMMARIZE_CPU_SLOTS=off: the behaviour before issue 12), and off with
OMP_WAIT_POLICY=PASSIVE (llama.cpp's OpenMP threads sleep at barriers instead of spinning).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, dev_documents, report

HERE = Path(__file__).resolve()
ON: dict[str, str] = {}
OFF = {"SUMMARIZE_CPU_SLOTS": "off"}
PASSIVE = {"SUMMARIZE_CPU_SLOTS": "off", "OMP_WAIT_POLICY": "PASSIVE"}


# -- workers (run as subprocesses of this script) ---------------------------------------------

def _prompts(n: int, tokens: int, tokenizer) -> list[str]:
    out = []
    for row in dev_documents(n):
        ids = tokenizer.tokenize(row["document"].encode(), add_bos=False)[:tokens]
        out.append(tokenizer.detokenize(ids).decode("utf-8", "ignore"))
    return out


def worker_gen(start: float, window: float) -> None:
    from summarize import models
    from summarize.backends.base import GenSettings
    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend
    from summarize.prompts import Prompt

    backend = LlamaCppBackend(read_gguf(models.resolve("gemma3-270m").path))
    texts = _prompts(20, 200, backend.tokenizer)
    settings = GenSettings(max_tokens=48, repeat_penalty=1.0)
    time.sleep(max(0.0, start - time.time()))
    t0, calls, tokens, threads = time.monotonic(), 0, 0, []
    while time.monotonic() - t0 < window:
        gen = backend.generate(Prompt(text=texts[calls % len(texts)], stop=()), settings)
        calls, tokens = calls + 1, tokens + gen.tokens_out
        threads.append(backend.slots.threads())
    elapsed = time.monotonic() - t0
    print(json.dumps({"calls_per_s": calls / elapsed, "tokens_per_s": tokens / elapsed, "calls": calls,
                      "threads": sorted(set(threads)), "waited_s": round(backend.slots.waited, 2)}))


def worker_llama() -> None:
    """A foreign llama.cpp process: generates without end, 2 threads, knows nothing of our slots."""
    from summarize import models
    from summarize.backends.native import open_llama

    llm = open_llama(models.resolve("gemma3-270m").path, n_ctx=512, n_threads=2,
                          n_threads_batch=2, verbose=False)
    while True:
        llm.reset()
        for _ in llm.generate(llm.tokenize(b"Il \xc3\xa9tait une fois"), temp=0.0):
            pass


def worker_hog() -> None:
    while True:
        pass


# -- the driver -------------------------------------------------------------------------------

def _spawn(kind: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE), "--worker", kind, *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def gen_config(workers: int, beside: str | None, env: dict[str, str], window: float) -> list[dict]:
    start = time.time() + 4.0  # every worker has loaded its model by then
    side = _spawn(beside, env) if beside else None
    procs = [_spawn("gen", env, "--start", str(start), "--window", str(window)) for _ in range(workers)]
    try:
        return [json.loads(p.communicate(timeout=window * 20 + 60)[0].strip().splitlines()[-1]) for p in procs]
    finally:
        if side is not None:
            _stop(side)


def batch_config(corpus: Path, workers: int, env: dict[str, str], limit: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="contention-"))
    cmd = [sys.executable, "-m", "summarize", "batch", str(corpus), "--length", "short", "--no-synthese",
           "--format", "json", "--cache-dir", str(tmp / "cache")]
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd + ["--out", str(tmp / f"out{i}")], env={**os.environ, **env}, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for i in range(workers)]
    counts, finished = [], True
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(1.0, limit - (time.monotonic() - t0)))
            if p.returncode == 0 and out.strip():
                counts.append(json.loads(out)["counts"])
            else:
                finished = False  # stopped with the other one, or failed: no report to read
        except subprocess.TimeoutExpired:
            finished = False
            _stop(p)
    wall = time.monotonic() - t0
    return {"wall_s": round(wall, 1), "finished": finished, "computed": sum(c["ok"] for c in counts),
            "counts": counts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=("gen", "llama", "hog"))
    ap.add_argument("--start", type=float, default=0.0)
    ap.add_argument("--window", type=float, default=15.0)
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--only", choices=("gen", "batch"))
    ap.add_argument("--slots-on-only", action="store_true", help="batch: skip the slow slots-off baseline")
    args = ap.parse_args()
    if args.worker == "gen":
        return worker_gen(args.start, args.window)
    if args.worker == "llama":
        return worker_llama()
    if args.worker == "hog":
        return worker_hog()

    results: dict[str, object] = {}
    ratios: dict[str, float] = {}
    if args.only in (None, "gen"):
        alone = gen_config(1, None, ON, args.window)[0]
        results["gen alone"] = alone
        results["gen alone, PASSIVE"] = gen_config(1, None, PASSIVE, args.window)[0]
        ratios["gen alone, PASSIVE"] = results["gen alone, PASSIVE"]["calls_per_s"] / alone["calls_per_s"]
        for label, env in (("slots on", ON), ("slots off", OFF), ("slots off, PASSIVE", PASSIVE)):
            for name, workers, beside in (("two", 2, None), ("beside llama.cpp", 1, "llama"),
                                          ("beside a CPU hog", 1, "hog")):
                rows = gen_config(workers, beside, env, args.window)
                key = f"gen {name} [{label}]"
                results[key] = rows
                ratios[key] = min(r["calls_per_s"] for r in rows) / alone["calls_per_s"]
                print(f"{key}: {ratios[key]:.3f}", file=sys.stderr, flush=True)
    if args.only in (None, "batch"):
        corpus = Path(tempfile.mkdtemp(prefix="contention-corpus-"))
        for i, row in enumerate(dev_documents(args.docs)):
            (corpus / f"doc{i:03d}.txt").write_text(row["document"], encoding="utf-8")
        alone = batch_config(corpus, 1, ON, 3600)
        results["batch alone"] = alone
        for label, env in (("slots on", ON), ("slots off", OFF))[: 1 if args.slots_on_only else 2]:
            key = f"batch two on one cache [{label}]"
            results[key] = batch_config(corpus, 2, env, 3 * alone["wall_s"])
            ratios[key] = results[key]["wall_s"] / alone["wall_s"]  # time ratio: lower is better
            print(f"{key}: {ratios[key]:.3f} x the time alone", file=sys.stderr, flush=True)
    worst = min(v for k, v in ratios.items() if k.startswith("gen") and "[slots on]" in k) \
        if any("[slots on]" in k and k.startswith("gen") for k in ratios) else 0.0
    report("contention", worst, ">= 0.4 of alone speed per process (gen); batch two <= 1.1x time",
           ratios={k: round(v, 3) for k, v in ratios.items()}, results=results)


if __name__ == "__main__":
    main()
