"""Shared fixtures: real embedded models, temporary cache dirs, a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHORT_SEED = SEEDS / "001_188ff14e355e4071.txt"
LONG_SEED = SEEDS / "002_81a4195dbaf77c66.txt"
DEV = ROOT.parent / "shared" / "eval" / "orangesum" / "dev.jsonl"


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def gemma_path() -> str:
    from summarize import models

    return models.resolve("gemma3-270m").path


@pytest.fixture(scope="session")
def smollm_path() -> str:
    from summarize import models

    return models.resolve("smollm2-135m").path


@pytest.fixture(scope="session")
def gemma_backend(gemma_path: str):
    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(read_gguf(gemma_path))
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def smollm_backend(smollm_path: str):
    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(read_gguf(smollm_path))
    yield backend
    backend.close()


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (as a user would)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "summarize", *args], capture_output=True, text=True,
                          env=full_env, input=stdin, timeout=timeout, cwd=ROOT)


@pytest.fixture
def cli(cache_dir: Path):
    def _run(*args: str, **kw):
        env = {"SUMMARIZE_CACHE_DIR": str(cache_dir), **kw.pop("env", {})}
        return run_cli(*args, env=env, **kw)

    return _run


@pytest.fixture(scope="session")
def llama_cpp_server(gemma_path: str, tmp_path_factory):
    """A real llama-cpp-python server running the embedded Gemma on 127.0.0.1 (tests/llamaserver.py)."""
    from .llamaserver import start

    server = start(gemma_path, tmp_path_factory.mktemp("server") / "server.log")
    yield server
    server.kill()


@pytest.fixture(autouse=True)
def _no_allowed_host_leaks():
    """A test that talked to a server allowed its host in the net guard: forget it afterwards."""
    yield
    from summarize import netguard

    netguard.clear_allowed()
