"""Machine-wide CPU slots: summarize processes take turns on the cores instead of thrashing.

Why (issue 12, measured in docs/BENCHMARKS.md): llama.cpp's worker threads meet at a barrier
after every operation of the graph, hundreds of times per token, and wait there by spinning.
When more threads are busy than there are cores, a thread spins for a peer that is not
scheduled, and generation falls up to 70x. Two remedies, both here:

* **Slots.** One lock file per physical core (``flock``, per user, in the temp dir). A decoding
  step takes as many as it runs threads, always in index order (so two processes never wait on
  each other in a cycle), and gives them back when the step is done. Two summarize processes
  then alternate step by step instead of thrashing; several one-thread processes (Ray actors)
  run side by side. The kernel releases the locks of a killed holder.
* **Threads from the free cores.** During each step, the CPU time the rest of the machine
  used (busy time in /proc/stat minus this process's own) says how many cores a foreign load
  (a CPU hog, ollama, another llama.cpp) takes; the next step runs on the cores left, so our
  threads never spin against a process they cannot see. A user's ``--threads`` is kept as is.

``SUMMARIZE_CPU_SLOTS=off`` disables both (to measure the collapse they prevent).
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no slots, threads from the cores alone
    fcntl = None  # type: ignore[assignment]

MIN_WINDOW = 0.05  # seconds: shorter windows are below /proc/stat's 10 ms resolution
SPARE = 0.3  # a foreign load under 0.3 core (daemons, the terminal) does not cost a thread


def physical_cores() -> int:
    try:
        import psutil

        return max(1, psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except Exception:  # pragma: no cover - psutil is a dependency, but never fail on it
        return max(1, os.cpu_count() or 1)


def usable_cores() -> int:
    """Physical cores this process may run on (containers may pin us to fewer CPUs)."""
    cores = physical_cores()
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores)


def _busy_seconds() -> float | None:
    """Machine-wide busy CPU seconds (all CPUs), or None where /proc/stat is missing."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Cores used by everything but this process over a window of wall time."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.t0, self.own0, self.busy0 = time.monotonic(), time.process_time(), _busy_seconds()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def foreign(self) -> float | None:
        busy = _busy_seconds()
        wall = self.elapsed()
        if busy is None or self.busy0 is None or wall < MIN_WINDOW:
            return None
        return max(0.0, ((busy - self.busy0) - (time.process_time() - self.own0)) / wall)


def threads_for(cores: int, foreign: float, ceiling: int) -> int:
    """Threads to run when ``foreign`` cores of ``cores`` are busy with other work."""
    return max(1, min(ceiling, math.floor(cores - foreign + SPARE)))


def slot_dir() -> Path:
    base = os.environ.get("SUMMARIZE_SLOT_DIR") or os.path.join(tempfile.gettempdir(), f"summarize-{os.getuid()}")
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class CpuSlots:
    """The slots one process takes for each decoding step, and the thread count for it."""

    def __init__(self, threads: int | None = None) -> None:
        self.cores = usable_cores()
        self.slots = physical_cores()  # machine-wide: one lock file per physical core (read once, not per step)
        self.fixed = threads is not None  # the user's --threads wins
        self.ceiling = threads if threads is not None else self.cores
        self.enabled = fcntl is not None and \
            os.environ.get("SUMMARIZE_CPU_SLOTS", "on").lower() not in ("0", "off", "no", "false")
        self.foreign: float | None = None  # last measured foreign load, in cores
        self.meter = Meter()  # the first window: from start-up (model load) to the first step
        self.waited = 0.0  # seconds spent waiting for slots (reported by benchmarks)

    def threads(self) -> int:
        if self.fixed or self.foreign is None:
            return self.ceiling
        return threads_for(self.cores, self.foreign, self.ceiling)

    def _measure(self) -> None:
        value = self.meter.foreign()
        if value is not None:
            self.foreign = value

    @contextlib.contextmanager
    def hold(self) -> Iterator[int]:
        """Hold slots for one decoding step; yields the number of threads to run."""
        if not self.enabled:
            yield self.ceiling
            return
        initial = self.meter.foreign() if self.foreign is None else None  # start-up (model load) window
        known = self.foreign if self.foreign is not None else initial
        guess = self.ceiling if self.fixed or known is None else threads_for(self.cores, known, self.ceiling)
        fds, blocked = self._acquire(min(guess, self.slots))
        try:
            if self.foreign is None:
                if initial is not None and not blocked:
                    self.foreign = initial
                else:  # no clean window yet (we waited for another process): a short one now
                    self.meter.start()
                    time.sleep(MIN_WINDOW)
                    self._measure()
                for fd in fds[self.threads():]:
                    os.close(fd)
                fds = fds[: self.threads()]
            self.meter.start()
            yield self.ceiling if self.fixed else len(fds)
            self._measure()  # during our own step other summarize processes wait: what is busy is foreign
        finally:
            for fd in fds:
                os.close(fd)  # closing releases the flock

    def _acquire(self, want: int) -> tuple[list[int], bool]:
        """``want`` slot locks (open fds), and whether we had to wait for them."""
        directory = slot_dir()
        paths = [directory / f"core{i}.lock" for i in range(self.slots)]
        start = time.monotonic()
        fds: list[int] = []
        # Fast path: any free slots, without waiting.
        for path in paths:
            if len(fds) == want:
                break
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fds.append(fd)
            except OSError:
                os.close(fd)
        if len(fds) < want:
            for fd in fds:
                os.close(fd)
            fds = []
            for path in paths[:want]:  # block, in index order: no cycle between waiters
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                fds.append(fd)
            self.waited += time.monotonic() - start
            return fds, True
        return fds, False
