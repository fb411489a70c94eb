"""Remote overhead: summarize --model http://... vs calling the same server directly with
the same prompts, interleaved in one run (issue 13; goal ≤ 1.05).

    python benchmarks/remote_overhead.py [--docs 8] [--rounds 2]

Starts llama-cpp-python's server (`python -m llama_cpp.server`, the embedded gemma3-270m,
2 threads) on 127.0.0.1. The project path is Summarizer.summarize_text over HTTP with no
cache: probing, token counting on the server, planning, prompt rendering, streaming, guards,
typography. Every generation it makes is recorded (prompt and settings) and replayed by the
direct path: the same streamed /v1/completions requests from a bare httpx client, each
answer read to its end. Ratio = project seconds / direct seconds.
Run it under the CPU lock: flock /tmp/summarize-cpu.lock python benchmarks/remote_overhead.py
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, dev_documents, interleaved_rounds, report

sys.path.insert(0, str(ROOT))
from summarize import Summarizer  # noqa: E402
from summarize.backends import RecordingBackend, open_backend  # noqa: E402
from summarize.models import resolve  # noqa: E402
from tests.llamaserver import KEY, start  # noqa: E402


def direct(url: str, calls: list) -> float:
    """What any program calling the server must do: send each prompt, read the stream."""
    start_time = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600) as client:
        for call in calls:
            s = call.settings
            body = {"prompt": call.prompt.text, "max_tokens": s.max_tokens, "temperature": s.temperature,
                    "top_k": s.top_k, "top_p": s.top_p, "repeat_penalty": s.repeat_penalty, "seed": s.seed,
                    "stop": list(call.prompt.stop), "stream": True}
            with client.stream("POST", "/v1/completions", json=body) as resp:
                for _ in resp.iter_lines():
                    pass
    return time.perf_counter() - start_time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    docs = [d["document"] for d in dev_documents(args.docs + 1)]
    os.environ["SUMMARIZE_API_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp:
        server = start(resolve("gemma3-270m").path, Path(tmp) / "server.log")
        try:
            ref = resolve(server.url)
            rec = RecordingBackend(open_backend(ref), owns=True)
            s = Summarizer(server.url, length="short", use_cache=False, backend=rec)
            s.summarize_text(docs[0])  # warm-up: the server's first prompt, the client's imports
            def project() -> None:
                for text in docs[1:]:
                    s.summarize_text(text)

            project_times, direct_times = interleaved_rounds(args.rounds, rec, project,
                                                             lambda calls: direct(server.url, calls))
            requests = rec.inner.transport.requests
            s.close()
        finally:
            server.kill()
    p, d = min(project_times), min(direct_times)
    tokens = sum(c.gen.tokens_in + c.gen.tokens_out for c in rec.calls)
    report("remote_overhead", p / d, "<= 1.05", docs=len(docs) - 1, generate_calls=len(rec.calls), tokens=tokens,
           http_requests_total=requests, project_seconds=[round(t, 2) for t in project_times],
           direct_seconds=[round(t, 2) for t in direct_times], server="llama_cpp.server 0.3.36, 2 threads")


if __name__ == "__main__":
    main()
