"""The page's work: one worker thread runs the jobs one at a time, through the library.

A job is one document (``Summarizer.summarize_text``, as ``summarize FILE`` runs it) or a
corpus (``batch.run_batch``, as ``summarize batch`` runs it): no second code path, so the
cache, guards, retries, extractive fallback, injection defence, citations, CPU slots and
resume hold here as in the CLI. Model runs are serialized by the single worker (and shared
with other summarize processes step by step by the CPU slots, cpuslot.py); the event loop
only reads the events a job appends, so the page stays responsive while a model runs.

Each job appends events (``start``, ``text``, ``progress``, ``result``, ``batch_*``, ``error``,
``cancelled``, ``end``) that the page reads as Server-Sent Events. Its cancel button sets
the job's token (cancel.py): the work stops at its next decoding step. The job's folder
(uploads, batch outputs) is removed when the job ends; a batch's results are kept in
memory as a zip for the download.
"""
from __future__ import annotations

import io
import itertools
import queue
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cancel import CancelToken, Cancelled, cancellable

KEEP_JOBS = 50  # finished jobs kept for their results and downloads (memory: text and a zip each)


@dataclass
class Settings:
    """What `summarize serve` was started with (the CLI's options of the same names)."""

    model: str | None = None
    cache_dir: str | None = None
    threads: int | None = None
    gpu_layers: str | None = None
    max_bytes: int = 10_000_000
    verbose: bool = False


@dataclass
class Job:
    id: str
    kind: str  # document | batch
    folder: Path  # inside the server's private folder: removed when the job ends
    model: str | None
    length: str
    names: dict[str, str] = field(default_factory=dict)  # file in folder -> name the user gave
    token: CancelToken = field(default_factory=CancelToken)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: str = "queued"  # queued | running | done | cancelled | error
    download: bytes | None = None  # a batch's results (zip)
    created: float = field(default_factory=time.time)
    started: float = 0.0

    def emit(self, kind: str, **data: Any) -> None:
        self.events.append({"type": kind, **data})  # list.append is atomic: readers see whole events

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled", "error")


