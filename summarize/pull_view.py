"""Terminal view of `models pull`: a rich bar with bytes, speed and ETA on stderr.

Only on a terminal: in a pipe or a log the pull stays silent until its one result line,
so scripts read the installed path on stdout and at most one error line on stderr.
"""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)


class RichPull:
    """transfer.Progress drawn with rich; one bar per phase (download, then the sha256 check)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.task: Any = None

    def start(self, label: str, total: int | None, done: int) -> None:
        # A fresh bar per phase; a resumed download starts at `done` (given, not advanced, so the
        # speed and ETA count only the bytes of this run).
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), console=self.console,
                                 disable=not self.console.is_terminal)
        self.task = self.progress.add_task(label, total=total, completed=done)
        self.progress.start()

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
