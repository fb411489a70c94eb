"""Machine-wide CPU slots: summarize processes take turns on the cores instead of thrashing.

Why (issue 12, measured in docs/BENCHMARKS.md): llama.cpp's worker threads meet at a barrier
after every operation of the graph, hundreds of times per token, and wait there by spinning.
When more threads are busy than there are cores, a thread spins for a peer that is not
scheduled, and generation falls up to 70x. Two remedies, both here:

* **Slots.** One lock file per physical core (``flock``, per user, in the temp dir). Each
  decoding step (one ``llama_decode``: a prompt batch or one token for every sequence) runs
  as many threads as it holds slots, and gives them back when it is done. It takes the free
  slots, up to the threads it wants, and waits only when none is free, for one slot, never
  holding some while waiting for more (so no two processes wait on each other in a cycle).
  Two summarize processes then share the cores step by step instead of thrashing; one-thread
  processes (Ray actors) run side by side, and one left alone takes every core again at its
  next step. The kernel releases the locks of a killed holder.
* **Threads from the free cores.** Over rolling windows of WINDOW seconds, the CPU time the
  rest of the machine used (busy time in /proc/stat minus this process's own) says how many
  cores other work takes (a CPU hog, ollama, another llama.cpp, another summarize); the next
  steps want only the cores left, so our threads never spin against a process they cannot
  see. A load must show in two windows in a row to cost a thread. A user's ``--threads``
  is kept as is: such a step waits for that many slots, in index order.

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
WINDOW = 0.25  # seconds of wall time over which the foreign load is measured (many decoding steps)
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
        self.foreign: float | None = None  # the foreign load the thread count follows, in cores
        self._last: float | None = None  # the last window's own measure
        self.meter = Meter()  # the first window: from start-up (model load) to the first step
        self.waited = 0.0  # seconds spent waiting for slots (reported by benchmarks)
        self._dir: Path | None = None

    def threads(self) -> int:
        if self.fixed or self.foreign is None:
            return self.ceiling
        return threads_for(self.cores, self.foreign, self.ceiling)

    @contextlib.contextmanager
    def hold(self) -> Iterator[int]:
        """Hold slots for one decoding step (one llama_decode); yields the number of threads to run."""
        if not self.enabled:
            yield self.ceiling
            return
        if self.foreign is None:
            self._measure(MIN_WINDOW)  # the start-up window (model load): what else runs right now
        want = min(self.threads(), self.slots)
        fds = self._acquire(want) if self.fixed else self._acquire_free(want)
        try:
            yield self.ceiling if self.fixed else len(fds)
        finally:
            for fd in fds:
                os.close(fd)  # closing releases the flock
            self._measure(WINDOW)

    def _measure(self, window: float) -> None:
        """Update the foreign load once the current window is long enough, then start a new one."""
        if self.meter.elapsed() < window:
            return
        value = self.meter.foreign()
        if value is not None:
            # Fewer threads only when two windows in a row saw the load, more as soon as one sees
            # the cores free: a burst of a quarter second (a disk flush, a daemon waking) would
            # otherwise change the thread count, and llama.cpp's results depend on it. The first
            # window (the model load) counts alone: a hog already there is met at once.
            self.foreign = value if self._last is None else min(value, self._last)
            self._last = value
        self.meter.start()

    def _open(self, index: int) -> int:
        if self._dir is None:
            self._dir = slot_dir()
        return os.open(self._dir / f"core{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def _try(self, index: int) -> int | None:
        """Slot ``index`` if it is free (its open fd), else None."""
        fd = self._open(index)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            os.close(fd)
            return None

    def _take_free(self, order: list[int], want: int, fds: list[int]) -> list[int]:
        for index in order:
            if len(fds) >= want:
                break
            fd = self._try(index)
            if fd is not None:
                fds.append(fd)
        return fds

    def _acquire_free(self, want: int) -> list[int]:
        """Up to ``want`` of the free slots, without waiting while one is free; when none is, wait
        for one (each process on its own, so waiters spread over the cores). It never holds some
        slots while waiting for more, so no two waiters block each other in a cycle."""
        first = os.getpid() % self.slots
        order = [(first + i) % self.slots for i in range(self.slots)]
        fds = self._take_free(order, want, [])
        if fds:
            return fds
        start = time.monotonic()
        fd = self._open(first)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.waited += time.monotonic() - start
        return self._take_free(order[1:], want, [fd])  # and what else freed up meanwhile

    def _acquire(self, want: int) -> list[int]:
        """Exactly ``want`` slots (a user's --threads): free ones, else wait for the first
        ``want`` in index order, so two waiters never block each other in a cycle."""
        fds = self._take_free(list(range(self.slots)), want, [])
        if len(fds) == want:
            return fds
        for fd in fds:
            os.close(fd)
        start = time.monotonic()
        fds = []
        for index in range(want):
            fd = self._open(index)
            fcntl.flock(fd, fcntl.LOCK_EX)
            fds.append(fd)
        self.waited += time.monotonic() - start
        return fds