class Runner:
    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings, self.root = settings, root
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._summarizers: dict[tuple[str | None, str], Any] = {}
        self._backends: dict[str | None, Any] = {}
        self._thread = threading.Thread(target=self._work, name="summarize-web-worker", daemon=True)
        self._thread.start()

    # -- called from the event loop ------------------------------------------------------
    def new_folder(self) -> tuple[str, Path]:
        job_id = f"{next(self._ids)}-{int(time.time() * 1000) % 100000:05d}"
        return job_id, self.root / f"job-{job_id}"

    def submit(self, job: Job) -> Job:
        self.jobs[job.id] = job
        job.emit("queued", position=self._queue.qsize())
        self._queue.put(job)
        self._forget_old()
        return job

    def cancel(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        if job is None:
            return False
        job.token.cancel()
        return True

    def busy(self) -> bool:
        return any(not j.finished for j in self.jobs.values())

    def close(self) -> None:
        for job in self.jobs.values():
            job.token.cancel()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._release()

    def _forget_old(self) -> None:
        done = [j for j in self.jobs.values() if j.finished]
        for job in done[: max(0, len(done) - KEEP_JOBS)]:
            del self.jobs[job.id]

    # -- the worker thread ------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        job.started = time.perf_counter()
        try:
            if job.token.cancelled:
                raise Cancelled()
            job.state = "running"
            job.emit("running")
            with cancellable(job.token):
                (self._document if job.kind == "document" else self._batch)(job)
            job.state = "cancelled" if job.token.cancelled else "done"
        except Cancelled:
            job.state = "cancelled"
        except Exception as exc:  # noqa: BLE001 - one line on the page, the server goes on
            from ..engines.document import one_line

            job.state = "error"
            job.emit("error", message=one_line(exc))
        finally:
            shutil.rmtree(job.folder, ignore_errors=True)  # uploads and outputs: never kept on disk
            if job.state == "cancelled":
                job.emit("cancelled", seconds=round(time.perf_counter() - job.started, 2))
            job.emit("end", state=job.state)

    def summarizer(self, model: str | None, length: str) -> Any:
        """One Summarizer per (model, length), sharing the model's backend: the weights load once
        and stay loaded for the next document. Another model frees the previous one first."""
        from .. import backends, gpu, models
        from ..summarizer import Summarizer

        key = (model, length)
        if key not in self._summarizers:
            if any(m != model for m, _ in self._summarizers):
                self._release()
            s = self.settings
            if model not in self._backends:
                self._backends[model] = backends.open_backend(models.resolve(model), threads=s.threads,
                                                              verbose=s.verbose, gpu_layers=gpu.parse(s.gpu_layers))
            self._summarizers[key] = Summarizer(model, length=length, cache_dir=s.cache_dir, threads=s.threads,
                                                verbose=s.verbose, max_bytes=s.max_bytes, gpu_layers=s.gpu_layers,
                                                backend=self._backends[model])
        return self._summarizers[key]

    def _release(self) -> None:
        """Close every loaded model and cache connection (before a batch, which loads its own)."""
        for s in self._summarizers.values():
            s.cache.close()
        for backend in self._backends.values():
            backend.close()
        self._summarizers.clear()
        self._backends.clear()

    def _document(self, job: Job) -> None:
        from ..output import time_left
        from ..reading.readers import read_document

        (path, name), = job.names.items()
        s = self.summarizer(job.model, job.length)
        try:
            doc = read_document(str(job.folder / path), max_bytes=self.settings.max_bytes)
        finally:
            (job.folder / path).unlink(missing_ok=True)  # read: the upload is not needed any more
        plan = s.estimate(doc.text, source=name)  # chunks and --dry-run's estimate; the plan is reused
        job.emit("start", source=name, model=s.ref.name, length=job.length, format=doc.format, chars=len(doc.text),
                 chunks=plan["chunks"], estimate=plan["estimated_seconds"], cached=plan["cached"])
        started = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            left = time_left(elapsed, done, total)  # the pace of the parts done, as the CLI's status line
            if left is None and done < total:  # before the first part: the dry-run estimate
                left = max(0.0, plan["estimated_seconds"] - elapsed)
            job.emit("progress", stage=stage, done=done, total=total, elapsed=round(elapsed, 1),
                     left=None if left is None else round(left))

        result = s.summarize_text(doc.text, source=name, on_text=lambda piece: job.emit("text", text=piece),
                                  progress=progress, layout=doc.layout)
        job.emit("result", **view(result.as_dict(), source=name))

    def _batch(self, job: Job) -> None:
        from ..batch import BatchOptions, run_batch

        self._release()  # the batch loads its own model: never two copies of the weights
        s = self.settings
        docs, out = job.folder / "documents", job.folder / "resultats"
        options = BatchOptions(out=str(out), model=job.model, length=job.length, cache_dir=s.cache_dir,
                               threads=s.threads, max_bytes=s.max_bytes, gpu_layers=s.gpu_layers, verbose=s.verbose)
        result = run_batch([str(docs)], options, BatchEvents(job))
        synthesis = result.synthesis.read_text(encoding="utf-8") if result.synthesis else None
        job.download = _zip(out)
        job.emit("batch_done", counts=result.counts, sobriety=result.report.as_dict(), synthesis=synthesis,
                 synthesis_error=result.synthesis_error, interrupted=result.interrupted,
                 download=f"/api/jobs/{job.id}/resultats.zip")


class BatchEvents:
    """The batch job's Observer (batch/job.py): each hook becomes an event for the page."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.started = time.perf_counter()
        self.current = 0

    def _name(self, path: str) -> str:
        return self.job.names.get(Path(path).name, Path(path).name)

    def start(self, items: list[Any]) -> None:
        documents = [{"index": i, "name": self._name(it.path)} for i, it in enumerate(items)]
        self.job.emit("batch_start", documents=documents)

    def doc_start(self, index: int, item: Any) -> None:
        self.current = index
        self.job.emit("doc_start", index=index)

    def stage(self, stage: str, done: int, total: int) -> None:
        self.job.emit("progress", index=self.current, stage=stage, done=done, total=total)

    def doc_done(self, index: int, item: Any, row: dict[str, Any]) -> None:
        keep = ("status", "method", "supported", "summary", "error", "tokens_in", "tokens_out", "seconds",
                "run_seconds", "output")
        self.job.emit("doc_done", index=index, name=self._name(item.path), **{k: row.get(k) for k in keep})

    def synth_start(self, count: int) -> None:
        self.job.emit("synth_start", count=count)


def view(result: dict[str, Any], source: str) -> dict[str, Any]:
    """What the page shows of a result (``Result.as_dict()``, or a cache entry's metadata): the
    summary, its sentences and sources, how it was made, and the CLI's exact text output."""
    from ..quality.cite import render

    sentences = result.get("sentences")
    return {"source": source, "summary": result.get("summary", ""), "method": result.get("method") or "model",
            "cache_hit": bool(result.get("cache_hit")), "model": result.get("model"), "length": result.get("length"),
            "supported": result.get("supported"), "sentences": sentences, "tokens_in": result.get("tokens_in"),
            "tokens_out": result.get("tokens_out"), "seconds": result.get("seconds"),
            "guard_failures": result.get("guard_failures") or [],
            "text": render(sentences) if sentences else result.get("summary", ""),
            "json": {k: v for k, v in result.items() if k != "cite_layout"}}


def _zip(out: Path) -> bytes:
    """The batch's outputs as the download, as `summarize batch --out` writes them: one Markdown
    file per document, manifest.jsonl, sobriety.json, synthese.md."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(out.iterdir()) if out.is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, f"resumes/{path.name}")
    return buffer.getvalue()

