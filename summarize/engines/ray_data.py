"""``summarize batch --engine ray``: the documents the cache does not have, summarized by a
Ray Data actor pool; everything else stays with the driver (this process).

* The driver plans as the local engine does (discover, read, key, cache lookup): cache hits and
  unreadable documents get their rows at once, through the same per-document code path
  (engines/document.py); Ray is not even imported when nothing is left to compute.
* Misses go to Ray in blocks of ``--parallel`` documents (the documents an actor decodes
  together), so no straggler holds much of the work. Each actor (a callable class run with
  ``map_batches`` and an ``ActorPoolStrategy``) loads the model once, checks that its model
  file has the driver's sha256, and calls the same per-document code path, which commits
  each summary to the node's own SQLite cache before returning it: a block retried after a
  crash finds its finished documents there.
* The driver is the only writer of the output folder: for each row it commits the summary
  to its own cache, writes the Markdown, then journals the row (batch.Job.record), in the
  same order as the local engine, so a SIGKILLed driver resumes the same way.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import ModelError, SummarizeError, UsageError
from ..reading.layout import Layout
from ..reading.readers import Document, read_document
from ..sobriety import cpu_seconds, usable_cores
from .document import DEFERRED, fatal, one_line, summarize_document

if TYPE_CHECKING:
    from ..batch.corpus import Item  # the batch imports the engines: not the other way round at import time

# Reserved per actor on top of the weights: KV cache + compute buffers of the 8-sequence
# prefetch decoder (+185 MB) and the single-sequence one (+46 MB), docs/BENCHMARKS.md (memory).
DECODER_BYTES = 256 * 1024 * 1024
QUIET_LOGGERS = ("ray", "ray.data", "ray.data._internal")


@dataclass
class RayOptions:
    address: str | None = None  # None: $RAY_ADDRESS, else a local Ray started (and stopped) here
    actors: int | None = None  # pool size; default: as many as the cluster's CPUs allow, minus one CPU
    ship: bool = False  # send each document's text with its row instead of a path every node reads
    # Tests only: builds each actor's backend from the resolved model (a fast fake); pickled to actors.
    backend_factory: Callable[[Any], Any] | None = None
    local_cpus: int | None = None  # CPUs of a local Ray started here (default: usable cores + 1)
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)  # filled by the run: per-actor figures


def run_on_ray(job: Any, pending: list[tuple[int, Item]], options: Any, rows: dict[int, dict[str, Any]]) -> None:
    """Fill ``rows`` (index → manifest row) for ``pending``; ``job`` is the batch's batch.Job."""
    ropts: RayOptions = options.ray or RayOptions()
    s = job.s
    misses: list[tuple[int, Item, Document | None]] = []
    for index, item in pending:  # plan: hits and unreadable documents are done here
        job.observer.doc_start(index, item)
        doc = _read_quietly(item, s.max_bytes) if ropts.ship else None
        done = summarize_document(s, item, doc=doc, claim=lambda key: DEFERRED)
        if done is DEFERRED:
            misses.append((index, item, doc))
            continue
        if done.error is not None and fatal(done.error, False):
            raise done.error
        rows[index] = job.record(index, item, done.row)
    if not misses:
        return  # a finished job: no Ray, no actor
    with _native_stderr_off(not options.verbose):
        ray, started = _connect(ropts, options.verbose)
        try:
            _run_pool(ray, job, misses, options, ropts, rows)
        finally:
            if started:
                ray.shutdown()


@contextlib.contextmanager
def _native_stderr_off(quiet: bool) -> Iterator[None]:
    """Ray's C++ core worker logs straight to file descriptor 2 (actor restarts, object store
    notes): without --verbose, send that descriptor to /dev/null while Python's sys.stderr
    (our progress line, our errors) keeps writing to the real one."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding or "utf-8",
                           errors="backslashreplace")
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


def _read_quietly(item: Item, max_bytes: int) -> Document | None:
    if item.error:
        return None
    try:
        return read_document(item.path, max_bytes=max_bytes)
    except SummarizeError:
        return None  # summarize_document reports it


def _connect(ropts: RayOptions, verbose: bool) -> tuple[Any, bool]:
    """The Ray module, and whether this call started the Ray instance (then it stops it)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing phones home
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray", hint="pip install 'summarize[ray]'") from None
    level = logging.INFO if verbose else logging.ERROR
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if ray.is_initialized():
        return ray, False  # joined by the caller (tests share one local Ray)
    address = ropts.address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = dict(log_to_driver=verbose, logging_level=level, configure_logging=True)
    try:
        if address:
            ray.init(address=address, **common)
        else:
            # Ray's CPUs are scheduling slots: one more than the cores, so that a pool using every
            # core (one 1-thread actor per core) still leaves Ray Data a slot and cannot hang.
            ray.init(num_cpus=ropts.local_cpus or usable_cores() + 1, include_dashboard=False, **common)
    except Exception as exc:  # noqa: BLE001 - no cluster, wrong address: one line
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise UsageError(f"cannot start or join {where} ({one_line(exc)})",
                         hint="check --ray-address / RAY_ADDRESS (unset: a local Ray)") from None
    return ray, True


