"""Step 2: build length-tagged training examples and tokenize them with llama.cpp's tokenizer.

    python -m training.prepare --split train --out training/build/train.npz
    python -m training.prepare --split valid --out training/build/valid.npz

The prompt is the product's own: ``summarize.prompts`` renders the [tuned] template of
fr.toml, and the ids come from the GGUF's llama.cpp tokenizer (a vocab-only load, the one
the product tokenizes with), so training sees exactly the tokens inference will see. The
target is tokenized apart from the prompt (as generation continues from the prompt's last
token) and ends with the model's end-of-sequence token.

Input (``--input``, training/README.md says why): ``lead`` (default, extract-then-rewrite,
issue 23) shows the model the article's opening sentences, ``input_words()`` words for each
length, through fr.toml's [tuned] template (``{lead}``), the one the product prompts the
adapter with; ``document`` shows the whole article cut at ``--max-doc-tokens`` (the first design).

Targets: short = the abstract (``--short-target oracle``: the input's sentences closest to
it, ``oracle()``, README "rewrite-1 → select"); medium = the abstract then the input's sentences that best
extend it, 4 sentences in all; long = 9 sentences the same way (a target longer than the
length's max_tokens in fr.toml falls back to short). Grounded (issue 23): an abstract sentence
naming a date, a name or a number that the input does not hold (the product's own guards)
is cut; an abstract with nothing left is dropped.
"""
from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np


def data_dir() -> Path:
    """../shared/train/orangesum beside the checkout (a worktree may sit one level deeper)."""
    for parent in Path(__file__).resolve().parents[1:]:
        candidate = parent / "shared" / "train" / "orangesum"
        if candidate.is_dir():
            return candidate
    raise SystemExit("shared/train/orangesum not found beside this checkout: pass --data")

SPLITS = {"train": "train.jsonl.gz", "valid": "valid.jsonl.gz"}  # never the test split (eval/)
TOTAL_SENTENCES = {"medium": 4, "long": 9}
SHARES = (("short", 0.5), ("medium", 0.3), ("long", 0.2))


def input_words() -> dict[str, int]:
    """Words of opening sentences the model is shown per length (``--input lead``): fr.toml's
    [tuned] lead_words, which the product uses too. 120 for short: 69 % of the valid abstracts
    that pass the guards against their article also pass them against its first 120 words
    (47 % at 45, the bare prompt's lead; 55 % for the 120 most salient words: OrangeSum
    abstracts follow the lead). Measured on valid 0-599, README."""
    from summarize import prompts

    return dict(prompts.load("fr").data["tuned"]["lead_words"])
_WORD = re.compile(r"\w+", re.UNICODE)


class Tokenizer:
    """llama.cpp's tokenizer for a GGUF (vocab-only load: no weights)."""

    def __init__(self, gguf_path: str) -> None:
        from summarize.backends.native import open_llama

        self.llm = open_llama(gguf_path, vocab_only=True, verbose=False)
        self.eos = int(self.llm.token_eos())

    def encode(self, text: str, *, bos: bool) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False))

    def decode(self, ids: list[int]) -> str:
        return self.llm.detokenize(ids).decode("utf-8", errors="replace")


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 3}


def extend(abstract: str, title: str, document: str, total: int) -> str | None:
    """The abstract followed by article sentences up to ``total`` sentences, or None when the
    article has too few usable ones. A sentence is chosen for the words it shares with the
    title and abstract (it is on the subject) that the summary does not hold yet (it adds
    something); the chosen ones keep their article order."""
    from summarize.quality.extractive import sentences

    head = sentences(abstract) or [abstract]
    need = total - len(head)
    if need <= 0:
        return abstract
    topic = words(title) | words(abstract)
    pool = [s for s in sentences(document) if 6 <= len(s.split()) <= 60]
    covered = set(words(abstract))
    chosen: list[int] = []
    for _ in range(need):
        best, best_score = -1, 0.0
        for i, s in enumerate(pool):
            if i in chosen:
                continue
            w = words(s)
            if not w:
                continue
            new = w - covered
            score = len(w & topic) / len(w) + len(new) / len(w) if len(new) >= 0.4 * len(w) else 0.0
            if score > best_score:
                best, best_score = i, score
        if best < 0:
            return None
        chosen.append(best)
        covered |= words(pool[best])
    return " ".join([abstract.strip()] + [pool[i] for i in sorted(chosen)])


