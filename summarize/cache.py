"""Persistent summary cache: SQLite, versioned schema, keys derived from content.

A key hashes the normalized text, the model file's sha256, the prompt version and the
generation settings, so any change to one of them is a miss and nothing stale is served.
WAL + busy timeout + one short transaction per write let several processes share it.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SummarizeError
from .reading.text import sha256_file

DB_NAME = "summaries.sqlite3"
BUSY_SECONDS = 60  # how long a process waits for another one holding the cache

# Ordered migrations: index i brings the schema from version i to i+1. Append, never edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE summaries (
        key        TEXT PRIMARY KEY,
        stage      TEXT NOT NULL,          -- single | map | reduce | document
        summary    TEXT NOT NULL,
        meta       TEXT NOT NULL,          -- JSON: model, tokens, seconds, method...
        created_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE file_hashes (
        path     TEXT PRIMARY KEY,
        size     INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256   TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE summaries ADD COLUMN hits INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX summaries_stage ON summaries(stage);
    """,
    """
    CREATE TABLE memos (
        key        TEXT PRIMARY KEY,       -- e.g. a server model's identity, so a cached rerun asks nothing
        value      TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def make_key(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")  # total on any str
    return hashlib.sha256(blob).hexdigest()


@dataclass
class CacheEntry:
    summary: str
    meta: dict[str, Any]


class Cache:
    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.path = self.dir / DB_NAME
        deadline = time.monotonic() + BUSY_SECONDS
        for attempt in itertools.count():
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                self._open()
                return
            except sqlite3.OperationalError as exc:
                # Processes opening a new cache together (two batches started at once): switching
                # the new file to WAL is not covered by the busy timeout and fails at once with
                # "database is locked". Retry the whole opening, as the busy timeout would.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise self._cannot_open(exc) from None
                time.sleep(min(0.5, 0.02 * (attempt + 1)))
            except (OSError, sqlite3.Error) as exc:
                raise self._cannot_open(exc) from None

    def _open(self) -> None:
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self.db = db
            self.migrate()
        except BaseException:
            db.close()
            raise

    def _cannot_open(self, exc: BaseException) -> SummarizeError:
        return SummarizeError(f"cannot open the cache ({exc})", path=str(self.dir),
                              hint="pass --cache-dir to a writable folder, or use --no-cache")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        if self.version > SCHEMA_VERSION:
            raise SummarizeError(f"cache schema {self.version} is newer than this summarize ({SCHEMA_VERSION})",
                                 path=str(self.path), hint="upgrade summarize or use another --cache-dir")
        if self.version == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")  # one migrator at a time across processes
        try:
            for index in range(self.version, SCHEMA_VERSION):  # re-read: another process may have migrated
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {index + 1}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def get(self, key: str) -> CacheEntry | None:
        row = self.db.execute("SELECT summary, meta FROM summaries WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return CacheEntry(summary=row[0], meta=json.loads(row[1]))

    def put(self, key: str, stage: str, summary: str, meta: dict[str, Any]) -> None:
        # A single statement is its own transaction: a crash leaves the row whole or absent.
        self.db.execute(
            "INSERT OR REPLACE INTO summaries(key, stage, summary, meta, created_at) VALUES (?, ?, ?, ?, ?)",
            (key, stage, summary, json.dumps(meta, ensure_ascii=False), time.time()),
        )

    def touch(self, key: str) -> None:
        self.db.execute("UPDATE summaries SET hits = hits + 1 WHERE key = ?", (key,))

    def file_sha256(self, path: str) -> str:
        """sha256 of a file, memoized by (path, size, mtime) so a cache hit never rereads a model."""
        st = os.stat(path)
        real = os.path.realpath(path)
        row = self.db.execute("SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                              (real, st.st_size, st.st_mtime_ns)).fetchone()
        if row:
            return row[0]
        digest = sha256_file(path)
        self.db.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)",
                        (real, st.st_size, st.st_mtime_ns, digest))
        return digest

    def memo_get(self, key: str, max_age: float) -> str | None:
        row = self.db.execute("SELECT value FROM memos WHERE key = ? AND created_at > ?",
                              (key, time.time() - max_age)).fetchone()
        return row[0] if row else None

    def memo_put(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO memos VALUES (?, ?, ?)", (key, value, time.time()))

    def documents(self, limit: int = 50) -> list[tuple[str, CacheEntry, float]]:
        """The latest whole-document summaries, newest first: (key, entry, created_at). The web
        page's history (a chunk's or a fusion's partial summary is not listed)."""
        rows = self.db.execute("SELECT key, summary, meta, created_at FROM summaries WHERE stage = 'document' "
                               "ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [(key, CacheEntry(summary, json.loads(meta)), created) for key, summary, meta, created in rows]

    def stats(self) -> dict[str, Any]:
        rows = self.db.execute("SELECT stage, COUNT(*), COALESCE(SUM(hits), 0) FROM summaries GROUP BY stage").fetchall()
        size = sum(p.stat().st_size for p in self.dir.glob(DB_NAME + "*") if p.is_file())
        return {"path": str(self.path), "schema_version": self.version,
                "entries": {stage: count for stage, count, _ in rows},
                "total_entries": sum(r[1] for r in rows), "hits": sum(r[2] for r in rows), "bytes": size}

    def clear(self) -> int:
        count = self.db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0]
        self.db.execute("DELETE FROM summaries")
        self.db.execute("VACUUM")
        return int(count)

    def close(self) -> None:
        self.db.close()


class NullCache(Cache):
    """--no-cache: same interface, remembers nothing (model hashes still memoized in memory)."""

    def __init__(self) -> None:  # noqa: D401 - no database at all
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._memos: dict[str, tuple[str, float]] = {}

    def memo_get(self, key: str, max_age: float) -> str | None:
        value, created = self._memos.get(key, ("", 0.0))
        return value if value and created > time.time() - max_age else None

    def memo_put(self, key: str, value: str) -> None:
        self._memos[key] = (value, time.time())

    def get(self, key: str) -> CacheEntry | None:
        return None

    def documents(self, limit: int = 50) -> list[tuple[str, CacheEntry, float]]:
        return []

    def put(self, key: str, stage: str, summary: str, meta: dict[str, Any]) -> None:
        return None

    def touch(self, key: str) -> None:
        return None

    def file_sha256(self, path: str) -> str:
        st = os.stat(path)
        memo = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        if memo not in self._hashes:
            self._hashes[memo] = sha256_file(path)
        return self._hashes[memo]

    def close(self) -> None:
        return None
