"""What the attribution (issue 20) adds to a summary's time: a real run of the default model
with no cache, the attribution's own calls timed inside it.

    python benchmarks/attribution_speed.py [FILE ...]   (default: the short seed 001 and the 57 KB deck 002)

Timed: every passage index built (the support guard's, per model call, and the final one),
the support guard's ``keep_supported`` and the final attribution of the summary. Goal: ≤ 5 %
of a single summary's time, ≤ 1 s on the deck.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from summarize import summarizer as pipeline  # noqa: E402
from summarize.quality import attribution  # noqa: E402
from summarize.reading.readers import read_document  # noqa: E402

SPENT = {"seconds": 0.0, "calls": 0}


def _timed(fn):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT["seconds"] += time.perf_counter() - start
            SPENT["calls"] += 1
    return wrapper


def main() -> None:
    files = sys.argv[1:] or [str(ROOT / "seeds" / "001_188ff14e355e4071.txt"), str(ROOT / "seeds" / "002_81a4195dbaf77c66.txt")]
    attribution.keep_supported = _timed(attribution.keep_supported)
    attribution.Index.__init__ = _timed(attribution.Index.__init__)
    attribution.attribute = _timed(attribution.attribute)
    s = pipeline.Summarizer(use_cache=False)
    s.load_model()
    for path in files:
        doc = read_document(path)
        SPENT.update(seconds=0.0, calls=0)
        start = time.perf_counter()
        result = s.summarize_text(doc.text, source=path, layout=doc.layout)
        total = time.perf_counter() - start
        print(json.dumps({"file": Path(path).name, "chars": len(doc.text), "method": result.method,
                          "seconds": round(total, 2), "attribution_seconds": round(SPENT["seconds"], 3),
                          "share": round(SPENT["seconds"] / total, 4), "supported": result.supported,
                          "sentences": len(result.sentences or [])}))
    s.close()


if __name__ == "__main__":
    main()
