"""First-use probe: a crash of the native library becomes one clear line (issue 19).

A segfault inside llama.cpp kills the process before Python can say anything: the user sees
``Segmentation fault`` and nothing else. So the first time a model file is used with a
given llama-cpp-python, CPU and load policy, a child process loads it and decodes a prompt
and a few tokens the way the product does (``python -m summarize.backends.probe PATH``).
If the child dies of a signal, the parent raises a ModelError naming the model, the signal,
the CPU features and what to try; if it succeeds, that is remembered in the model cache
(``probes.json``: one small file per machine, shared by every summary cache), so the cost —
about one model load, ~1 s for the embedded model — is paid once per machine, not per run.
Failures are never remembered: the user may change the setting and try again.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Sequence

from ..errors import ModelError
from . import native

ENV = "SUMMARIZE_PROBE"  # "off" skips the probe (the load then runs unguarded)
PROMPT = ("Document :\n<<<\nLe conseil municipal a voté mardi soir le budget de la ville pour l'année "
          "prochaine, après trois heures de débat. La majorité a défendu la hausse des crédits "
          "consacrés aux écoles et aux transports, l'opposition a dénoncé l'augmentation de la dette.\n"
          ">>>\n\nRésumé court :")


def store_path() -> Path:
    from ..paths import model_cache_dir

    return model_cache_dir() / "probes.json"


def probe_key(path: str, chosen: native.Policy, n_gpu_layers: int) -> str:
    """The model file (by identity, not contents: hashing 4 GB would cost more than the probe),
    the native library's version, the CPU's features and the load settings."""
    st = os.stat(path)
    try:
        lib = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        lib = "?"
    parts = [os.path.realpath(path), str(st.st_size), str(st.st_mtime_ns), lib,
             " ".join(sorted(native.cpu_flags())), f"extra_bufts={chosen.extra_bufts}", f"gpu={n_gpu_layers}"]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _load(store: Path) -> dict:
    try:
        return json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remember(store: Path, key: str, entry: dict) -> None:
    """Atomic: several processes (Ray actors) may probe at once; the last write wins, and any
    write holds every earlier key it read."""
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        records = _load(store)
        records[key] = entry
        tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, store)
    except OSError:
        pass  # an unwritable cache only means probing again next time


def check(path: str, *, name: str | None = None, n_gpu_layers: int = 0, chosen: native.Policy | None = None,
          command: Sequence[str] | None = None, timeout: float = 300) -> bool:
    """Probe ``path`` once in a child unless it is already known to run here. Returns True when
    a child ran. Raises ModelError when the child was killed by a signal (the crash the
    in-process load would have died of)."""
    if os.environ.get(ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return False
    chosen = chosen or native.policy()
    store = store_path()
    key = probe_key(path, chosen, n_gpu_layers)
    if _load(store).get(key, {}).get("ok"):
        return False
    cmd = list(command) if command is not None else [sys.executable, "-m", "summarize.backends.probe", path,
                                                      "--gpu-layers", str(n_gpu_layers)]
    # The child applies exactly this policy (an explicit setting, not its own reading of "auto").
    env = {**os.environ, native.ENV: "on" if chosen.extra_bufts else "off", ENV: "off"}
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True  # slow is not a crash: the real load goes on
    if done.returncode < 0:
        try:
            sig = signal.Signals(-done.returncode).name
        except ValueError:
            sig = f"signal {-done.returncode}"
        raise ModelError(
            f"llama.cpp crashed ({sig}) when {name or 'this model'} first ran on this CPU — {native.describe()}",
            path=path,
            hint=f"try {native.ENV}={'off' if chosen.extra_bufts else 'on'} or another model; "
                 "report it with the output of `summarize models`")
    if done.returncode == 0:
        _remember(store, key, {"ok": True, "seconds": round(time.perf_counter() - start, 2),
                               "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": os.path.basename(path),
                               "policy": chosen.reason})
    # A non-zero exit is a Python-level failure (corrupt file, no memory...): the in-process
    # load reports it with its own message.
    return True


def main(argv: list[str] | None = None) -> int:
    """The child: load as the product does and decode a prompt (batched) then single tokens."""
    import argparse

    from ..gguf import read_gguf
    from .base import GenSettings
    from .llama_cpp import LlamaCppBackend
    from ..prompts import Prompt

    ap = argparse.ArgumentParser(prog="python -m summarize.backends.probe")
    ap.add_argument("path")
    ap.add_argument("--gpu-layers", type=int, default=0)
    args = ap.parse_args(argv)
    os.environ[ENV] = "off"  # never probe from the probe
    backend = LlamaCppBackend(read_gguf(args.path), gpu_layers=args.gpu_layers)
    try:
        backend.generate(Prompt(text=PROMPT, stop=()), GenSettings(max_tokens=4, repeat_penalty=1.0))
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
