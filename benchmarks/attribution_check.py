"""A labelled check of the attribution's support rule (issue 20): OrangeSum abstracts
corrupted in known ways must be flagged, untouched grounded ones kept.

    python benchmarks/attribution_check.py [--split valid|train] [--limit N] [--json]

For each article of the split (train/valid only, never the test split), each sentence of its
abstract that is *lexically grounded* in the article — its numbers, names and dates are in
the article (the guards' own checks) and ≥ 75 % of its content stems too — is scored as is
(it should be supported) and in up to five corrupted versions (each should be flagged):

* number: one number replaced by another the article never writes;
* name: one capitalized name replaced by a surname the article never writes;
* place: a place after « à / au / aux / en / dans » replaced by one the article never names;
* negation: the first auxiliary negated (« a été » → « n'a pas été »), or a negation removed;
* attached: the first sentence of another article's abstract, not grounded in this article.

Prints the confusion table (kept / flagged per kind). Deterministic: a fixed seed per article.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from summarize.quality import guards  # noqa: E402
from summarize.quality import lexicon  # noqa: E402
from summarize.quality.attribution import Index, split  # noqa: E402

_SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "train").is_dir()),
               ROOT.parent / "shared")
SPLITS = {name: Path(os.environ.get("SUMMARIZE_TRAIN_DIR", _SHARED / "train" / "orangesum")) / f"{name}.jsonl.gz"
          for name in ("train", "valid")}
KINDS = ("number", "name", "place", "negation", "attached")  # the kinds: the ≥ 90 % goal
EXTRA = ("word",)  # measured and shown, outside the goal: a lexical rule's known limit
GROUNDED_STEMS = 0.75
SURNAMES = ("Lefebvre", "Garnier", "Fournier", "Mercier", "Fontaine", "Rousseau", "Chevalier", "Gauthier",
            "Perrin", "Morin", "Clement", "Barbier", "Arnaud", "Marchand", "Duval", "Brunet", "Schmitt", "Colin")
PLACES = {"à": ("Lyon", "Marseille", "Toulouse", "Bordeaux", "Lille", "Nantes", "Strasbourg", "Rennes", "Grenoble",
                "Montpellier", "Dijon", "Brest", "Limoges", "Rouen", "Reims", "Metz", "Bayonne", "Annecy"),
          "en": ("Espagne", "Italie", "Allemagne", "Belgique", "Suisse", "Pologne", "Grèce", "Turquie", "Norvège",
                 "Irlande", "Bretagne", "Normandie", "Alsace", "Corse"),
          "au": ("Portugal", "Brésil", "Canada", "Japon", "Mexique", "Maroc", "Danemark", "Chili", "Pérou"),
          "aux": ("Pays-Bas", "Philippines", "Antilles", "Baléares")}
PLACES["dans"] = PLACES["à"]
_PLACE = re.compile(r"(?<![\w'])(à|au|aux|en|dans)\s+(?:la\s+|le\s+|l')?([A-ZÀ-ÖØ-Ý][\w-]+)")
_AUX = re.compile(r"(?<=[\s'’])(est|sont|a|ont|était|étaient|sera|seront|va|vont|peut|peuvent|doit|doivent|avait|"
                  r"avaient|fait|font|devrait|pourrait|reste|restent)(?=\s)")
_NEGATED = re.compile(r"\b(?:ne\s+|n['’])((?:(?:l['’]|s['’]|y\s|en\s|se\s|le\s|la\s|les\s|lui\s)?)\w+)\s+"
                      r"(?:pas|plus|jamais)\s+", re.IGNORECASE)
_CLITIC_BEFORE = re.compile(r"(?:\b(?:il|elle|on|ils|elles|qui|ce|cela)\s+)(?:(?:l|s|m|t)['’]|y\s|en\s|se\s|le\s|"
                            r"la\s|les\s|lui\s)$", re.IGNORECASE)


def rows(split_name: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
    with gzip.open(SPLITS[split_name], "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if limit is not None and n >= limit:
                return
            yield json.loads(line)


def grounded(sentence: str, article: str) -> bool:
    """Lexically grounded: the guards find no invented number, name or date, and most content
    stems are in the article (checked on the whole article, not on passages)."""
    if guards.invented_numbers(sentence, article) or guards.invented_names(sentence, article) \
            or guards.invented_dates(sentence, article):
        return False
    mine = guards.content_stems(sentence)
    return len(mine) >= 3 and len(mine & guards.content_stems(article)) >= GROUNDED_STEMS * len(mine)


def corrupt_number(s: str, article: str, rng: random.Random) -> str | None:
    found = [m for m in guards.NUMBER.finditer(s) if re.fullmatch(r"\d+", m.group().strip())]
    if not found:
        return None
    m = rng.choice(found)
    known = lexicon.numbers(article)
    value = int(m.group())
    for delta in rng.sample([1, 2, 3, 5, 7, 10, 12, 15, 20, 30], 10):
        new = value + delta if rng.random() < 0.6 or value <= delta else value - delta
        if str(new) not in known:
            return s[: m.start()] + str(new) + s[m.end():]
    return None


def _places(s: str) -> list[re.Match]:
    return [m for m in _PLACE.finditer(s) if lexicon.fold(m.group(2)) not in lexicon.FUNCTION_WORDS]


def corrupt_place(s: str, article: str, rng: random.Random) -> str | None:
    found = _places(s)
    if not found:
        return None
    m = rng.choice(found)
    known = lexicon.folded_words(article)
    options = [p for p in PLACES[m.group(1)] if not lexicon.folded_words(p) & known]
    if not options:
        return None
    return s[: m.start(2)] + rng.choice(options) + s[m.end(2):]


def corrupt_name(s: str, article: str, rng: random.Random) -> str | None:
    place_spans = {m.start(2) for m in _places(s)}
    found = [m for m in re.finditer(r"(?<=[\w,;:»\"]\s)[A-ZÀ-ÖØ-Ý][a-zà-ÿ][\w-]{2,}", s)
             if m.start() not in place_spans and lexicon.fold(m.group()) not in lexicon.FUNCTION_WORDS]
    if not found:
        return None
    m = rng.choice(found)
    known = lexicon.folded_words(article)
    options = [n for n in SURNAMES if lexicon.fold(n) not in known]
    return s[: m.start()] + rng.choice(options) + s[m.end():]


def corrupt_negation(s: str, rng: random.Random) -> str | None:
    neg = _NEGATED.search(s)
    if neg:  # remove it: « n'a pas été » → « a été »
        return s[: neg.start()] + neg.group(1) + " " + s[neg.end():]
    for m in _AUX.finditer(s):
        clitic = _CLITIC_BEFORE.search(s[: m.start()])
        if clitic:  # « il s'est » → « il ne s'est pas »
            at = clitic.start() + len(clitic.group().split()[0]) + 1
            return s[:at] + "ne " + s[at: m.end()] + " pas" + s[m.end():]
        if s[m.start() - 1] in "'’":
            continue  # « qu'est », « c'est » without a subject before: not this verb
        verb = m.group()
        return s[: m.start()] + ("n'" if verb[0] in "aeéiouy" else "ne ") + verb + " pas" + s[m.end():]
    return None


_LOWER_WORD = re.compile(r"(?<![\w'’-])[a-zà-ÿ]{5,}(?![\w'’-])")


def corrupt_word(s: str, article: str, donor: str, rng: random.Random) -> str | None:
    """One content word swapped for one the article never uses, taken from another abstract:
    the small model's « éco-idéal » for « écocidaire »."""
    found = [m for m in _LOWER_WORD.finditer(s) if lexicon.fold(m.group()) not in lexicon.FUNCTION_WORDS]
    known = lexicon.stems(article)
    options = sorted({m.group() for m in _LOWER_WORD.finditer(donor)
                      if lexicon.fold(m.group()) not in lexicon.FUNCTION_WORDS and not lexicon.stems(m.group()) & known})
    if not found or not options:
        return None
    m = rng.choice(found)
    return s[: m.start()] + rng.choice(options) + s[m.end():]


