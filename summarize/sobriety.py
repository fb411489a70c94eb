"""Sobriety report: what a run cost (tokens, CPU time, estimated energy) and what the cache saved.

CPU seconds come from the kernel's accounting of this process (getrusage), not wall time,
so other programs sharing the machine do not inflate the bill. Energy is an estimate:

    energy_Wh = watts × (cpu_seconds / cores) / 3600

``watts`` is the power of the CPU package when all its cores are busy. The default, 20 W,
is the middle of the sustained package power of current laptop CPUs (Intel/AMD U- and
P-series run at 15–28 W, an Apple M-series CPU cluster at about 15–20 W under all-core
load), the machine this tool targets. ``cpu_seconds / cores`` converts core-seconds into
"whole package busy" seconds. Change it with ``--watts`` or $SUMMARIZE_WATTS (a desktop is
65–125 W, a server socket 150–350 W). Where the kernel exposes Intel RAPL counters and they
are readable, the measured package energy is reported next to the estimate.
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_WATTS = 20.0
WATTS_ENV = "SUMMARIZE_WATTS"
RAPL_ROOT = Path("/sys/class/powercap")


def default_watts() -> float:
    try:
        value = float(os.environ.get(WATTS_ENV, DEFAULT_WATTS))
    except ValueError:
        return DEFAULT_WATTS
    return value if value > 0 else DEFAULT_WATTS


def usable_cores() -> int:
    """Cores this process may run on: physical cores, capped by the CPU affinity (containers)."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except Exception:  # pragma: no cover - psutil is a dependency; never fail a report on it
        physical = os.cpu_count() or 1
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        allowed = physical
    return max(1, min(physical, allowed))


def cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def energy_wh(cpu_s: float, watts: float, cores: int) -> float:
    return watts * (cpu_s / max(1, cores)) / 3600.0


def rapl_microjoules(root: Path = RAPL_ROOT) -> int | None:
    """Sum of the CPU package energy counters, or None where RAPL is absent or unreadable."""
    total, found = 0, False
    try:
        zones = sorted(root.glob("intel-rapl:*"))
    except OSError:
        return None
    for zone in zones:
        if zone.name.count(":") != 1:  # sub-zones (core, uncore, dram) are inside the package
            continue
        try:
            total += int((zone / "energy_uj").read_text().strip())
            found = True
        except (OSError, ValueError):
            return None
    return total if found else None


@dataclass
class Saved:
    """What cache hits avoided recomputing (the cost recorded when the summary was first made)."""

    documents: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    energy_wh: float = 0.0


@dataclass
class Report:
    documents: int = 0
    ok: int = 0
    cached: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cores: int = 1
    watts: float = DEFAULT_WATTS
    energy_wh: float = 0.0
    measured_energy_wh: float | None = None
    energy_method: str = "estimate: watts × cpu_seconds / cores / 3600"
    saved: Saved = field(default_factory=Saved)
    interrupted: bool = False
    # The time to start: from the command to the first model ready to decode (the plan, Ray's
    # actor pool, the weights); None when nothing was decoded. The rest of the wall time is the
    # documents'. Set by the batch job, which knows when its model became ready.
    start_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("wall_seconds", "cpu_seconds"):
            data[key] = round(data[key], 3)
        data["energy_wh"] = round(self.energy_wh, 5)
        data["saved"]["seconds"] = round(self.saved.seconds, 3)
        data["saved"]["energy_wh"] = round(self.saved.energy_wh, 5)
        return data


class Meter:
    """Starts counting at construction; ``add_*`` per document; ``report()`` at the end."""

    def __init__(self, watts: float | None = None) -> None:
        self.watts = default_watts() if watts is None else float(watts)
        if self.watts <= 0:
            raise ValueError("watts must be positive")
        self.cores = usable_cores()
        self.started = time.perf_counter()
        self.cpu0 = cpu_seconds()
        self.rapl0 = rapl_microjoules()
        self.report_ = Report(cores=self.cores, watts=self.watts)
        self.worker_cpu = 0.0

    def add_computed(self, tokens_in: int, tokens_out: int) -> None:
        self.report_.documents += 1
        self.report_.ok += 1
        self.report_.tokens_in += tokens_in
        self.report_.tokens_out += tokens_out

    def add_cached(self, tokens_in: int, tokens_out: int, seconds: float, cpu_s: float | None = None) -> None:
        self.report_.documents += 1
        self.report_.cached += 1
        saved = self.report_.saved
        saved.documents += 1
        saved.tokens_in += tokens_in
        saved.tokens_out += tokens_out
        saved.seconds += seconds
        if cpu_s is not None:  # the CPU time the first computation took, recorded by the batch
            saved.energy_wh += energy_wh(cpu_s, self.watts, self.cores)
        else:  # upper bound: llama.cpp kept every core busy for the `seconds` it took
            saved.energy_wh += self.watts * seconds / 3600.0

    def add_error(self) -> None:
        self.report_.documents += 1
        self.report_.errors += 1

    def add_worker_cpu(self, seconds: float) -> None:
        """CPU time spent in other processes for this run (Ray actors): counted with this one's."""
        self.worker_cpu += max(0.0, seconds)

    def add_tokens(self, tokens_in: int, tokens_out: int) -> None:
        """Tokens spent outside per-document summaries (the corpus synthesis)."""
        self.report_.tokens_in += tokens_in
        self.report_.tokens_out += tokens_out

    def report(self, interrupted: bool = False) -> Report:
        r = self.report_
        r.interrupted = interrupted
        r.wall_seconds = time.perf_counter() - self.started
        r.cpu_seconds = max(0.0, cpu_seconds() - self.cpu0) + self.worker_cpu
        r.energy_wh = energy_wh(r.cpu_seconds, self.watts, self.cores)
        end = rapl_microjoules()
        if self.rapl0 is not None and end is not None and end >= self.rapl0:
            r.measured_energy_wh = round((end - self.rapl0) / 3.6e9, 5)
        return r
