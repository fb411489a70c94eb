"""The SQLite cache: ordered migrations from an empty database, content keys, memoized hashes."""
from __future__ import annotations

import sqlite3

import pytest

from summarize.cache import MIGRATIONS, SCHEMA_VERSION, Cache, make_key


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def test_empty_database_is_migrated_to_the_latest_schema(tmp_path):
    cache = Cache(tmp_path)
    assert cache.version == SCHEMA_VERSION == len(MIGRATIONS)
    assert {"summaries", "file_hashes", "summaries_stage"} <= _tables(cache.path)
    with sqlite3.connect(cache.path) as db:
        columns = {r[1] for r in db.execute("PRAGMA table_info(summaries)")}
    assert {"key", "stage", "summary", "meta", "created_at", "hits"} <= columns
    assert cache.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_database_is_migrated_in_order_and_keeps_its_rows(tmp_path):
    path = tmp_path / "summaries.sqlite3"
    with sqlite3.connect(path) as db:  # a database left by the first schema version
        db.executescript(MIGRATIONS[0])
        db.execute("INSERT INTO summaries VALUES ('k', 'document', 'Un résumé.', '{}', 0)")
        db.execute("PRAGMA user_version = 1")
    cache = Cache(tmp_path)
    assert cache.version == SCHEMA_VERSION
    hit = cache.get("k")
    assert hit is not None and hit.summary == "Un résumé."
    cache.touch("k")
    assert cache.stats()["hits"] == 1


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "summaries.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    from summarize.errors import SummarizeError

    with pytest.raises(SummarizeError, match="newer than this summarize"):
        Cache(tmp_path)


def test_keys_change_with_every_part_of_the_content():
    base = dict(stage="document", text="a" * 64, model="m" * 64, prompt="fr-3:abc", settings="{}", length="short")
    key = make_key(**base)
    assert key == make_key(**dict(base))
    for field in base:
        assert make_key(**{**base, field: base[field] + "x"}) != key


def test_put_get_clear_and_model_hash_memo(tmp_path):
    cache = Cache(tmp_path / "c")
    cache.put("k", "map", "Résumé partiel.", {"method": "model"})
    assert cache.get("k").meta == {"method": "model"}
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 100)
    first = cache.file_sha256(str(model))
    assert cache.file_sha256(str(model)) == first
    model.write_bytes(b"GGUF" + b"\1" * 100)  # new size/mtime: recomputed, never stale
    assert cache.file_sha256(str(model)) != first
    assert cache.clear() == 1 and cache.get("k") is None


def _open_at(directory: str, start: float, errors) -> None:
    import time

    time.sleep(max(0.0, start - time.time()))
    try:
        Cache(directory).close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(str(exc))


def test_processes_opening_a_new_cache_at_the_same_instant_all_succeed(tmp_path):
    """Two batches started together on a fresh cache: one of them used to fail with « cannot
    open the cache (database is locked) » (switching a new database to WAL is not covered by
    SQLite's busy timeout)."""
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("fork")
    for round_ in range(6):
        errors = ctx.Queue()
        start = time.time() + 0.3
        procs = [ctx.Process(target=_open_at, args=(str(tmp_path / f"c{round_}"), start, errors)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert [p.exitcode for p in procs] == [0] * 8
        assert errors.empty(), errors.get()
        assert Cache(tmp_path / f"c{round_}").version == SCHEMA_VERSION
