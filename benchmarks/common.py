"""Shared helpers for the benchmarks: machine facts, data, and the result line."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DEV = Path(os.environ.get("SUMMARIZE_DEV", ROOT.parent / "shared" / "eval" / "orangesum" / "dev.jsonl"))
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    from summarize.backends.llama_cpp import physical_cores

    return {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": commit, "cpu": cpu,
            "cores": os.cpu_count(), "threads": physical_cores(), "python": platform.python_version()}


def dev_documents(limit: int) -> list[dict]:
    with open(DEV, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return rows[:limit]


def report(name: str, ratio: float, goal: str, **figures) -> None:
    """Print figures as JSON, then the ratio alone on the last line."""
    print(json.dumps({"benchmark": name, **machine(), **figures, "ratio": round(ratio, 3), "goal": goal},
                     ensure_ascii=False, indent=2))
    print(f"{name} ratio: {ratio:.3f} (goal {goal})")


def interleaved_rounds(rounds: int, recorder: Any, project: Callable[[], None],
                       reference: Callable[[list], float]) -> tuple[list[float], list[float]]:
    """Each round times ``project()`` (which generates through ``recorder``, a RecordingBackend),
    then ``reference(calls)`` replaying the calls that pass recorded: both sides in the same
    round, so a slower minute of the machine hits both. Returns the two lists of seconds."""
    project_times, reference_times = [], []
    for _ in range(rounds):
        recorder.calls.clear()
        start = time.perf_counter()
        project()
        project_times.append(time.perf_counter() - start)
        reference_times.append(reference(list(recorder.calls)))
    return project_times, reference_times
