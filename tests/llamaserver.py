"""A real OpenAI-compatible server for the remote tests: llama-cpp-python's own server (the
pinned llama-cpp-python, launched through ``python -m summarize.backends.llama_server`` so its
weights load under the project's CPU policy: no AMX crash) running the embedded Gemma 3
270M on 127.0.0.1, on a free port, with a bearer key. Started when a test needs it, killed
by its PID afterwards. Like every model run, the tests using it run under the CPU lock."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .fakeserver import free_port

KEY = "sk-summarize-test-" + secrets.token_hex(12)


@dataclass
class RealServer:
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def start(model_path: str, log: Path, *, n_ctx: int = 4096, timeout: float = 120,
          env: dict[str, str] | None = None) -> RealServer:
    port = free_port()
    cmd = [sys.executable, "-m", "summarize.backends.llama_server", "--model", model_path, "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "2", "--n_threads_batch", "2",
           "--api_key", KEY, "--interrupt_requests", "False", "--seed", "42"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    server = RealServer(port, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # ready when it lists its model (to a client with the key)
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
        request = urllib.request.Request(server.url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if json.load(resp).get("data"):
                    return server
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("llama_cpp.server did not become ready")
