"""`summarize eval`: run the pipeline over a JSONL set and score it against references.

Input lines are {"id", "document", "reference", ...}. Either every document goes through
the real ``Summarizer`` (guards, retry and fallback included), or ``system_field`` names a
field whose text is scored as is (the BARThez outputs, or lead baselines), by the same code.

Reported: ROUGE-1/2/L F1 with the paper's scorer and a Unicode-aware one, for all final
summaries and for the model-written ones alone (method ≠ extractive-fallback); the French
rate and degenerate/echo counts of the final texts; guard failures by reason; method
counts; documents per second. Faithfulness (issue 20, quality/faithfulness.py): the share of
summary sentences a source passage supports and the invented-entity rate (numbers, names,
dates the article never writes), for the system and, on the same documents, for the
reference and the lead-1 and extractive baselines.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TextIO

from .errors import DocumentError, UsageError
from .quality import guards
from .quality.attribution import Index
from .quality.faithfulness import Faithfulness
from .quality.rouge import SCORERS, TYPES, Rouge, RougeTotals

FALLBACK = "extractive-fallback"


def _lead1(doc: str) -> str:
    from .quality.extractive import sentences

    return next(iter(sentences(doc)), "")


# Baselines computed from the document when the file has no field of that name, so that
# `--system-field lead-1` scores them with the same code as the BARThez outputs.
BASELINES: dict[str, Callable[[str], str]] = {
    "lead-1": _lead1,  # the article's first sentence
    "lead-45": lambda doc: " ".join(doc.split()[:45]),  # its first 45 words
    "extractive": lambda doc: _extractive(doc),  # the pipeline's fallback for a short summary
}


# Faithfulness is also measured, on the same articles, for these texts (issue 20).
FAITH_BASELINES: dict[str, Callable[[str, str], str]] = {
    "reference": lambda reference, doc: reference,
    "lead-1": lambda reference, doc: _lead1(doc),
    "extractive": lambda reference, doc: _extractive(doc),
}


def _extractive(doc: str) -> str:
    from .quality.extractive import lead

    return lead(doc, "short")
Progress = Callable[[int, int, dict[str, Any]], None]  # (done, total, per-document row)


@dataclass
class Report:
    path: str
    system: str  # model name, or "field:NAME"
    length: str
    documents: int = 0
    seconds: float = 0.0
    rouge: dict[str, dict[str, float]] = field(default_factory=dict)  # all final summaries
    rouge_model: dict[str, dict[str, float]] = field(default_factory=dict)  # model-written only
    model_documents: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    guard_failures: dict[str, int] = field(default_factory=dict)  # failed attempts, by reason
    documents_with_failures: int = 0
    final_checks: dict[str, int] = field(default_factory=dict)  # guards re-run on final texts
    french_rate: float = 0.0
    mean_words: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: int = 0
    faithfulness: dict[str, Any] = field(default_factory=dict)  # supported share, invented-entity rate
    faithfulness_baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # reference, lead-1, extractive

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    @property
    def fallback_rate(self) -> float:
        return self.methods.get(FALLBACK, 0) / self.documents if self.documents else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(docs_per_second=round(self.docs_per_second, 4), fallback_rate=round(self.fallback_rate, 4))
        return out


def read_jsonl(path: str, *, limit: int | None = None, system_field: str | None = None) -> list[dict[str, Any]]:
    """Eval records; a malformed line is an error with its line number, never skipped."""
    src = Path(path)
    if not src.is_file():
        raise DocumentError("evaluation file not found", path=path, hint="give a JSONL file of {id, document, reference}")
    rows: list[dict[str, Any]] = []
    needed = ("document", "reference") + ((system_field,) if system_field and system_field not in BASELINES else ())
    with src.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DocumentError(f"line {n} is not JSON ({exc.msg})", path=path) from None
            missing = [k for k in needed if not isinstance(row.get(k), str)]
            if missing:
                raise DocumentError(f"line {n} lacks the text field(s) {', '.join(missing)}", path=path,
                                    hint=f"fields present: {', '.join(sorted(row))}")
            row.setdefault("id", f"line-{n}")
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    if not rows:
        raise DocumentError("evaluation file has no records", path=path)
    return rows


@dataclass
class _Tally:
    """Accumulates per-document rows into a Report."""

    report: Report
    rouge: Rouge = field(default_factory=Rouge)
    all_t: dict[str, RougeTotals] = field(default_factory=lambda: {k: RougeTotals(k) for k in SCORERS})
    model_t: dict[str, RougeTotals] = field(default_factory=lambda: {k: RougeTotals(k) for k in SCORERS})
    methods: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    finals: Counter = field(default_factory=Counter)
    words: int = 0
    french: int = 0
    faith: Faithfulness = field(default_factory=Faithfulness)
    baselines: dict[str, Faithfulness] = field(default_factory=lambda: {k: Faithfulness() for k in FAITH_BASELINES})

    def add(self, row: dict[str, Any], summary: str, reference: str, source: str, *, method: str,
            failures: Iterable[str], template: str, max_words: int) -> dict[str, Any]:
        scores = self.rouge.score(reference, summary)
        for kind in SCORERS:
            self.all_t[kind].add(scores[kind])
            if method != FALLBACK:
                self.model_t[kind].add(scores[kind])
        failures = list(failures)
        self.methods[method] += 1
        self.failures.update(f.split(":", 1)[-1] for f in failures)
        self.report.documents_with_failures += bool(failures)
        final = guards.check(summary, source, template=template, max_words=max_words)
        self.finals.update(final)
        self.french += guards.NOT_FRENCH not in final and guards.EMPTY not in final
        self.words += len(guards.words(summary))
        self.report.documents += 1
        index = Index(source)  # one passage index per article, for every system scored on it
        faith = self.faith.add(summary, index)
        for name, baseline in FAITH_BASELINES.items():
            self.baselines[name].add(baseline(reference, source), index)
        return {"id": row["id"], "summary": summary, "reference": reference, "method": method,
                "guard_failures": failures, "final_checks": final, "faithfulness": faith,
                "rouge": {k: {t: round(100 * v, 2) for t, v in s.items()} for k, s in scores.items()}}

    def finish(self, seconds: float) -> Report:
        r = self.report
        r.seconds = round(seconds, 2)
        r.rouge = {k: t.means() for k, t in self.all_t.items()}
        r.rouge_model = {k: t.means() for k, t in self.model_t.items()}
        r.model_documents = self.model_t["paper"].n
        r.methods = dict(self.methods)
        r.guard_failures = dict(self.failures.most_common())
        r.final_checks = dict(self.finals.most_common())
        r.french_rate = round(self.french / r.documents, 4) if r.documents else 0.0
        r.mean_words = round(self.words / r.documents, 1) if r.documents else 0.0
        r.faithfulness = self.faith.as_dict()
        r.faithfulness_baselines = {k: f.as_dict() for k, f in self.baselines.items()}
        return r


def evaluate(path: str, *, model: str | None = None, length: str = "short", system_field: str | None = None,
             limit: int | None = None, threads: int | None = None, use_cache: bool = False,
             cache_dir: str | None = None, per_doc: TextIO | None = None,
             progress: Progress | None = None, summarizer: Any = None) -> Report:
    """Score a JSONL set; ``per_doc`` receives one JSON line per document as it is done."""
    rows = read_jsonl(path, limit=limit, system_field=system_field)
    if system_field:
        return _run(path, rows, f"field:{system_field}", length, per_doc, progress,
                    _field_source(rows, system_field))
    if summarizer is None:
        from .summarizer import Summarizer

        summarizer = Summarizer(model, length=length, use_cache=use_cache, cache_dir=cache_dir, threads=threads,
                                cite=False)  # faithfulness is measured below, for every system alike
    try:
        return _run(path, rows, summarizer.ref.name, length, per_doc, progress, _model_source(rows, summarizer))
    finally:
        summarizer.close()


Source = Iterator[tuple[dict[str, Any], str, str, list[str], int, int]]  # row, summary, method, failures, tok


def _field_source(rows: list[dict[str, Any]], name: str) -> Source:
    for row in rows:
        text = row[name] if isinstance(row.get(name), str) else BASELINES[name](row["document"])
        yield row, text, "field", [], 0, 0


def _model_source(rows: list[dict[str, Any]], summarizer: Any) -> Source:
    from .errors import SummarizeError

    for row in rows:
        try:
            result = summarizer.summarize_text(row["document"], source=str(row["id"]))
        except SummarizeError as exc:  # one bad record is reported, and the run goes on
            yield row, "", f"error: {exc}", [], 0, 0
            continue
        yield row, result.summary, result.method, result.guard_failures, result.tokens_in, result.tokens_out


def _run(path: str, rows: list[dict[str, Any]], system: str, length: str, per_doc: TextIO | None,
         progress: Progress | None, source: Source) -> Report:
    from .prompts import load

    if length not in ("short", "medium", "long"):
        raise UsageError(f"unknown length {length!r}", hint="use short, medium or long")
    prompts = load()
    # Echo is judged against every prompt the models could have seen (base and chat, retries).
    template = "\n".join(_template_text(prompts.render("single", "", chat=c, length=length, retry=r))
                          for c in (False, True) for r in (False, True))
    max_words = int(prompts.max_tokens(length) * 1.2)
    tally = _Tally(Report(path=path, system=system, length=length))
    start = last = time.perf_counter()
    for done, (row, summary, method, failures, t_in, t_out) in enumerate(source, 1):
        now = time.perf_counter()
        seconds, last = now - last, now
        tally.report.tokens_in += t_in
        tally.report.tokens_out += t_out
        if method.startswith("error"):
            tally.report.errors += 1
            method = "error"
        out = tally.add(row, summary, row["reference"], row["document"], method=method, failures=failures,
                        template=template, max_words=max_words)
        out.update(seconds=round(seconds, 2), tokens_in=t_in, tokens_out=t_out)
        if per_doc is not None:
            per_doc.write(json.dumps(out, ensure_ascii=False) + "\n")
            per_doc.flush()
        if progress is not None:
            progress(done, len(rows), out)
    return tally.finish(time.perf_counter() - start)


def _template_text(prompt: Any) -> str:
    return prompt.text or "\n".join(c for _, c in prompt.messages or ())


def format_report(r: Report) -> str:
    """Plain-text table for the terminal."""
    def line(name: str, scores: dict[str, dict[str, float]]) -> list[str]:
        return [f"  {name:<28} {kind:<8} " + " / ".join(f"{scores[kind][t]:5.2f}" for t in TYPES)
                for kind in SCORERS if kind in scores]

    out = [f"{r.system} on {r.path} ({r.documents} documents, length {r.length})",
           f"ROUGE F1 ×100               scorer   R-1 / R-2 / R-L"]
    out += line("all final summaries", r.rouge)
    if not r.system.startswith("field:"):
        out += line(f"model-written ({r.model_documents})", r.rouge_model)
    out += [f"French: {100 * r.french_rate:.1f}%   mean length: {r.mean_words} words",
            "methods: " + ", ".join(f"{k} {v} ({100 * v / r.documents:.1f}%)" for k, v in sorted(r.methods.items())),
            "guard failures (attempts): " + (", ".join(f"{k} {v}" for k, v in r.guard_failures.items()) or "none")
            + f"; documents with ≥1 failure: {r.documents_with_failures}",
            "checks on final texts: " + (", ".join(f"{k} {v}" for k, v in r.final_checks.items()) or "all pass"),
            "faithfulness              supported sentences / invented entities",
            *(f"  {name:<24} {_pct(f.get('supported_share'))} of {f['sentences']}   "
              f"{_pct(f.get('invented_entity_rate'))} of {f['entities']}"
              for name, f in [(r.system, r.faithfulness), *r.faithfulness_baselines.items()] if f),
            f"time: {r.seconds:.1f} s, {r.docs_per_second:.2f} documents/s"
            + (f", tokens in/out {r.tokens_in}/{r.tokens_out}" if r.tokens_in else "")]
    return "\n".join(out)


def _pct(share: float | None) -> str:
    return f"{100 * share:5.1f} %" if share is not None else "    — "


def run_cli_eval(data: str, *, as_json: bool = False, output: str | None = None, **kwargs: Any) -> str:
    """What `summarize eval` prints; progress goes to stderr, one line per 10 documents."""
    import contextlib
    import sys

    def progress(done: int, total: int, row: dict[str, Any]) -> None:
        if done % 10 == 0 or done == total:
            print(f"eval: {done}/{total} documents", file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        per_doc = None
        if output:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            per_doc = stack.enter_context(open(output, "w", encoding="utf-8"))
        report = evaluate(data, per_doc=per_doc, progress=progress, **kwargs)
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else format_report(report)
