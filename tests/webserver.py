"""A real `summarize serve` process for the web tests: started as a user would, on a free port of
127.0.0.1, with its own temp folder (TMPDIR), cache and home, stopped with SIGTERM."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .conftest import ROOT

URL = re.compile(r"summarize serve: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def threads() -> str:
    """A fixed thread count for the server and the CLI it is compared with: llama.cpp's results
    depend on it (README, "Deterministic by default"), and by default it follows the free cores.
    One thread: a fixed count does not give way to a foreign load, and with two, the browser
    repainting the streamed text on the same two cores (and the machine's other work) left
    llama.cpp's threads spinning at their barriers (the collapse cpuslot.py describes): seed 001
    at short length took 61.5 s in the page with 2 threads, 5.6 s with 1 (docs/screenshot.py)."""
    return "1"


@dataclass
class Server:
    proc: subprocess.Popen
    url: str  # with the token
    port: int
    token: str
    tmp: Path  # the server's TMPDIR: its private folder is made inside
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cookie(self) -> dict[str, str]:
        return {f"summarize_{self.port}": self.token}

    def private(self) -> Path:
        found = list(self.tmp.glob("summarize-web-*"))
        assert len(found) == 1, found
        return found[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start(root: Path, *args: str, timeout: float = 60) -> Server:
    """``summarize serve --port 0 ARGS`` with TMPDIR, the cache and a models folder (empty) under ``root``."""
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    log = root / "serve.log"
    env = {**os.environ, "TMPDIR": str(tmp), "SUMMARIZE_CACHE_DIR": str(root / "cache"),
           "SUMMARIZE_MODELS_DIR": str(root / "models"), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "summarize", "serve", "--port", "0", *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = URL.search(line)
        if match:
            return Server(proc, match.group(1), int(match.group(2)), match.group(3), tmp, log)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"summarize serve did not start: {line!r}\n{log.read_text(errors='replace')}")


def browser_dir() -> str:
    return tempfile.mkdtemp(prefix="chromium-profile-")
