"""The support rule on real model errors (issue 20, acceptance 4): sentences the default model
(gemma3-270m) really wrote, labelled by hand, scored against their document.

    python benchmarks/invented_check.py [--set dev|held-out] [--json] [--show]

benchmarks/data/invented.jsonl holds one sentence a line: {doc, set, length, sentence, label,
why}. ``doc`` is « seed:FILE » (seeds/FILE) or « valid:ID » (an OrangeSum *valid* article; never
the test split); ``label`` is « invented » (a name, place, role, event, figure, quote, negation
or attribution the document does not give, or a contradiction of it), « faithful » (a copy or
a paraphrase a careful reader accepts) or « unclear » (left out of the figures). The sentences
were collected by benchmarks/invented_collect.py: every output of the model that the support
rule sees, each attempt, before its unsupported sentences are dropped. ``set`` « dev » is what
the rule was designed on (the seeds and the first 40 valid articles), « held-out » the next 60
valid articles, labelled before the new rule scored them.

Each sentence is scored against its whole document as read (for the deck's chunk outputs too:
the final attribution of a summary is against the whole document), with the rule of
summarize/quality/attribution.py. Prints invented sentences flagged and faithful ones kept.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DATA = ROOT / "benchmarks" / "data" / "invented.jsonl"


def load(path: Path = DATA) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def documents(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The text of every document the rows name: seeds from the repository, valid articles
    from the shared OrangeSum split (attribution_check.SPLITS)."""
    from summarize.reading.text import normalize

    docs: dict[str, str] = {}
    wanted = {r["doc"] for r in rows}
    for name in wanted:
        if name.startswith("seed:"):
            docs[name] = normalize((ROOT / "seeds" / name[5:]).read_text(encoding="utf-8"))
    valid = {name[6:] for name in wanted if name.startswith("valid:")}
    if valid:
        import attribution_check

        for row in attribution_check.rows("valid"):
            if row["id"] in valid:
                docs["valid:" + row["id"]] = normalize(row["document"])
                valid.discard(row["id"])
                if not valid:
                    break
    return docs


def check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from summarize.quality.attribution import Index, piece_supported, split

    docs = documents(rows)
    indexes: dict[str, Index] = {}
    table: dict[str, Counter] = {"invented": Counter(), "faithful": Counter(), "unclear": Counter()}
    wrong: dict[str, list[dict[str, Any]]] = {"invented": [], "faithful": []}
    for row in rows:
        if row["doc"] not in docs:
            continue  # the shared split is absent
        index = indexes.get(row["doc"]) or indexes.setdefault(row["doc"], Index(docs[row["doc"]]))
        kept = piece_supported(index, row["sentence"])  # as keep_supported judges a model's output
        table[row["label"]]["kept" if kept else "flagged"] += 1
        if row["label"] in wrong and kept == (row["label"] == "invented"):
            missing = [m for part in split(row["sentence"]) for m in index.support(part).missing]
            wrong[row["label"]].append({"sentence": row["sentence"], "why": row["why"], "missing": missing})
    inv, fai = table["invented"], table["faithful"]
    return {"sentences": len(rows), "table": {k: dict(v) for k, v in table.items()},
            "flagged_invented": round(inv["flagged"] / max(1, sum(inv.values())), 4),
            "kept_faithful": round(fai["kept"] / max(1, sum(fai.values())), 4), "wrong": wrong}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=("dev", "held-out"), default=None, help="one set only (default: both)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", action="store_true", help="print the sentences the rule gets wrong")
    args = parser.parse_args()
    rows = [r for r in load() if args.set is None or r["set"] == args.set]
    result = check(rows)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    t = result["table"]
    print("| sentences | n | kept (supported) | flagged (unsupported) |\n|---|---:|---:|---:|")
    for label in ("invented", "faithful", "unclear"):
        print(f"| {label} | {sum(t[label].values())} | {t[label].get('kept', 0)} | {t[label].get('flagged', 0)} |")
    print(f"\ninvented flagged: {100 * result['flagged_invented']:.1f} %   "
          f"faithful kept: {100 * result['kept_faithful']:.1f} %")
    if args.show:
        for label, bad in result["wrong"].items():
            for w in bad:
                print(f"  wrong on {label}: {w['sentence'][:160]}  ({w['why'][:80]}; missing {w['missing']})")


if __name__ == "__main__":
    main()
