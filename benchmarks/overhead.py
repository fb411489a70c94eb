"""Overhead: the project's summarize path vs a bare llama-cpp-python loop, same prompts,
same token counts, same Llama settings, interleaved in one run.

    python benchmarks/overhead.py [--docs 12] [--rounds 2]
    python benchmarks/overhead.py --file seeds/002_81a4195dbaf77c66.txt --length medium --rounds 1

With --file, the one document (e.g. the 57 KB deck, 16 chunks: maps, fusions, retries) is
timed end to end against llama.cpp doing the same prompts and generated tokens: the
long-document goal as a ratio that does not depend on how fast the machine is today.

The project path is Summarizer.summarize_text with no cache (planning, tokenization,
prompt rendering, guards, typography included). Every generate call it makes is recorded
(prompt tokens, tokens produced, decoding settings) and replayed by the bare loop.
Ratio = project seconds / bare seconds (goal ≤ 1.03).
"""
from __future__ import annotations

import argparse
import time

from common import dev_documents, interleaved_rounds, report

from summarize import Summarizer
from summarize.backends import RecordingBackend, open_backend
from summarize.models import resolve


def replay(backend, calls) -> list:
    """(prompt ids, tokens produced, settings) of each recorded generate call."""
    return [(backend.prompt_tokens(c.prompt)[0], c.gen.tokens_out, c.settings) for c in calls]


def bare(llm, calls) -> float:
    """What any program calling llama-cpp-python must do: generate, then detokenize."""
    start = time.perf_counter()
    for ids, n_out, s in calls:
        out = []
        for tok in llm.generate(ids, top_k=s.top_k, top_p=s.top_p, temp=s.temperature,
                                repeat_penalty=s.repeat_penalty, reset=True):
            if len(out) == n_out:
                break
            out.append(tok)
        llm.detokenize(out)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--file", help="one document instead of OrangeSum dev articles")
    ap.add_argument("--length", default="short")
    args = ap.parse_args()
    docs = [d["document"] for d in dev_documents(args.docs + 1)]
    if args.file:
        from summarize.reading.readers import read_document

        docs = [docs[0], read_document(args.file).text]

    backend = open_backend(resolve(args.model))
    rec = RecordingBackend(backend, owns=True)
    s = Summarizer(args.model, length=args.length, use_cache=False, backend=rec)
    s.summarize_text(docs[0])  # warm-up: loads the model
    for text in docs[1:]:  # a first pass records the calls, so the bare context fits the longest one
        s.summarize_text(text)
    from summarize.backends.native import open_llama

    n_ctx = -(-max(len(ids) + n + 1 for ids, n, _ in replay(backend, rec.calls)) // 512) * 512
    raw = open_llama(backend.path, n_ctx=n_ctx, n_threads=backend.n_threads,
                          n_threads_batch=backend.n_threads, n_batch=min(512, n_ctx), n_ubatch=min(512, n_ctx),
                          seed=42, verbose=False)

    def project() -> None:
        for text in docs[1:]:
            s.summarize_text(text)

    project_times, bare_times = interleaved_rounds(args.rounds, rec, project,
                                                   lambda calls: bare(raw, replay(backend, calls)))
    p, b = min(project_times), min(bare_times)
    tokens = sum(len(ids) + n for ids, n, _ in replay(backend, rec.calls))
    report("overhead", p / b, "<= 1.03", file=args.file, length=args.length, docs=len(docs) - 1, generate_calls=len(rec.calls), tokens=tokens,
           project_seconds=[round(t, 2) for t in project_times], bare_seconds=[round(t, 2) for t in bare_times])


if __name__ == "__main__":
    main()