def oracle(reference: str, document: str, most: int = 3, keep: Callable[[str], bool] | None = None) -> str | None:
    """The input's sentences that best match the reference (greedy on ROUGE-1 + ROUGE-2 F1,
    unicode tokens), at most ``most``, in article order: an extractive target, grounded by
    construction, of the length the abstract's content spans in the input. ``keep``: which
    sentences may be chosen."""
    from summarize.quality.extractive import sentences
    from summarize.quality.rouge import Rouge

    rouge = Rouge(("unicode",))
    pool = [s for s in sentences(document) if 4 <= len(s.split()) <= 80 and (keep is None or keep(s))]

    def gain(chosen: list[int]) -> float:
        got = rouge.score(reference, " ".join(pool[i] for i in sorted(chosen)))["unicode"]
        return got["rouge1"] + got["rouge2"]

    chosen: list[int] = []
    best = 0.0
    while len(chosen) < most:
        scored = [(gain(chosen + [i]), -i) for i in range(len(pool)) if i not in chosen]  # ties: the earlier one
        if not scored or max(scored)[0] <= best:
            break
        best, i = max(scored)
        chosen.append(-i)
    return " ".join(pool[i] for i in sorted(chosen)) or None


def extended(abstract: str, document: str) -> str:
    """A short target of the length ROUGE rewards on OrangeSum (~45 words, where abstracts have
    ~30): the grounded abstract, then the input sentence closest to it (ROUGE-1 + ROUGE-2 F1)
    among those that add words to it (≥ 40 % new), so the target never repeats itself. The
    eighth session found the adapter's short summaries losing to the bare model on recall,
    not precision."""
    known = words(abstract)
    best = oracle(abstract, document, most=1, keep=lambda s: len(words(s) - known) >= 0.4 * max(len(words(s)), 1))
    return f"{abstract.strip()} {best}" if best else abstract.strip()


def length_of(example_id: str) -> str:
    """A fixed length tag per article (hash of its id): the same split on every run."""
    u = int.from_bytes(hashlib.sha256(example_id.encode()).digest()[:8], "big") / 2**64
    acc = 0.0
    for tag, share in SHARES:
        acc += share
        if u < acc:
            return tag
    return SHARES[-1][0]


def grounded(abstract: str, source: str) -> str | None:
    """The abstract without its sentences that name a date, a name or a number the source
    does not hold (the product's guards decide), or None when no sentence is left."""
    from summarize.quality import guards
    from summarize.quality.extractive import sentences

    kept = [s for s in (sentences(abstract) or [abstract])
            if not (guards.invented_dates(s, source) or guards.invented_names(s, source)
                    or guards.invented_numbers(s, source))]
    text = " ".join(kept).strip()
    return text if len(text.split()) >= 6 else None


def rewrite_prompts(words: dict[str, int] | None = None) -> Any:
    """The product's prompt set for the tuned model (fr.toml [tuned]: ``{lead}``, whole opening
    sentences, ``lead_words[length]`` words, for single documents), optionally with other
    word budgets (``words``: a measurement of the input length)."""
    from summarize import prompts

    tuned = prompts.load("fr").tuned()
    if not words:
        return tuned
    data = copy.deepcopy(tuned.data)
    for length, n in words.items():
        data["lengths"][length]["lead_words"] = n
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return prompts.PromptSet(version=tuned.version, digest=digest, data=data)


def fit_document(document: str, tok: Tokenizer, max_tokens: int) -> str:
    """Whole leading sentences within ``max_tokens`` (the targets are taken from what is kept)."""
    from summarize.quality.extractive import sentences

    kept, used = [], 0
    for s in sentences(document):
        n = len(tok.encode(" " + s, bos=False))
        if used + n > max_tokens:
            break
        kept.append(s)
        used += n
    return " ".join(kept)


@dataclass
class Example:
    id: str
    length: str
    prompt: list[int]
    target: list[int]


@dataclass
class Counts:
    """What the grounding did to the abstracts (printed by main, reported in README)."""

    whole: int = 0
    trimmed: int = 0
    dropped: int = 0
    too_short: int = 0
    ungrounded: int = 0  # --short-target oracle: kept, the abstract not grounded in the input


def build(rows: Iterator[dict[str, Any]], tok: Tokenizer, max_doc_tokens: int, *, input_mode: str = "lead",
          counts: Counts | None = None, short_target: str = "abstract",
          lead_words: dict[str, int] | None = None) -> Iterator[Example]:
    from summarize import prompts
    from summarize.quality.extractive import opening
    from summarize.reading.text import normalize

    budget = {**input_words(), **(lead_words or {})}  # an override is a measurement until fr.toml takes it
    tuned = rewrite_prompts(budget if lead_words else None)
    if input_mode == "document":  # the first design: the whole (cut) document
        data = copy.deepcopy(tuned.data)
        data["base"]["single"] = data["base"]["single"].replace("{lead}", "{document}")
        tuned = prompts.PromptSet(version=tuned.version, digest=tuned.digest, data=data)
    counts = counts if counts is not None else Counts()
    for row in rows:
        document = normalize(row["document"])
        if input_mode == "document":
            document = fit_document(document, tok, max_doc_tokens)
        if len(document.split()) < 30:
            counts.too_short += 1
            continue
        made = None
        for length in dict.fromkeys((length_of(row["id"]), "short")):  # the hashed tag, else short
            shown = opening(document, budget[length]) if input_mode == "lead" else document
            abstract = grounded(row["abstract"], shown)
            extractive = length == "short" and short_target == "oracle"  # copied sentences: grounded by construction
            if abstract is None and not extractive:
                continue
            text = abstract or ""
            if extractive:
                text = oracle(row["abstract"], shown) or ""
            elif length != "short":
                text = extend(abstract, row.get("title", ""), shown, TOTAL_SENTENCES[length]) or ""
            elif short_target == "extended":
                text = extended(abstract, shown)
            ids = tok.encode(text, bos=False) + [tok.eos]
            if text and len(ids) <= tuned.max_tokens(length):  # must end within the product's budget
                made = length, abstract, ids
                break
        if made is None:
            counts.dropped += 1
            continue
        length, abstract, ids = made
        if abstract is None:
            counts.ungrounded += 1
        elif abstract == row["abstract"].strip():
            counts.whole += 1
        else:
            counts.trimmed += 1
        prompt = tuned.render("single", document, chat=False, length=length)
        yield Example(row["id"], length, tok.encode(prompt.text or "", bos=True), ids)


def read_rows(split: str, limit: int | None, data: Path | None = None) -> Iterator[dict[str, Any]]:
    if split not in SPLITS:
        raise SystemExit(f"unknown split {split!r}: only {', '.join(SPLITS)} may be used for training")
    with gzip.open((data or data_dir()) / SPLITS[split], "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                return
            yield json.loads(line)


def save(examples: list[Example], path: str | Path) -> None:
    """Flat uint32 ids + offsets (compact enough to carry to a training machine)."""
    flat = np.fromiter((t for e in examples for t in e.prompt + e.target), dtype=np.uint32)
    lengths = np.array([len(e.prompt) + len(e.target) for e in examples], dtype=np.int64)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ids=flat, offsets=np.concatenate([[0], np.cumsum(lengths)]),
                        n_prompt=np.array([len(e.prompt) for e in examples], dtype=np.int64),
                        length=np.array([e.length for e in examples]), id=np.array([e.id for e in examples]))


def load_tags(path: str | Path) -> list[str]:
    """Each example's length tag (short / medium / long), in load()'s order."""
    return [str(t) for t in np.load(path)["length"]]


def load(path: str | Path) -> list[tuple[np.ndarray, int]]:
    """[(ids, n_prompt)] as saved by save()."""
    z = np.load(path)
    ids, off, n_prompt = z["ids"], z["offsets"], z["n_prompt"]
    return [(ids[off[i]:off[i + 1]].astype(np.int64), int(n_prompt[i])) for i in range(len(n_prompt))]


def main(argv: list[str] | None = None) -> int:
    from .gguf_to_hf import default_gguf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=list(SPLITS), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, help="first N articles only (CPU demo)")
    ap.add_argument("--input", choices=("lead", "document"), default="lead",
                    help="what the model is shown: the opening sentences (extract-then-rewrite) or the article")
    ap.add_argument("--short-target", choices=("abstract", "oracle", "extended"), default="abstract",
                    help="short targets: the grounded abstract, the input's sentences closest to it (oracle), "
                         "or the abstract then the input sentence closest to it (extended)")
    ap.add_argument("--lead-words", action="append", default=[], metavar="LENGTH=N",
                    help="show N opening words for LENGTH instead of fr.toml's [tuned] lead_words (e.g. short=60)")
    ap.add_argument("--max-doc-tokens", type=int, default=1024, help="--input document: the article's cut")
    ap.add_argument("--gguf", help="default: the embedded gemma3-270m")
    ap.add_argument("--data", type=Path, help="folder with train/valid.jsonl.gz (default: ../shared/train/orangesum)")
    args = ap.parse_args(argv)
    try:
        lead_words = {k: int(v) for k, v in (item.split("=", 1) for item in args.lead_words)}
    except ValueError:
        ap.error("--lead-words takes LENGTH=N, e.g. short=60")
    if set(lead_words) - set(input_words()):
        ap.error(f"--lead-words: lengths are {', '.join(input_words())}")
    tok = Tokenizer(args.gguf or default_gguf())
    counts = Counts()
    examples = list(build(read_rows(args.split, args.limit, args.data), tok, args.max_doc_tokens,
                          input_mode=args.input, counts=counts, short_target=args.short_target,
                          lead_words=lead_words))
    save(examples, args.out)
    lengths = {tag: sum(e.length == tag for e in examples) for tag, _ in SHARES}
    tokens = sum(len(e.prompt) + len(e.target) for e in examples)
    print(json.dumps({"examples": len(examples), "lengths": lengths, "abstracts": vars(counts), "tokens": tokens,
                      "target_tokens": sum(len(e.target) for e in examples), "out": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
