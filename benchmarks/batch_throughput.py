"""Batch throughput: documents/minute of `summarize batch` on OrangeSum dev documents vs
llama.cpp's llama-server with 2 parallel slots, fed the same prompts by a small client.

    python benchmarks/batch_throughput.py [--docs 40] [--length short]

The project runs its real batch path (fresh cache: reading, planning, guards, retries,
Markdown, manifest). The server then receives, as token ids, the exact prompts the project
evaluated (recorded at the backend boundary, retries included) with n_predict = the tokens
the project generated for each and ignore_eos, so both sides process the same tokens.
Traffic stays on 127.0.0.1. Ratio = project docs/min ÷ server docs/min (goal ≥ 1.2).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import dev_documents, report
from llamacpp_tools import tool

from summarize.backends import native
from summarize import summarizer as summarizer_mod
from summarize.batch import BatchOptions, run_batch

PORT = 18087


def record_calls() -> list[tuple[list[int], int]]:
    """Patch the Summarizer so every backend.generate call is recorded as (prompt ids, n_out)."""
    calls: list[tuple[list[int], int]] = []
    original = summarizer_mod.Summarizer.backend.fget

    def backend(self):  # type: ignore[no-untyped-def]
        inner = original(self)
        if not getattr(inner, "_recording", False):
            generate = inner.generate

            def recorded(prompt, settings, on_text=None):  # type: ignore[no-untyped-def]
                gen = generate(prompt, settings, on_text)
                calls.append((inner.prompt_tokens(prompt)[0], gen.tokens_out))
                return gen

            inner.generate, inner._recording = recorded, True
        return inner

    summarizer_mod.Summarizer.backend = property(backend)
    return calls


def serve(path: str, threads: int, ctx: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(tool("llama-server")), "-m", path, "-t", str(threads), "-tb", str(threads),
                             "-c", str(2 * ctx), "--parallel", "2", "--host", "127.0.0.1", "--port", str(PORT),
                             "-b", "512", "-ub", "512", *native.llama_server_args()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("llama-server did not start")


def complete(ids: list[int], n_out: int) -> None:
    body = json.dumps({"prompt": ids, "n_predict": max(1, n_out), "temperature": 0, "ignore_eos": True,
                       "cache_prompt": True}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/completion", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        r.read()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--length", default="short")
    ap.add_argument("--model", default="gemma3-270m")
    args = ap.parse_args()
    tool("llama-server")
    calls = record_calls()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        for i, row in enumerate(dev_documents(args.docs)):
            (corpus / f"{row['id']}.txt").write_text(row["document"], encoding="utf-8")
        options = BatchOptions(out=str(Path(tmp, "out")), cache_dir=str(Path(tmp, "cache")), length=args.length,
                               model=args.model)
        start = time.perf_counter()
        result = run_batch([str(corpus)], options)
        project_s = time.perf_counter() - start
        assert result.counts["ok"] == args.docs, result.counts
    from summarize import models
    from summarize.backends.llama_cpp import physical_cores

    path, threads = models.resolve(args.model).path, physical_cores()
    ctx = max(len(ids) + n for ids, n in calls) + 64
    server = serve(path, threads, ctx)
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: complete(*c), calls))
        server_s = time.perf_counter() - start
    finally:
        server.kill()
    ours, theirs = args.docs / project_s * 60, args.docs / server_s * 60
    report("batch_throughput", ours / theirs, ">= 1.2", model=args.model, docs=args.docs, length=args.length,
           generate_calls=len(calls), prompt_tokens=sum(len(i) for i, _ in calls),
           generated_tokens=sum(n for _, n in calls), project_seconds=round(project_s, 1),
           server_seconds=round(server_s, 1), project_docs_per_min=round(ours, 1),
           server_docs_per_min=round(theirs, 1))


if __name__ == "__main__":
    main()
