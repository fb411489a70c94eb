"""The library API: ``Summarizer`` runs document → text → clean-up → chunks → prompts →
backend → guards → cache → result. The CLI, the batch job and the evaluator all go through it.

Cache identity (issue 11): the document's sha256 stays the hash of its normalized text as
read, while every key also names the clean-up and output-rule versions (``TEXT_RULES``), so
a summary made before a rule changed (from uncleaned text, or with a bare URL) is recomputed,
never served; chunk and fusion keys hash the cleaned text they summarize."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import models, paths, prompts as prompt_data
from . import backends
from .backends import Backend, GenSettings, Generation, OnText, RemoteOptions
from .cache import Cache, NullCache, make_key
from .errors import DocumentError, SummarizeError, UsageError
from .reading.readers import DEFAULT_MAX_BYTES, read_document
from .reading.limits import resolve_max_tokens
from .reading.text import normalize, sha256_text

# Versions of what the text and the output go through besides the prompt: the clean-up
# (reading/cleanup.py), the output rules (quality/guards.py: no bare URL, no English sentence) and the
# support rule (quality/: a sentence no passage supports is dropped). Literal
# here so a cache hit imports neither module; tests/test_cleanup.py checks they match.
TEXT_RULES = "clean-1+rules-4+support-3"

if TYPE_CHECKING:
    from .planner import Plan
    from .reading.layout import Layout

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MAP_LENGTH = "short"
REDUCE_LENGTH = "short"  # one fusion of a few partial summaries: a sentence or two
LONG_STAGES = ("map", "reduce")


@dataclass
class Result:
    summary: str
    source: str
    model: str
    model_sha256: str
    prompt_version: str
    length: str
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    cache_hit: bool = False
    method: str = "model"  # model | model-retry | extractive-fallback
    guard_failures: list[str] = field(default_factory=list)
    doc_sha256: str = ""
    plan: dict[str, Any] | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    # Cache hits: what computing the summary cost the first time (tokens_in, tokens_out, seconds,
    # cpu_seconds), so a rerun still says what each summary cost.
    cost: dict[str, Any] | None = None
    gpu_layers: str | int | None = None  # layers offloaded to a GPU when computed (not in the cache key: gpu.py)
    # Each sentence with the source passages that support it (quality/attribution.py); computed
    # on every call, hit or miss, never cached (the layout of the file is not in the key).
    sentences: list[dict[str, Any]] | None = None
    supported: float | None = None  # share of the sentences supported

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Summarizer:
    def __init__(self, model: str | None = None, *, length: str = "medium", cache_dir: str | None = None,
                 use_cache: bool = True, ctx: int | None = None, threads: int | None = None,
                 verbose: bool = False, max_bytes: int = DEFAULT_MAX_BYTES, prompts: str = "fr",
                 backend: Backend | None = None, max_tokens: int | None = None,
                 remote: RemoteOptions | None = None, gpu_layers: str | int | None = None,
                 cite: bool = True) -> None:
        if length not in prompt_data.LENGTHS:
            raise UsageError(f"unknown length {length!r}", hint="use short, medium or long")
        from . import gpu

        self.gpu_layers = gpu.parse(gpu_layers)  # a bad value fails before any work
        self.ref = models.resolve(model)
        self.length, self.ctx, self.threads, self.verbose, self.max_bytes = length, ctx, threads, verbose, max_bytes
        self.cite = cite  # attribute each sentence of a result to its source passages (--no-cite: off)
        self.max_tokens = resolve_max_tokens(max_tokens)  # issue 7: bounded work per document
        # A fine-tuned model is prompted with its training template for a document's own summary.
        # A long document's chunks and fusions run the bare weights with the base prompts: the
        # adapter was trained on news openings, and on the seeds' slide deck its map summaries
        # swapped who accused whom where the bare model's path stays faithful (issue 23).
        # Merged weights have no switch: the tuned prompts throughout.
        self.long_bare = backends.adapter_switchable(self.ref)
        self.prompts, self.long_prompts = prompt_data.load(prompts).for_model(tuned=bool(self.ref.adapter),
                                                                              switchable=self.long_bare)
        self.cache: Cache = Cache(paths.cache_dir(cache_dir)) if use_cache else NullCache()
        self._backend = backend
        self.remote = remote  # --server-kind, --api-key-env, --jobs: used only when the model is a URL
        self._model_sha: str | None = None
        self.tokens_processed = 0
        self._plans: dict[str, Plan] = {}  # made by prefetch(), used by summarize_text()

    # -- lazily built parts (a cache hit needs none of them) -------------------
    @property
    def model_sha256(self) -> str:
        """The model's identity in every cache key: the weights' sha256 (or a server's identity),
        and its adapter's."""
        if self._model_sha is None:  # a server is asked only when no earlier run remembers its answer
            self._model_sha = backends.identity(self.ref, self.cache, remote=self.remote) or \
                backends.identity(self.ref, self.cache, self.backend, self.remote)
        return self._model_sha

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = backends.open_backend(self.ref, threads=self.threads, verbose=self.verbose, ctx=self.ctx,
                                                  remote=self.remote, gpu_layers=self.gpu_layers)
            if self._model_sha is not None:  # a server may run other weights than an earlier run remembered
                self._model_sha = backends.identity(self.ref, self.cache, self._backend, self.remote)
        return self._backend

    @property
    def chat(self) -> bool:
        return self.backend.has_chat_template

    def prompts_for(self, stage: str) -> prompt_data.PromptSet:
        """The prompts of a stage: a long document's chunks and fusions may have their own."""
        return self.long_prompts if stage in LONG_STAGES else self.prompts

    def settings(self, length: str, stage: str = "single", **overrides: Any) -> GenSettings:
        prompts = self.prompts_for(stage)
        bare = {"adapter": False} if self.long_bare and stage in LONG_STAGES else {}
        return GenSettings(max_tokens=prompts.max_tokens(length), min_tokens=prompts.min_tokens(length),
                           drafts=prompts.drafts(length), **bare, **overrides)

    def _key(self, stage: str, text: str, length: str, **extra: Any) -> str:
        return make_key(stage=stage, text=sha256_text(text), model=self.model_sha256,
                        prompt=self.prompts_for(stage).cache_id, settings=self.settings(length, stage).cache_id(),
                        length=length, ctx=self.ctx, rules=TEXT_RULES, **extra)

    def document_key(self, text: str) -> str:
        """The cache key of ``text``'s summary at this length: what a batch job leases and looks up."""
        return self._key("document", normalize(text), self.length)

    # -- public API ------------------------------------------------------------
    def summarize_file(self, source: str, on_text: OnText | None = None, progress: Progress | None = None) -> Result:
        doc = read_document(source, max_bytes=self.max_bytes)
        return self.summarize_text(doc.text, source=source, on_text=on_text, progress=progress, layout=doc.layout)

    def summarize_text(self, text: str, *, source: str = "<text>", on_text: OnText | None = None,
                       progress: Progress | None = None, layout: Layout | None = None) -> Result:
        """``layout`` (a reader's ``Document.layout``) places the cited passages in the file."""
        start = time.perf_counter()
        text = normalize(text)
        if not text:
            raise DocumentError("document is empty (no text to summarize)", path=source, hint="check the file")
        key = self._key("document", text, self.length)
        hit = self.cache.get(key)
        base = dict(source=source, model=self.ref.name, model_sha256=self.model_sha256,
                    prompt_version=self.prompts.cache_id, length=self.length, doc_sha256=sha256_text(text))
        if hit is not None:
            self.cache.touch(key)
            if on_text is not None:
                on_text(hit.summary)
            meta = {k: v for k, v in hit.meta.items() if k in ("method", "guard_failures", "plan")}
            cost = {k: hit.meta.get(k) for k in ("tokens_in", "tokens_out", "seconds", "cpu_seconds", "gpu_layers")}
            return self._cite(Result(summary=hit.summary, cache_hit=True, seconds=time.perf_counter() - start,
                                     cost=cost, **base, **meta), text, layout, hit.meta)
        result = Result(summary="", **base)
        from .reading.cleanup import clean_lines

        read, (text, dropped) = text, clean_lines(text)  # what a reader skips, the model never sees
        plan = self._plans.pop(read, None) or self.plan(text, source)
        result.plan = {**plan.as_dict(), "cleanup": {"dropped_lines": len(dropped), "chars_read": len(read),
                                                     "chars_kept": len(text)}}
        if plan.single:
            summary = self._stage(result, "single", text, text, self.length, on_text=on_text)
        else:
            summary = self._map_reduce(result, plan, text, on_text, progress)
        from .quality.guards import keep_french
        from .quality.typography import french_typography

        # Each stage already obeys the output rules; this holds them for the joined text too.
        result.summary = french_typography(keep_french(summary) or summary)
        self._cite(result, read, layout)
        result.seconds = time.perf_counter() - start
        result.gpu_layers = getattr(self._backend, "gpu_offloaded", None)
        key = self._key("document", read, self.length)  # again: a server's model identity may have been refreshed
        meta = {k: v for k, v in result.as_dict().items() if k not in ("summary", "source")}
        # The file's name (never its folder) labels the web page's history; a cache hit reads none of it.
        name = None if result.source.startswith("<") else Path(result.source).name
        self.cache.put(key, "document", result.summary, {**meta, "cite_layout": _layout_id(layout), "name": name})
        return result

    def _cite(self, result: Result, text: str, layout: Layout | None, hit: dict[str, Any] | None = None) -> Result:
        """Each sentence of the final summary with its passages in ``text`` (the text as read:
        offsets index it). Sentences still unsupported here — a fusion's, an older cache
        entry's — are marked, not hidden: ``supported: false``, and « [non vérifié] » in Markdown.
        A cache hit reuses the stored attribution when the file's layout is the same (the key
        hashes the text, not where its lines are), so a hit imports no BM25."""
        if not self.cite or not result.summary:
            return result
        if hit is not None and hit.get("sentences") is not None and hit.get("cite_layout") == _layout_id(layout):
            result.sentences, result.supported = hit["sentences"], hit.get("supported")
            return result
        from .quality import attribution

        sentences = attribution.attribute(result.summary, attribution.Index(text, layout))
        result.sentences = [s.as_dict() for s in sentences]
        result.supported = round(attribution.supported_share(sentences), 4)
        return result

    def prefetch(self, texts: list[str]) -> None:
        """Batch jobs: generate the first attempt for several uncached single-chunk documents in
        one multi-sequence pass; summarize_text() then picks each result up (guards still run)."""
        from .reading.cleanup import clean

        prompts = []
        self._plans.clear()
        for read in map(normalize, texts):
            if not read or self.cache.get(self._key("document", read, self.length)) is not None:
                continue
            try:
                text = clean(read)
                plan = self._plans[read] = self.plan(text)  # summarize_text() takes it: tokenized once
                if plan.single:
                    prompts.append(self.prompts.render("single", text, chat=self.chat, length=self.length))
            except SummarizeError:
                continue  # summarize_text() reports it for that document
        if len(prompts) < 2:  # nothing to decode together (a fully cached rerun never loads the backend)
            return
        prefetch = getattr(self.backend, "prefetch", None)
        if prefetch is not None:
            prefetch(prompts, self.settings(self.length))

    def load_model(self) -> None:
        """Load the weights now rather than at the first document (a Ray actor's start-up)."""
        load = getattr(self.backend, "ensure_loaded", None)
        if load is not None:
            load(0)

    @property
    def model_ready_at(self) -> float | None:
        """Wall clock (time.time()) when this process's weights were loaded; None if not (yet)
        loaded here (a server's model, a job of cache hits)."""
        return getattr(self._backend, "ready_at", None)

    def end_prefetch(self) -> None:
        """No more prefetch(): the backend may free what it held for it."""
        self._plans.clear()
        end = getattr(self._backend, "end_prefetch", None)
        if end is not None:
            end()

    def estimate(self, text: str, source: str | None = None) -> dict[str, Any]:
        """The chunks of ``text``'s summary and --dry-run's time estimate for them (estimate.py):
        ``{"chunks", "estimated_seconds", "cached"}`` (0 chunks for a cache hit). The plan is
        kept, so the summarize_text() that follows does not tokenize the document again."""
        read = normalize(text)
        if self.cache.get(self._key("document", read, self.length)) is not None:
            return {"chunks": 0, "estimated_seconds": 0.0, "cached": True}
        import os

        from . import estimate
        from .reading.cleanup import clean
        from .dryrun import work

        plan = self._plans[read] = self.plan(clean(read), source)
        prompt_tokens, output_tokens = work(plan, self.backend, self.prompts_for("single" if plan.single else "map"),
                                            self.length, self.chat)
        size = os.path.getsize(self.ref.path) if os.path.isfile(self.ref.path) else 0
        return {"chunks": len(plan.chunks), "cached": False,
                "estimated_seconds": round(estimate.seconds(prompt_tokens, output_tokens, size), 1)}

    def plan(self, text: str, source: str | None = None) -> Plan:
        from .planner import make_plan  # only on a cache miss: a hit never chunks

        return make_plan(normalize(text), self.backend, self.prompts, length=self.length, map_length=MAP_LENGTH,
                         chat=self.chat, ctx=self.ctx, max_tokens=self.max_tokens, source=source,
                         map_prompts=self.long_prompts)

    # -- stages ----------------------------------------------------------------
    def _map_reduce(self, result: Result, plan: Plan, text: str, on_text: OnText | None,
                    progress: Progress | None) -> str:
        partials = []
        for chunk in plan.chunks:
            if progress:
                progress("map", chunk.index, len(plan.chunks))
            partials.append(self._stage(result, "map", chunk.text, text, MAP_LENGTH,
                                        part=chunk.index + 1, parts=len(plan.chunks)))
        if progress:
            progress("map", len(plan.chunks), len(plan.chunks))
        # Reduce: while the partial summaries exceed the length's word budget, the model fuses
        # them a few at a time (each fusion must mention every summary it was given); what fits
        # is joined in document order, so every part of the document stays in the summary.
        target = self.long_prompts.target_words(self.length)
        level = 1
        while len(partials) > 1 and _n_words(partials) > target:
            from .planner import group_for_reduce

            groups = group_for_reduce(partials, self.backend, self.long_prompts, length=REDUCE_LENGTH, chat=self.chat,
                                      n_ctx=plan.n_ctx)
            if all(len(g) == 1 for g in groups):
                groups = [list(range(i, min(i + 2, len(partials)))) for i in range(0, len(partials), 2)]
            fused = [partials[g[0]] if len(g) == 1 else
                     self._stage(result, "reduce", " ".join(partials[i] for i in g), text, REDUCE_LENGTH,
                                 part=n + 1, parts=len(groups), level=level, inputs=[partials[i] for i in g])
                     for n, g in enumerate(groups)]
            if _n_words(fused) >= _n_words(partials):
                break  # the model could not shorten them: keep them all rather than drop a part
            partials, level = fused, level + 1
        summary = " ".join(partials)
        if on_text is not None:
            on_text(summary)
        return summary

    def _stage(self, result: Result, stage: str, content: str, source_text: str, length: str, *,
               part: int = 1, parts: int = 1, level: int = 0, on_text: OnText | None = None,
               inputs: list[str] | None = None) -> str:
        """One model call (cached by its own key), with guards, retry and extractive fallback."""
        # here: a cache hit never pays their regexes (~15 ms)
        from .quality import extractive, injection
        from .quality.review import Review

        content_key = content  # the retry may strip instructions from content; the key is the original
        key = self._key(stage, content, length, part=part, parts=parts)
        started = time.perf_counter()
        hit = self.cache.get(key) if stage != "single" else None
        record: dict[str, Any] = {"stage": stage, "part": part, "level": level, "cache_hit": hit is not None}
        if hit is not None:
            record.update(seconds=0.0, method=hit.meta.get("method", "model"))
            result.stages.append(record)
            result.method = record["method"]
            if on_text is not None:
                on_text(hit.summary)
            return hit.summary
        chat, prompts = self.chat, self.prompts_for(stage)
        prompt = prompts.render(stage, content, chat=chat, length=length, part=part, parts=parts)
        template = prompts.render(stage, "", chat=chat, length=length, part=part, parts=parts)
        template_text = _text_of(template)
        max_words = int(prompts.max_tokens(length) * 1.2)
        method, failures, summary = "model", [], ""
        record["input"] = prompts.input_of(stage, chat=chat, length=length)  # "lead": see fr.toml

        checker = Review(content, source_text, template_text, max_words, inputs)

        def review(gen: Generation, counted: bool = True) -> tuple[str, list[str]]:
            """quality/review.py on one generation, its tokens counted: (text, failures).
            ``counted``: its dropped sentences go to the stage's record (not a draft's: one is kept)."""
            result.tokens_in += gen.tokens_in
            result.tokens_out += gen.tokens_out
            self.tokens_processed += gen.tokens_in + gen.tokens_out  # read by progress displays
            verdict = checker(gen.text, truncated=gen.finish == "length")
            if counted and verdict.dropped:
                record["dropped_sentences"] = record.get("dropped_sentences", 0) + verdict.dropped
            return verdict.summary, verdict.failures

        for attempt, (retry, overrides) in enumerate(prompts.attempts()):
            if attempt:  # later attempts: the template's retry variant (other examples), other decoding
                if "injection" in failures:  # it obeyed the document: retry without the orders
                    content = injection.without_instructions(content)
                    checker.shown(content)
                prompt = prompts.render(stage, content, chat=chat, length=length, part=part, parts=parts,
                                        retry=retry)
                retry_template = prompts.render(stage, "", chat=chat, length=length, part=part, parts=parts,
                                                retry=retry)
                checker.template_text = "\n".join((checker.template_text, _text_of(retry_template)))
            settings = self.settings(length, stage, **overrides)
            gen = self.backend.generate(prompt, settings, on_text=on_text if attempt == 0 else None)
            summary, failures = review(gen)
            result.guard_failures.extend(f"{stage}{part}:{f}" for f in failures)  # with drafts: the greedy one's
            # Drafts where they were measured: a document's own summary, not a long document's
            # chunks (each map would cost the drafts again) nor a fusion.
            if attempt == 0 and stage == "single" and settings.drafts > 1:
                summary, failures = self._consensus(prompt, settings, (summary, failures), review, record)
            if not failures:
                method = "model" if attempt == 0 else "model-retry"
                break
        else:
            method = "extractive-fallback"
            if inputs:  # a failed fusion drops no part: the first sentence of each map summary
                summary = extractive.firsts(inputs) if level == 1 else " ".join(inputs)
            else:
                summary = extractive.lead(content, length)
        result.method = method  # the last stage run is the one whose text is returned
        record.update(method=method, failures=failures, seconds=round(time.perf_counter() - started, 3))
        result.stages.append(record)
        if stage != "single":
            self.cache.put(self._key(stage, content_key, length, part=part, parts=parts), stage, summary,
                           {"method": method})
        return summary

    def _consensus(self, prompt: prompt_data.Prompt, settings: GenSettings, greedy: tuple[str, list[str]],
                   review: Callable[..., tuple[str, list[str]]], record: dict[str, Any]) -> tuple[str, list[str]]:
        """The first attempt's drafts (GenSettings.drafts): the greedy one and others sampled from
        the same prompt, each through ``review``; of those that pass, the one all drafts agree with
        most (quality/consensus.py). None passing: the greedy one's text and failures, for the retry."""
        sample = getattr(self.backend, "sample", None)
        if sample is None:  # a server: the greedy draft only
            return greedy
        from .quality import consensus

        drafts = [greedy] + [review(gen, False) for gen in
                             sample(prompt, replace(settings, temperature=settings.draft_temperature),
                                    settings.drafts - 1)]
        passing = [text for text, failures in drafts if text and not failures]
        record["drafts"] = {"made": len(drafts), "passing": len(passing)}
        if not passing:
            return greedy
        chosen = consensus.choose(passing, [text for text, _ in drafts if text])
        record["drafts"]["chosen_greedy"] = passing[chosen] == greedy[0] and not greedy[1]
        return passing[chosen], []

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self.cache.close()


def _layout_id(layout: Layout | None) -> str | None:
    """What the stored attribution's locations depend on besides the text."""
    if layout is None:
        return None
    import json
    from dataclasses import asdict

    return sha256_text(json.dumps(asdict(layout)))


def _n_words(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)


def _text_of(prompt: prompt_data.Prompt) -> str:
    """The words of a rendered prompt (what an echo would copy)."""
    return prompt.text or " ".join(c for _, c in prompt.messages or ())
