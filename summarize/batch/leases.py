"""Per-document leases so that batch processes sharing one cache split the work.

A lease is an exclusive ``flock`` on a small file in the cache folder, named after the
document's cache key. The kernel drops it when its holder exits, even on SIGKILL, so a
crashed process never leaves a document locked. Where ``fcntl`` is missing (Windows) every
lease is granted: two processes may then compute the same summary, which is only wasted
work, since the cache write is idempotent.
"""
from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Lease:
    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # while still locked: a waiter then notices the file is gone
        except OSError:
            pass
        os.close(self.fd)  # closing drops the lock
        self.fd = None


class Leases:
    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def acquire(self, key: str, *, block: bool) -> Lease | None:
        """The lease on ``key``, or None if another process holds it and ``block`` is False."""
        path = self.dir / f"{key}.lock"
        if fcntl is None:
            return Lease(path, None)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return Lease(path, fd)
            os.close(fd)  # the holder released and removed it meanwhile: lock the current file
