"""Terminal presentation helpers: live streaming with a final rewrite, progress, tables."""
from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Callable, TextIO


class StreamPrinter:
    """Streams model text live on a terminal, then replaces it with the final (guarded,
    typeset) summary if that differs. When stdout is not a terminal, prints only the final
    text, so pipes and files never receive a rejected draft."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.shown = ""

    def __call__(self, piece: str) -> None:
        if self.live:
            self.stream.write(piece)
            self.stream.flush()
            self.shown += piece

    def finish(self, final: str) -> None:
        if self.live and self.shown:
            if self.shown.strip() == final.strip():
                self.stream.write("\n")
                return
            width = max(20, shutil.get_terminal_size().columns)
            rows = sum(max(1, -(-len(line) // width)) for line in self.shown.split("\n"))
            self.stream.write("\r" + ("\x1b[1A" * (rows - 1)) + "\x1b[J")
        self.stream.write(final + "\n")
        self.stream.flush()


def time_left(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left in a chunked stage at the pace of the chunks done (None before the first,
    or once all are done): the terminal's status line and the web page show the same figure."""
    return elapsed / done * (total - done) if 0 < done < total else None


class StageProgress:
    """One status line on stderr for long documents: chunk i/n, tokens/s, time left."""

    def __init__(self, tokens: Callable[[], int] | None = None) -> None:
        self.enabled = sys.stderr.isatty()
        self.tokens = tokens
        self.start = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        line = f"{stage} {done}/{total} · {elapsed:.0f} s"
        if self.tokens is not None and elapsed > 0:
            line += f" · {self.tokens() / elapsed:.0f} tok/s"
        left = time_left(elapsed, done, total)
        if left is not None:
            line += f" · ~{left:.0f} s left"
        sys.stderr.write(f"\r\x1b[K{line}" if done < total else "\r\x1b[K")
        sys.stderr.flush()
