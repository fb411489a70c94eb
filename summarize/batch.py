"""The batch job: summarize a corpus unattended, resumably, one isolated failure at a time.

Crash safety rests on ordering, not on cleanup code (SIGKILL runs none):
1. the summary is committed to the SQLite cache (one transaction, WAL) inside Summarizer;
2. its Markdown file is written to a temp file and renamed over the final name;
3. one JSON line is appended to manifest.jsonl and fsync'ed.
A kill between any two steps loses nothing: the rerun finds the summary in the cache
(keyed by content), rewrites 2 and 3, and computes only the documents never finished.
A kill inside step 3 can leave a partial last line; the next run truncates it first.
When the run ends the manifest is rewritten atomically with exactly one row per document.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from . import paths
from .backends import RemoteOptions
from .corpus import Item, discover
from .errors import DocumentError, ModelError, SummarizeError, UsageError
from .journal import CRASH_ENV, MANIFEST, append_row, read_manifest, repair_journal  # noqa: F401 - re-exported
from .journal import atomic_write as _atomic_write, crashpoint as _crashpoint, line as _line
from .journal import write_if_changed as _write_if_changed
from .leases import Leases
from .readers import DEFAULT_MAX_BYTES, Document, read_document
from .sobriety import Meter, Report, cpu_seconds
from .summarizer import Summarizer

REPORT = "sobriety.json"
DEFERRED = object()  # another process holds this document's lease: come back to it later


@dataclass
class BatchOptions:
    out: str
    model: str | None = None
    length: str = "medium"
    cache_dir: str | None = None
    use_cache: bool = True
    ctx: int | None = None
    threads: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_tokens: int | None = None
    watts: float | None = None
    synthese: bool = True
    parallel: int = 8  # documents decoded together (multi-sequence generation); 1 = one at a time
    verbose: bool = False
    gpu_layers: str | None = None  # --gpu-layers N|all (None: all when llama.cpp can offload)
    remote: RemoteOptions | None = None  # a server URL as model: its kind, key variable, requests in flight


@dataclass
class BatchResult:
    rows: list[dict[str, Any]]
    report: Report
    out: Path
    synthesis: Path | None = None
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    synthesis_error: str | None = None

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.counts.get("error") or self.synthesis_error else 0)


class Observer:
    """Progress hooks; the CLI's rich view overrides them. All are no-ops here."""

    def start(self, items: list[Item]) -> None: ...
    def doc_start(self, index: int, item: Item) -> None: ...
    def stage(self, stage: str, done: int, total: int) -> None: ...
    def doc_done(self, index: int, item: Item, row: dict[str, Any]) -> None: ...
    def synth_start(self, count: int) -> None: ...


