"""A batch driver for the Ray fault tests, run as its own process (it gets SIGKILLed, or it
owns a simulated cluster): ``python -m tests.ray_driver SCENARIO CORPUS OUT CACHE LOG [options]``.

``run``: the library batch with the fake backend on a Ray the engine starts itself (or
$RAY_ADDRESS). ``cluster``: a ``ray.cluster_utils.Cluster`` head + 2 worker nodes on this
machine, each node with its own cache folder; worker node 1 is removed once ``--remove-after``
documents are generated. Prints one JSON line: counts and what the test needs to check.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from summarize.batch import BatchOptions, run_batch
from summarize.engines.ray_data import RayOptions

from .ray_fakes import FakeFactory, generations


def _options(args: argparse.Namespace, ropts: RayOptions, cache: str | None) -> BatchOptions:
    return BatchOptions(out=args.out, cache_dir=cache, length="short", synthese=False, threads=1,
                        parallel=args.parallel, engine="ray", ray=ropts)


def _register_fakes() -> None:
    import ray

    from . import ray_fakes

    ray.cloudpickle.register_pickle_by_value(ray_fakes)  # workers need not import the tests package


def run(args: argparse.Namespace) -> dict:
    _register_fakes()
    ropts = RayOptions(actors=args.actors, backend_factory=FakeFactory(Path(args.log), args.sleep))
    result = run_batch([args.corpus], _options(args, ropts, args.cache))
    return {"counts": result.counts}


def cluster(args: argparse.Namespace) -> dict:
    import psutil
    import ray
    from ray.cluster_utils import Cluster

    base = Path(args.cache)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                      "env_vars": {"SUMMARIZE_CACHE_DIR": str(base / "head")}})
    workers = [c.add_node(num_cpus=2, env_vars={"SUMMARIZE_CACHE_DIR": str(base / f"node{i}")}) for i in (1, 2)]
    removed: dict = {}
    try:
        ray.init(address=c.address, log_to_driver=False)
        _register_fakes()
        log = Path(args.log)

        def remove_when_busy() -> None:
            while sum(generations(log).values()) < args.remove_after:
                time.sleep(0.05)
            raylet = psutil.Process(workers[0].all_processes["raylet"][0].process.pid)
            removed["pids"] = [p.pid for p in raylet.children(recursive=True)]
            removed["at_generations"] = sum(generations(log).values())
            c.remove_node(workers[0], allow_graceful=False)
            removed["done"] = True

        watcher = threading.Thread(target=remove_when_busy, daemon=True)
        watcher.start()
        ropts = RayOptions(actors=args.actors, backend_factory=FakeFactory(log, args.sleep))
        # No --cache-dir: each node's own default (its SUMMARIZE_CACHE_DIR), the driver's is the head's.
        os.environ["SUMMARIZE_CACHE_DIR"] = str(base / "head")
        result = run_batch([args.corpus], _options(args, ropts, None))
        return {"counts": result.counts, "removed": removed,
                "workers": ropts.workers}
    finally:
        ray.shutdown()
        c.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=("run", "cluster"))
    for name in ("corpus", "out", "cache", "log"):
        parser.add_argument(name)
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--remove-after", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    data = run(args) if args.scenario == "run" else cluster(args)
    print(json.dumps(data), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
