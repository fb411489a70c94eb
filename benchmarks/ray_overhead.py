"""Ray engine overhead: the same 40 OrangeSum dev documents through `--engine local` and
`--engine ray` (a local Ray on this machine), fresh caches, wall time model loads included.

    python benchmarks/ray_overhead.py [--docs 40] [--length short] [--configs 2xa,2x1,1x2]

Each config is ACTORSxTHREADS: actors, and llama.cpp threads per actor (= its Ray CPUs), or "a"
for the engine's default (1 Ray CPU per actor, threads from the free cores step by step, the
CPU slots of cpuslot.py). The local engine uses its default threads and --parallel 8; each Ray
actor decodes its block of 8 together.
The local Ray is started once, timed ("ray_start_seconds"), with cores + 1 CPU slots as the engine
starts it. Each engine's wall time splits into its start ("start_seconds" of sobriety.json: from
the command to the first model ready to decode: plan, actor pool, weights) and the rest, the
per-document time. Ratio = ray per-document time ÷ local per-document time for the first config
(goal ≤ 1.10, acceptance 8 of issue 14: "per-document overhead ... and the time to start");
"ratio_wall" divides the whole wall times, starts included.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from common import dev_documents, report

from summarize.batch import BatchOptions, run_batch
from summarize.engines.ray_data import RayOptions
from summarize.sobriety import usable_cores


def _run(corpus: Path, tmp: Path, name: str, **kw) -> tuple[float, dict]:
    options = BatchOptions(out=str(tmp / f"out-{name}"), cache_dir=str(tmp / f"cache-{name}"), length=kw.pop("length"),
                           synthese=False, **kw)
    start = time.perf_counter()
    result = run_batch([str(corpus)], options)
    wall = time.perf_counter() - start
    assert result.counts["ok"] == len(list(corpus.iterdir())), result.counts
    sobriety = json.loads((Path(options.out) / "sobriety.json").read_text())
    ray_fig = sobriety.get("ray") or {}
    return wall, {"start_seconds": sobriety["start_seconds"], "per_doc_seconds": wall - sobriety["start_seconds"],
                  "cpu_seconds": round(result.report.cpu_seconds, 1), "tokens_out": result.report.tokens_out,
                  "summaries": [r["summary"] for r in result.rows],
                  **({"actor_start_seconds": ray_fig["actor_start_seconds"]} if ray_fig else {})}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--length", default="short")
    ap.add_argument("--configs", default="2xa,2x1,1x2")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with tempfile.TemporaryDirectory(prefix="sray-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "corpus"
        corpus.mkdir()
        for row in dev_documents(args.docs):
            (corpus / f"{row['id']}.txt").write_text(row["document"], encoding="utf-8")
        local_s, local_fig = _run(corpus, tmp, "local", length=args.length)
        expected = local_fig.pop("summaries")
        local_per_doc = local_fig.pop("per_doc_seconds")
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=usable_cores() + 1, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, _temp_dir=str(tmp / "ray"))
        ray_start = time.perf_counter() - start
        runs = {}
        try:
            for config in args.configs.split(","):
                actors, threads = config.split("x")
                wall, fig = _run(corpus, tmp, config, length=args.length, engine="ray",
                                 threads=None if threads == "a" else int(threads), ray=RayOptions(actors=int(actors)))
                same = sum(a == b for a, b in zip(fig.pop("summaries"), expected))  # byte-identical to local
                per_doc = fig.pop("per_doc_seconds")
                runs[config] = {"seconds": round(wall, 1), "ratio_wall": round(wall / local_s, 3),
                                "ratio_per_document": round(per_doc / local_per_doc, 3), "same_summaries": same,
                                "overhead_ms_per_doc": round((per_doc - local_per_doc) / args.docs * 1000), **fig}
        finally:
            ray.shutdown()
    first = runs[args.configs.split(",")[0]]
    report("ray_overhead", first["ratio_per_document"], "<= 1.10", docs=args.docs, length=args.length,
           local_seconds=round(local_s, 1), local=local_fig, ray_start_seconds=round(ray_start, 1), ray=runs)


if __name__ == "__main__":
    main()