def run_batch(inputs: Sequence[str], options: BatchOptions, observer: Observer | None = None) -> BatchResult:
    observer = observer or Observer()
    meter = Meter(options.watts)  # first, so the sobriety report counts start-up too
    out = Path(options.out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder ({exc.strerror or exc})", path=str(out)) from None
    exclude = [out] + ([paths.cache_dir(options.cache_dir)] if options.use_cache else [])
    items = discover(inputs, exclude=exclude)
    if not items:
        raise UsageError("no documents found", hint="pass files, folders or quoted globs like 'docs/**/*.pdf'")
    summarizer = Summarizer(options.model, length=options.length, cache_dir=options.cache_dir,
                            use_cache=options.use_cache, ctx=options.ctx, threads=options.threads,
                            verbose=options.verbose, max_bytes=options.max_bytes, max_tokens=options.max_tokens,
                            gpu_layers=options.gpu_layers, remote=options.remote)
    _remove_stale_temps(out)
    manifest = out / MANIFEST
    repair_journal(manifest)
    leases = Leases(summarizer.cache.dir / "leases") if options.use_cache else None
    job = _Job(summarizer, out, manifest, leases, meter, observer)
    observer.start(items)
    rows: dict[int, dict[str, Any]] = {}
    interrupted, synthesis, synthesis_error = False, None, None
    try:
        pending = list(enumerate(items))
        for wait in (False, True):  # second pass: documents another process was busy with
            deferred = []
            for position, (index, item) in enumerate(pending):
                if options.parallel > 1 and position % options.parallel == 0:
                    job.prefetch([it for _, it in pending[position : position + options.parallel]])
                row = job.process(index, item, wait=wait)
                if row is DEFERRED:
                    deferred.append((index, item))
                else:
                    rows[index] = row
            pending = deferred
        ordered = [rows[i] for i in sorted(rows)]
        summarizer.end_prefetch()
        if options.synthese:
            from .synthesis import write_synthesis

            done = [r for r in ordered if r["status"] != "error"]
            observer.synth_start(len(done))
            try:
                synthesis, spent = write_synthesis(out, done, summarizer)
                meter.add_tokens(*spent)
            except Exception as exc:  # noqa: BLE001 - the summaries are done and saved: report, do not lose them
                if _fatal(exc, True):
                    raise
                synthesis_error = _one_line(exc)
        _atomic_write(manifest, "".join(_line(r) for r in ordered).encode("utf-8"))
    except KeyboardInterrupt:
        interrupted = True  # the journal already holds every finished document
    finally:
        summarizer.close()
    report = meter.report(interrupted=interrupted)
    ordered = [rows[i] for i in sorted(rows)]
    counts = {s: sum(r["status"] == s for r in ordered) for s in ("ok", "cached", "error")}
    _atomic_write(out / REPORT, json.dumps({**report.as_dict(), "model": summarizer.ref.name,
                                            "length": options.length}, indent=2).encode("utf-8"))
    return BatchResult(ordered, report, out, synthesis, interrupted, counts, synthesis_error)


class _Job:
    def __init__(self, summarizer: Summarizer, out: Path, manifest: Path, leases: Leases | None, meter: Meter,
                 observer: Observer) -> None:
        self.s, self.out, self.manifest, self.leases = summarizer, out, manifest, leases
        self.meter, self.observer = meter, observer
        self.model_worked = False  # a model error before any success means the model itself is broken
        self.read: dict[str, Document] = {}  # documents prefetch() read, so process() reads each once

    def prefetch(self, items: list[Item]) -> None:
        """Generate the next documents' first attempts together; process() then finds them ready."""
        self.read.clear()
        for item in items:
            try:
                if not item.error:
                    self.read[item.path] = read_document(item.path, max_bytes=self.s.max_bytes)
            except SummarizeError:
                continue  # process() reports it
        self.s.prefetch([doc.text for doc in self.read.values()])

    def process(self, index: int, item: Item, *, wait: bool) -> Any:
        started = time.perf_counter()
        self.observer.doc_start(index, item)
        row = _base_row(item, self.s)
        try:
            if item.error:
                raise DocumentError(item.error, path=item.path)
            doc = self.read.pop(item.path, None) or read_document(item.path, max_bytes=self.s.max_bytes)
            row.update(sha256=doc.sha256, format=doc.format, encoding=doc.encoding, note=doc.note)
            key = self.s.document_key(doc.text)
            lease = None
            if self.leases is not None and self.s.cache.get(key) is None:
                lease = self.leases.acquire(key, block=wait)
                if lease is None:
                    return DEFERRED
            cpu0 = cpu_seconds()
            try:
                result = self.s.summarize_text(doc.text, source=item.path, progress=self.observer.stage)
            finally:
                if lease is not None:
                    lease.release()
        except Exception as exc:  # noqa: BLE001 - failure isolation: one bad document never stops the batch
            if _fatal(exc, self.model_worked):
                raise
            row.update(status="error", error=_one_line(exc), run_seconds=round(time.perf_counter() - started, 3))
            row["sha256"] = row["sha256"] or _safe_sha256(item.path, self.s.max_bytes)
            self.meter.add_error()
            self._drop_output(item)
            self._finish(index, item, row)
            return row
        self.model_worked = self.model_worked or not result.cache_hit
        row.update(status="cached" if result.cache_hit else "ok", cache_hit=result.cache_hit,
                   summary=result.summary, text_sha256=result.doc_sha256, method=result.method,
                   guard_failures=result.guard_failures, run_seconds=round(time.perf_counter() - started, 3),
                   tokens_in=result.tokens_in, tokens_out=result.tokens_out, seconds=round(result.seconds, 3))
        if result.cache_hit:
            # Record what producing this summary cost the first time: the manifest and the
            # Markdown stay identical whichever run (or process) computed it.
            cost = result.cost or {}
            row.update(tokens_in=int(cost.get("tokens_in") or 0), tokens_out=int(cost.get("tokens_out") or 0),
                       seconds=round(float(cost.get("seconds") or 0.0), 3), cpu_seconds=cost.get("cpu_seconds"))
            self.meter.add_cached(row["tokens_in"], row["tokens_out"], row["seconds"], row["cpu_seconds"])
        else:
            row["cpu_seconds"] = round(cpu_seconds() - cpu0, 3)
            self.meter.add_computed(result.tokens_in, result.tokens_out)
            _crashpoint("after-cache")  # test hook: summary committed, Markdown and manifest not yet
            hit = self.s.cache.get(key)
            if hit is not None:  # keep the CPU cost with the summary: what a later hit saves (sobriety report)
                self.s.cache.put(key, "document", hit.summary, {**hit.meta, "cpu_seconds": row["cpu_seconds"]})
        _write_if_changed(self.out / item.output, render_markdown(row).encode("utf-8"))
        self._finish(index, item, row)
        return row

    def _finish(self, index: int, item: Item, row: dict[str, Any]) -> None:
        append_row(self.manifest, row)
        self.observer.doc_done(index, item, row)

    def _drop_output(self, item: Item) -> None:
        # A document that now fails must not leave last run's summary looking current.
        try:
            (self.out / item.output).unlink()
        except OSError:
            pass


def _base_row(item: Item, s: Summarizer) -> dict[str, Any]:
    return {"path": item.path, "output": item.output, "sha256": None, "text_sha256": None, "format": None,
            "encoding": None, "status": "error", "cache_hit": False, "summary": None, "model": s.ref.name,
            "prompt_version": s.prompts.cache_id, "length": s.length, "method": None, "tokens_in": 0,
            "tokens_out": 0, "seconds": 0.0, "cpu_seconds": None, "run_seconds": 0.0, "guard_failures": [], "note": None,
            "error": None}


def _fatal(exc: Exception, model_worked: bool) -> bool:
    """Errors every document would hit the same way: stop at once instead of failing N times."""
    if isinstance(exc, ModelError):
        return not model_worked  # the model never ran in this process: it cannot load
    return isinstance(exc, UsageError) and not isinstance(exc, DocumentError)  # e.g. a bad --ctx


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SummarizeError) else f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _safe_sha256(path: str, limit: int) -> str | None:
    """Hash of a file that failed to read, when that is cheap and safe (regular, not huge)."""
    import hashlib
    import stat as stat_mod

    try:
        st = os.stat(path)
        if not stat_mod.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read(limit + 1)).hexdigest()
    except OSError:
        return None


# -- outputs -----------------------------------------------------------------

def render_markdown(row: dict[str, Any]) -> str:
    """Summary plus a metadata header. No run-specific values, so reruns rewrite nothing."""
    keys = ("path", "sha256", "format", "model", "prompt_version", "length", "method", "tokens_in", "tokens_out",
            "seconds")
    header = "\n".join(f"{k if k != 'path' else 'source'}: {json.dumps(row[k], ensure_ascii=False)}" for k in keys)
    title = os.path.basename(row["path"]) or row["path"]
    return f"---\n{header}\n---\n\n# {title}\n\n{row['summary']}\n"


def _remove_stale_temps(out: Path) -> None:
    """Temp files of processes that died (killed mid-write); a live process keeps its own."""
    for tmp in out.glob(".*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue
