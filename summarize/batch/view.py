"""Terminal view of a batch run: a rich progress bar, one line per failure, final tables.

On a terminal: documents done/total, cache hits, tokens/s and an ETA on stderr. Without a
terminal (cron, CI logs): one plain line per document instead, so logs stay readable.
"""
from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .job import BatchResult, Observer
from .corpus import Item


class RichObserver(Observer):
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}", style="bold"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                                 console=self.console, transient=False, disable=not self.live)
        self.task: Any = None
        self.total = self.done = self.hits = self.tokens = 0
        self.bytes_total = self.bytes_done = self.bytes_computed = 0
        self.compute_seconds = 0.0
        self.started = time.perf_counter()
        self.current = ""
        self.doc_started = time.perf_counter()

    # -- Observer hooks ----------------------------------------------------------
    def start(self, items: list[Item]) -> None:
        self.total = len(items)
        self.started = time.perf_counter()
        self.bytes_total = sum(i.size for i in items)
        self.progress.start()
        self.task = self.progress.add_task("batch", total=self.total, stats=self._stats())

    def doc_start(self, index: int, item: Item) -> None:
        self.current = item.path
        self.doc_started = time.perf_counter()
        self._update(description=_short(item.path))

    def stage(self, stage: str, done: int, total: int) -> None:  # map-reduce of a long document
        self._update(description=_short(f"{stage} {done}/{total} · {os.path.basename(self.current)}"))

    def doc_done(self, index: int, item: Item, row: dict[str, Any]) -> None:
        self.done += 1
        self.bytes_done += item.size
        if row["status"] == "cached":
            self.hits += 1
        elif row["status"] == "ok":
            self.tokens += row["tokens_in"] + row["tokens_out"]
            self.compute_seconds += row["run_seconds"]
            self.bytes_computed += item.size
        if row["status"] == "error":
            self.console.print(f"[red]error[/red] {row['error']}", markup=True, highlight=False, soft_wrap=True)
        elif not self.live:
            self.console.print(f"[{self.done}/{self.total}] {row['status']:<6} {row['path']} "
                               f"({row['run_seconds']:.1f} s)", markup=False, highlight=False, soft_wrap=True)
        if self.task is not None:
            finished = {"description": _short("done")} if self.done >= self.total else {}
            self.progress.update(self.task, completed=self.done, stats=self._stats(), **finished)

    def synth_start(self, count: int) -> None:
        self._update(description=f"synthèse de {count} résumé(s)")

    # -- helpers -----------------------------------------------------------------
    def _update(self, **fields: Any) -> None:
        if self.task is not None:
            self.progress.update(self.task, stats=self._stats(), **fields)

    def _stats(self) -> str:
        speed = self.tokens / self.compute_seconds if self.compute_seconds else 0.0
        elapsed = time.perf_counter() - self.started
        per_min = self.done / elapsed * 60 if elapsed > 0 else 0.0
        return f"hits {self.hits} · {per_min:.0f} docs/min · {speed:.0f} tok/s · ETA {_eta(self)}"

    def stop(self) -> None:
        self.progress.stop()


def _eta(view: RichObserver) -> str:
    """Remaining bytes at the bytes/s of documents actually computed (cache hits are ~free)."""
    remaining = max(0, view.bytes_total - view.bytes_done)
    if view.done >= view.total:
        return "0 s"
    if not view.bytes_computed or not view.compute_seconds:
        return "—"
    # Several workers (--engine ray) compute at once: their summed seconds exceed the wall clock.
    busy = min(view.compute_seconds, time.perf_counter() - view.started)
    seconds = remaining * busy / view.bytes_computed
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _short(path: str, width: int = 36) -> str:
    """Fixed width, so the bar does not jump from one document to the next."""
    return f"{path:<{width}}" if len(path) <= width else "…" + path[-(width - 1) :]


def print_summary(result: BatchResult, console: Console) -> None:
    """The final tables: counts, then the sobriety report."""
    counts = Table(title="Documents", show_header=True)
    for col in ("ok", "cached", "error", "total"):
        counts.add_column(col, justify="right")
    counts.add_row(*(str(result.counts.get(k, 0)) for k in ("ok", "cached", "error")), str(len(result.rows)))
    console.print(counts)
    r = result.report
    cost = Table(title="Sobriety report (this run)", show_header=False)
    cost.add_column("measure")
    cost.add_column("value", justify="right")
    cost.add_row("tokens in / out", f"{r.tokens_in} / {r.tokens_out}")
    start = f", of which {r.start_seconds:.1f} s to start" if r.start_seconds is not None else ""
    cost.add_row("CPU seconds", f"{r.cpu_seconds:.1f} s (wall {r.wall_seconds:.1f} s{start})")
    cost.add_row("energy (estimate)", f"{r.energy_wh:.3f} Wh at {r.watts:g} W for {r.cores} core(s)")
    if r.measured_energy_wh is not None:
        cost.add_row("energy (RAPL, measured)", f"{r.measured_energy_wh:.3f} Wh")
    cost.add_row("saved by the cache", f"{r.saved.documents} doc(s), {r.saved.tokens_in + r.saved.tokens_out} tokens, "
                                       f"{r.saved.seconds:.1f} s, ≈{r.saved.energy_wh:.3f} Wh")
    console.print(cost)
    where = f"summaries, manifest.jsonl and sobriety.json in {result.out}"
    if result.synthesis is not None:
        where += f"; synthesis in {result.synthesis}"
    if result.synthesis_error:
        where += f"; synthesis failed: {result.synthesis_error}"
    if result.interrupted:
        where += " — interrupted: rerun the same command to finish"
    console.print(where, markup=False, highlight=False)
