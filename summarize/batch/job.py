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

from .. import paths
from ..backends import RemoteOptions
from ..engines.document import DEFERRED, fatal, one_line, summarize_document
from ..errors import SummarizeError, UsageError
from ..reading.readers import DEFAULT_MAX_BYTES, Document, read_document
from ..sobriety import Meter, Report
from ..summarizer import Summarizer
from .corpus import Item, discover
from .journal import MANIFEST, append_row, repair_journal
from .journal import atomic_write as _atomic_write, crashpoint as _crashpoint, line as _line
from .journal import write_if_changed as _write_if_changed
from .leases import Leases

REPORT = "sobriety.json"


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
    engine: str = "local"  # local | ray (engines/)
    ray: Any = None  # engines.ray_data.RayOptions for --engine ray
    cite: bool = True  # each sentence of a Markdown summary with its source passages (--no-cite: off)


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
    started = time.time()
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
                            gpu_layers=options.gpu_layers, remote=options.remote, cite=options.cite)
    _remove_stale_temps(out)
    manifest = out / MANIFEST
    repair_journal(manifest)
    leases = Leases(summarizer.cache.dir / "leases") if options.use_cache else None
    job = Job(summarizer, out, manifest, leases, meter, observer)
    observer.start(items)
    rows: dict[int, dict[str, Any]] = {}
    interrupted, synthesis, synthesis_error = False, None, None
    try:
        pending = list(enumerate(items))
        if options.engine == "ray":
            from ..engines.ray_data import run_on_ray  # lazily: only --engine ray imports ray

            run_on_ray(job, pending, options, rows)  # fills rows as they finish (an interrupt keeps them)
            pending = []
        elif options.engine != "local":
            raise UsageError(f"unknown engine {options.engine!r}", hint="use local or ray")
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
        job.release_leases()
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
                if fatal(exc, True):
                    raise
                synthesis_error = one_line(exc)
        _atomic_write(manifest, "".join(_line(r) for r in ordered).encode("utf-8"))
    except KeyboardInterrupt:
        interrupted = True  # the journal already holds every finished document
    finally:
        job.release_leases()
        summarizer.close()
    report = meter.report(interrupted=interrupted)
    ready_at = job.ready_at or summarizer.model_ready_at
    if ready_at is not None and ready_at >= started:
        report.start_seconds = round(ready_at - started, 2)
    ordered = [rows[i] for i in sorted(rows)]
    counts = {s: sum(r["status"] == s for r in ordered) for s in ("ok", "cached", "error")}
    _atomic_write(out / REPORT, json.dumps({**report.as_dict(), "model": summarizer.ref.name,
                                            "length": options.length, **job.report_extra},
                                           indent=2).encode("utf-8"))
    return BatchResult(ordered, report, out, synthesis, interrupted, counts, synthesis_error)


class Job:
    """The batch's side of each document: the cost, the Markdown file, the journal line.
    Both engines hand it their rows (engines/document.py makes them)."""

    def __init__(self, summarizer: Summarizer, out: Path, manifest: Path, leases: Leases | None, meter: Meter,
                 observer: Observer) -> None:
        self.s, self.out, self.manifest, self.leases = summarizer, out, manifest, leases
        self.meter, self.observer = meter, observer
        self.model_worked = False  # a model error before any success means the model itself is broken
        self.read: dict[str, Document] = {}  # documents prefetch() read, so process() reads each once
        self.leased: dict[str, Any] = {}  # document key → the lease prefetch() took for it
        self.report_extra: dict[str, Any] = {}  # engine-specific fields of sobriety.json
        self.ready_at: float | None = None  # when a model was first ready to decode (the Ray engine's first actor)

    def prefetch(self, items: list[Item]) -> None:
        """Generate the next documents' first attempts together; process() then finds them ready.
        With a shared cache, a document is decoded here only under its lease, taken without
        waiting: another process summarizing the same corpus skips the documents this one
        took (process() then defers them) instead of decoding the same group at the same time."""
        self.release_leases()
        self.read.clear()
        for item in items:
            try:
                if item.error:
                    continue
                doc = read_document(item.path, max_bytes=self.s.max_bytes)
            except SummarizeError:
                continue  # process() reports it
            if self.leases is not None:
                key = self.s.document_key(doc.text)
                if self.s.cache.get(key) is None:
                    lease = self.leases.acquire(key, block=False)
                    if lease is None:
                        continue  # another process is on it
                    self.leased[key] = lease
            self.read[item.path] = doc
        self.s.prefetch([doc.text for doc in self.read.values()])

    def release_leases(self) -> None:
        """Leases prefetch() took for documents process() did not claim (a cache hit, an error)."""
        for lease in self.leased.values():
            lease.release()
        self.leased.clear()

    def process(self, index: int, item: Item, *, wait: bool) -> Any:
        self.observer.doc_start(index, item)

        def claim(key: str) -> Any:
            if self.leases is None:
                return None
            if key in self.leased:
                return self.leased.pop(key)  # taken by prefetch(): summarize_document releases it
            return self.leases.acquire(key, block=wait) or DEFERRED

        done = summarize_document(self.s, item, doc=self.read.pop(item.path, None), claim=claim,
                                  progress=self.observer.stage)
        if done is DEFERRED:
            return DEFERRED
        if done.error is not None and fatal(done.error, self.model_worked):
            raise done.error
        if done.row["status"] == "ok":
            self.model_worked = True
            _crashpoint("after-cache")  # test hook: summary committed, Markdown and manifest not yet
        return self.record(index, item, done.row)

    def record(self, index: int, item: Item, row: dict[str, Any]) -> dict[str, Any]:
        """Account for a finished row, then write its Markdown (or drop a stale one), then journal it."""
        sentences = row.pop("sentences", None)  # the manifest keeps only the supported share
        if row["status"] == "error":
            self.meter.add_error()
            self._drop_output(item)
        else:
            if row["status"] == "cached":
                self.meter.add_cached(row["tokens_in"], row["tokens_out"], row["seconds"], row["cpu_seconds"])
            else:
                self.meter.add_computed(row["tokens_in"], row["tokens_out"])
            _write_if_changed(self.out / item.output, render_markdown(row, sentences).encode("utf-8"))
        append_row(self.manifest, row)
        self.observer.doc_done(index, item, row)
        return row

    def _drop_output(self, item: Item) -> None:
        # A document that now fails must not leave last run's summary looking current.
        try:
            (self.out / item.output).unlink()
        except OSError:
            pass


# -- outputs -----------------------------------------------------------------

def render_markdown(row: dict[str, Any], sentences: list[dict[str, Any]] | None = None) -> str:
    """Summary plus a metadata header. No run-specific values, so reruns rewrite nothing.
    With ``sentences`` (the attribution), each sentence has its references and the quoted
    passages follow (quality/cite.py)."""
    keys = ("path", "sha256", "format", "model", "prompt_version", "length", "method", "tokens_in", "tokens_out",
            "seconds") + (("supported",) if sentences else ())
    header = "\n".join(f"{k if k != 'path' else 'source'}: {json.dumps(row[k], ensure_ascii=False)}" for k in keys)
    title = os.path.basename(row["path"]) or row["path"]
    if sentences:
        from ..quality.cite import render

        return f"---\n{header}\n---\n\n# {title}\n\n{render(sentences)}\n"
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
