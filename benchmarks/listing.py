"""How fast `summarize models` lists the GGUF files other tools downloaded (issue 13, part B).

Builds N fake ollama manifests (each pointing at its own small GGUF-magic blob) in a temp dir,
then times discovery.discover() in-process (best of 5, wall and CPU) and the whole
`summarize models --format json` command with and without those entries (same run).
Ratio: CLI time with N entries / CLI time without (goal: the listing itself < 0.5 s for 1,000).

    flock /tmp/summarize-cpu.lock python benchmarks/listing.py --entries 1000
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, report

from summarize import discovery

BLOB = b"GGUF" + b"\0" * 60


def build(root: Path, n: int) -> None:
    for i in range(n):
        digest = f"{i:064x}"
        blob = root / "blobs" / f"sha256-{digest}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(BLOB)
        manifest = root / "manifests" / "registry.ollama.ai" / "library" / f"m{i:05d}" / "latest"
        manifest.parent.mkdir(parents=True)
        manifest.write_text(json.dumps({"layers": [{"mediaType": discovery.OLLAMA_MODEL_LAYER,
                                                    "digest": f"sha256:{digest}", "size": len(BLOB)}]}))


def cli_seconds(env: dict[str, str], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "summarize", "models", "--format", "json"], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        build(tmp_path / "ollama", args.entries)
        base = {**os.environ, "HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(tmp_path / "none"),
                "LLAMA_CACHE": str(tmp_path / "none"), "OLLAMA_MODELS": str(tmp_path / "none"),
                "SUMMARIZE_MODEL_CACHE": os.environ.get("SUMMARIZE_MODEL_CACHE")
                or str(Path.home() / ".cache" / "summarize" / "models")}
        os.environ.update({k: v for k, v in base.items() if k != "OLLAMA_MODELS"},
                          OLLAMA_MODELS=str(tmp_path / "ollama"))
        wall = cpu = float("inf")
        for _ in range(args.reps):
            c, w = time.process_time(), time.perf_counter()
            found = discovery.discover()
            cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
        assert len(found) == args.entries
        without = cli_seconds(base, args.reps)
        with_entries = cli_seconds({**base, "OLLAMA_MODELS": str(tmp_path / "ollama")}, args.reps)
    report("listing", with_entries / without, "discover() < 0.5 s for 1,000 entries", entries=args.entries,
           discover_wall_s=round(wall, 4), discover_cpu_s=round(cpu, 4), cli_without_s=round(without, 3),
           cli_with_s=round(with_entries, 3))


if __name__ == "__main__":
    main()