def _run_pool(ray: Any, job: Any, misses: list[tuple[int, Item, Document | None]], options: Any,
              ropts: RayOptions, rows: dict[int, dict[str, Any]]) -> None:
    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = options.verbose  # our own progress line instead
    ctx.print_on_execution_start = options.verbose
    ctx.verbose_stats_logs = False
    # --threads N: N llama.cpp threads and N Ray CPUs per actor. Unset: each actor reserves one
    # Ray CPU and its threads follow the free cores of its node step by step (cpuslot.py): the
    # actors of a node share its cores, and the last one still working takes all of them
    # instead of finishing alone on one core (docs/BENCHMARKS.md, Ray engine).
    threads = options.threads
    cpus = threads or 1
    block = max(1, options.parallel)
    n_blocks = math.ceil(len(misses) / block)
    total = float(ray.cluster_resources().get("CPU", 0))
    actors = ropts.actors or min(n_blocks, max(1, int(total - 1) // cpus))
    if actors * cpus >= total:
        raise UsageError(f"an actor pool of {actors} actor(s) × {cpus} CPU(s) would take all {total:g} CPUs "
                         "of the Ray cluster (Ray Data then hangs)",
                         hint="use fewer --ray-actors or --threads, or add CPUs to the cluster")
    s = job.s
    config = dict(model=options.model or os.environ.get("SUMMARIZE_MODEL"), model_sha256=s.model_sha256, length=options.length,
                  cache_dir=options.cache_dir, use_cache=options.use_cache, ctx=options.ctx, threads=threads,
                  verbose=options.verbose, max_bytes=options.max_bytes, max_tokens=options.max_tokens,
                  backend_factory=ropts.backend_factory)
    items = {index: item for index, item, _ in misses}
    data = [_task_row(index, item, doc) for index, item, doc in misses]
    handed = time.time()  # wall clock, as the actors' "ready" stamps (one machine's clock for a local Ray)
    ds = ray.data.from_items(data, override_num_blocks=n_blocks)
    memory = int(os.path.getsize(s.ref.path) * 1.1) + DECODER_BYTES
    # One block in flight per actor: a free actor takes the next block, none waits behind a slow one.
    out = ds.map_batches(DocumentWorker, fn_constructor_kwargs={"config": config}, batch_size=block,
                         batch_format="pandas", compute=ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
                         num_cpus=cpus,
                         memory=memory)  # actors are spread over the nodes (Ray Data's default)
    ropts.workers.clear()
    try:
        for result in out.iter_rows():
            index = int(result["index"])
            worker = ropts.workers.setdefault(result["worker"], {"node": result["node"], "documents": 0,
                                                                 "cpu_seconds": 0.0,
                                                                 "ready_seconds": round(float(result["ready"]) - handed, 2)})
            worker["documents"] += 1
            worker["cpu_seconds"] = max(worker["cpu_seconds"], float(result["cpu"]))
            if index in rows:
                continue  # a block Ray ran twice: the first answer stands, one journal line per document
            row = json.loads(result["row"])
            if result["meta"] and row["status"] != "error":  # 1. the driver's cache gets every result
                s.cache.put(result["key"], "document", row["summary"], json.loads(result["meta"]))
            rows[index] = job.record(index, items[index], row)  # 2. Markdown, 3. journal
    except (SummarizeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps what failed in the actors
        cause = _root_cause(exc)
        if isinstance(cause, SummarizeError):
            raise cause from None
        raise SummarizeError(f"the Ray job failed ({one_line(cause)})",
                             hint="rerun the same command: finished documents are kept") from None
    finally:
        # From handing the work to Ray to the first actor ready to decode (model loaded).
        pool_start = min((w["ready_seconds"] for w in ropts.workers.values()), default=None)
        if pool_start is not None:
            job.ready_at = handed + pool_start
        cpu = sum(w["cpu_seconds"] for w in ropts.workers.values())
        job.meter.add_worker_cpu(cpu)
        job.report_extra = {"engine": "ray", "ray": {
            "actors": actors, "threads_per_actor": threads or "auto", "cpus_per_actor": cpus, "block_documents": block, "blocks": n_blocks,
            "cluster_cpus": total, "worker_cpu_seconds": round(cpu, 3),
            "actor_start_seconds": pool_start,
            "workers": [{"worker": k, **v, "cpu_seconds": round(v["cpu_seconds"], 3)}
                        for k, v in sorted(ropts.workers.items())]}}


def _task_row(index: int, item: Item, doc: Document | None) -> dict[str, Any]:
    row: dict[str, Any] = {"index": index, "path": item.path, "rel": item.rel, "size": item.size,
                           "output": item.output, "text": None, "doc": None}
    if doc is not None:  # --ray-ship: the text the driver extracted travels with the row
        row["text"] = doc.text
        row["doc"] = json.dumps({"format": doc.format, "encoding": doc.encoding, "note": doc.note,
                                 "sha256": doc.sha256,  # the layout too: citations name the file's lines
                                 "layout": asdict(doc.layout) if doc.layout is not None else None})
    return row


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "cause", None) or exc.__cause__
        if isinstance(inner, BaseException):
            exc = inner
        else:
            break
    return exc


class DocumentWorker:
    """One Ray actor: the model loaded once, the node's cache, the shared per-document code path."""

    def __init__(self, config: dict[str, Any]) -> None:
        from .. import models
        from ..summarizer import Summarizer

        factory = config.get("backend_factory")
        backend = factory(models.resolve(config["model"])) if factory is not None else None
        self.s = Summarizer(config["model"], length=config["length"], cache_dir=config["cache_dir"],
                            use_cache=config["use_cache"], ctx=config["ctx"], threads=config["threads"],
                            verbose=config["verbose"], max_bytes=config["max_bytes"],
                            max_tokens=config["max_tokens"], backend=backend)
        self.node = _node_name()
        if self.s.model_sha256 != config["model_sha256"]:
            raise ModelError(f"the model file on node {self.node} differs from the driver's (sha256 "
                             f"{self.s.model_sha256[:12]}… vs {config['model_sha256'][:12]}…)",
                             path=self.s.ref.path, hint="install the same model on every node")
        self.s.load_model()  # now: once per actor, and a broken model fails the start
        self.worker = f"{self.node}:{os.getpid()}"
        self.ready = time.time()  # the driver reports how long the pool took to start

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        from ..batch.corpus import Item

        records = batch.to_dict("records")
        items = [Item(r["path"], r["rel"], int(r["size"]), None, r["output"]) for r in records]
        docs = [_shipped(r) or _read_quietly(item, self.s.max_bytes) for r, item in zip(records, items)]
        if len(records) > 1:
            self.s.prefetch([d.text for d in docs if d is not None])  # decoded together, as --parallel does
        out: dict[str, list[Any]] = {k: [] for k in ("index", "row", "key", "meta", "worker", "node", "cpu",
                                                             "ready")}
        for record, item, doc in zip(records, items, docs):
            done = summarize_document(self.s, item, doc=doc, want_meta=True)  # never raises
            out["index"].append(int(record["index"]))
            out["row"].append(json.dumps(done.row, ensure_ascii=False))
            out["key"].append(done.key or "")
            out["meta"].append(json.dumps(done.meta, ensure_ascii=False) if done.meta else "")
            out["worker"].append(self.worker)
            out["node"].append(self.node)
            out["cpu"].append(cpu_seconds())  # this actor's process so far: the driver keeps the last
            out["ready"].append(self.ready)
        return out


def _shipped(record: dict[str, Any]) -> Document | None:
    if not isinstance(record.get("text"), str):
        return None
    meta = json.loads(record["doc"])
    layout = meta.pop("layout", None)
    return Document(source=record["path"], text=record["text"], **meta,
                    layout=Layout(**layout) if layout is not None else None)


def _node_name() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # noqa: BLE001 - outside Ray (unit tests)
        return "local"
