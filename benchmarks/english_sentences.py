"""False alarms of the sentence-level English check (issue 11) on French news, and what the
clean-up changes there: OrangeSum *train* (never the test split), every sentence of every
article, plus abstracts and titles.

    python benchmarks/english_sentences.py [--limit N]

Prints the number of sentences judged, those flagged English (each printed: they should be
real English quotations), and the articles the clean-up changes (it should only cut inline
URLs and emphasis marks from this one-line prose).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path

from common import ROOT

from summarize.quality import language
from summarize.reading import cleanup
from summarize.quality.extractive import sentences

_SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "train").is_dir()),
               ROOT.parent / "shared")
TRAIN = Path(os.environ.get("SUMMARIZE_TRAIN", _SHARED / "train" / "orangesum" / "train.jsonl.gz"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    total, flagged, changed, articles = 0, [], 0, 0
    with gzip.open(TRAIN, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if args.limit is not None and i >= args.limit:
                break
            row = json.loads(line)
            articles += 1
            changed += cleanup.clean(row["document"]) != row["document"]
            for s in sentences(row["document"]) + sentences(row["abstract"]) + [row["title"]]:
                total += 1
                if language.is_english(s):
                    flagged.append(s)
    print(json.dumps({"articles": articles, "sentences": total, "flagged_english": len(flagged),
                      "cleanup_changed_articles": changed}))
    for s in flagged:
        print("  EN:", s)


if __name__ == "__main__":
    main()