def cases(data: list[dict[str, Any]], seed: int = 20) -> Iterator[tuple[str, str, str]]:
    """(kind, sentence, article): kind « untouched » or a corruption."""
    for n, row in enumerate(data):
        article = row["document"]
        rng = random.Random(f"{seed}-{row['id']}")
        for sentence in split(row["abstract"]):
            if not grounded(sentence, article):
                continue
            yield "untouched", sentence, article
            for kind, made in (("number", corrupt_number(sentence, article, rng)),
                               ("name", corrupt_name(sentence, article, rng)),
                               ("place", corrupt_place(sentence, article, rng)),
                               ("negation", corrupt_negation(sentence, rng)),
                               ("word", corrupt_word(sentence, article,
                                                     data[rng.randrange(len(data))]["abstract"], rng))):
                if made and made != sentence:
                    yield kind, made, article
            for _ in range(5):  # another article's first abstract sentence, not grounded here
                other = data[rng.randrange(len(data))]
                first = next(iter(split(other["abstract"])), "")
                if other is not row and first and not grounded(first, article):
                    yield "attached", first, article
                    break


def check(data: list[dict[str, Any]]) -> dict[str, Any]:
    """The confusion table: per kind, how many sentences the rule keeps and flags."""
    table: dict[str, Counter] = {k: Counter() for k in ("untouched", *KINDS, *EXTRA)}
    examples: dict[str, list[str]] = {k: [] for k in table}
    index, indexed = None, None
    started = time.perf_counter()
    for kind, sentence, article in cases(data):
        if article is not indexed:
            index, indexed = Index(article), article
        verdict = "kept" if index.support(sentence).supported else "flagged"
        table[kind][verdict] += 1
        wrong = (verdict == "flagged") == (kind == "untouched")
        if wrong and len(examples[kind]) < 5:
            examples[kind].append(sentence)
    corrupted = Counter()
    for k in KINDS:
        corrupted.update(table[k])
    untouched = table["untouched"]
    return {"articles": len(data), "seconds": round(time.perf_counter() - started, 2),
            "table": {k: dict(v) for k, v in table.items()},
            "kept_untouched": round(untouched["kept"] / max(1, sum(untouched.values())), 4),
            "flagged_corrupted": round(corrupted["flagged"] / max(1, sum(corrupted.values())), 4),
            "flagged_by_kind": {k: round(table[k]["flagged"] / max(1, sum(table[k].values())), 4) for k in (*KINDS, *EXTRA)},
            "errors": examples}


def format_table(result: dict[str, Any]) -> str:
    lines = ["| sentences | n | kept (supported) | flagged (unsupported) | correct |", "|---|---:|---:|---:|---:|"]
    for kind, counts in result["table"].items():
        n = sum(counts.values())
        good = counts.get("kept" if kind == "untouched" else "flagged", 0)
        lines.append(f"| {kind} | {n} | {counts.get('kept', 0)} | {counts.get('flagged', 0)} | "
                     f"{100 * good / max(1, n):.1f} % |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=sorted(SPLITS), default="valid")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = check(list(rows(args.split, args.limit)))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    print(format_table(result))
    print(f"\nkept untouched: {100 * result['kept_untouched']:.1f} %   flagged corrupted: "
          f"{100 * result['flagged_corrupted']:.1f} %   ({result['articles']} articles, {result['seconds']} s)")
    for kind, bad in result["errors"].items():
        for s in bad:
            print(f"  wrong on {kind}: {s}")


if __name__ == "__main__":
    main()
