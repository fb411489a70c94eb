"""The batch journal and its files: manifest lines appended whole, outputs written atomically.

Shared by the batch job and the corpus synthesis (neither imports the other for it). The
crash hooks let the crash tests kill the process at the exact points that matter.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

MANIFEST = "manifest.jsonl"
CRASH_ENV = "SUMMARIZE_CRASH_AT"  # fault injection for the crash tests: "point:n"


def line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def append_row(manifest: Path, row: dict[str, Any]) -> None:
    """One journal line. fsync'ed only for newly computed summaries: a cached or failed
    document costs nothing to redo, and the cache, not the journal, keeps finished work."""
    data = line(row).encode("utf-8")
    fd = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if crash_due("mid-manifest"):
            os.write(fd, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        os.write(fd, data)  # one write() of a whole line: concurrent appenders never interleave
        if row.get("status") == "ok":
            os.fsync(fd)
    finally:
        os.close(fd)


def repair_journal(manifest: Path) -> int:
    """Cut a partial last line left by a kill mid-append; returns the bytes removed."""
    try:
        with open(manifest, "rb+") as fh:
            data = fh.read()
            if not data or data.endswith(b"\n"):
                return 0
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            return len(data) - keep
    except FileNotFoundError:
        return 0


def read_manifest(manifest: Path) -> list[dict[str, Any]]:
    """Rows of a manifest, the last one per path winning; unparsable lines are skipped."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        lines = manifest.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    for raw in lines:
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("path"), str):
            rows.pop(row["path"], None)
            rows[row["path"]] = row
    return list(rows.values())


def write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    atomic_write(path, data)


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        crashpoint("mid-output")
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable (power loss), where the OS allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


_CRASH_COUNTS: dict[str, int] = {}


def crash_due(name: str) -> bool:
    """True at the n-th pass through ``name`` when $SUMMARIZE_CRASH_AT is "name:n"."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return False
    point, _, nth = spec.partition(":")
    if point != name:
        return False
    _CRASH_COUNTS[name] = _CRASH_COUNTS.get(name, 0) + 1
    return _CRASH_COUNTS[name] == int(nth or 1)


def crashpoint(name: str) -> None:
    if crash_due(name):
        os.kill(os.getpid(), signal.SIGKILL)
