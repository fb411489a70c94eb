"""--dry-run: the chunk plan and a time estimate, without loading model weights.

Uses the model's own tokenizer (a vocab-only load) when the file is here, otherwise a
tiktoken estimate sized by the catalog's context length.
"""
from __future__ import annotations

import os
from typing import Any

from . import estimate, models
from . import prompts as prompt_data
from .errors import UsageError
from .planner import REDUCE_FANIN, make_plan, overhead
from .reading.text import normalize

MAP_LENGTH = "short"


def dry_run(text: str, model: str | None, *, length: str = "medium", ctx: int | None = None,
            max_tokens: int | None = None, source: str | None = None) -> dict[str, Any]:
    """The plan summarize_text() would follow (same planner, same --ctx and --max-tokens
    limits), with the prompt tokens each map would really see."""
    from .reading.limits import resolve_max_tokens

    prompts = prompt_data.load()
    try:
        ref = models.resolve(model)
    except UsageError:
        ref = None
        backend, name, size, tokenizer = _estimator(model)
    else:
        from .backends import open_backend

        backend = open_backend(ref, tokenizer_only=True, ctx=ctx)  # a vocabulary-only load, or a server's tokenizer
        local = os.path.isfile(ref.path)
        name, size, tokenizer = ref.name, os.path.getsize(ref.path) if local else 0, "model" if local else "server"
    from .reading.cleanup import clean

    long_prompts = prompts
    if ref is not None and ref.adapter:  # as Summarizer (the adapter does not change the tokens)
        from .backends import adapter_switchable

        prompts, long_prompts = prompts.for_model(tuned=True, switchable=adapter_switchable(ref))
    chat = backend.has_chat_template
    plan = make_plan(clean(normalize(text)), backend, prompts, length=length, map_length=MAP_LENGTH, chat=chat, ctx=ctx,
                     max_tokens=resolve_max_tokens(max_tokens), source=source, map_prompts=long_prompts)
    prompt_tokens, output_tokens = work(plan, backend, prompts if plan.single else long_prompts, length, chat)
    return {"model": name, "tokenizer": tokenizer, **plan.as_dict(), "prompt_tokens": prompt_tokens,
            "max_output_tokens": output_tokens,
            "estimated_seconds": round(estimate.seconds(prompt_tokens, output_tokens, size), 1)}


def work(plan: Any, backend: Any, prompts: Any, length: str, chat: bool) -> tuple[int, int]:
    """Prompt tokens evaluated and tokens generated at most, for a plan (estimate.seconds' input):
    --dry-run's estimate, and the web page's first « time left » (Summarizer.estimate)."""
    if plan.single:
        prompt_tokens = backend.count_prompt(prompts.render("single", plan.chunks[0].text, chat=chat, length=length))
        return prompt_tokens, prompts.max_tokens(length)
    n = len(plan.chunks)  # each map prompt as rendered (a base model's map shows its chunk's central sentences)
    prompt_tokens = sum(backend.count_prompt(prompts.render("map", c.text, chat=chat, length=MAP_LENGTH,
                                                            part=c.index + 1, parts=n)) for c in plan.chunks)
    maps_out = n * prompts.max_tokens(MAP_LENGTH)
    fusions = -(-n // REDUCE_FANIN)  # first level; later levels are rarer and smaller
    prompt_tokens += maps_out + fusions * overhead(backend, prompts, "reduce", MAP_LENGTH, chat)
    return prompt_tokens, maps_out + fusions * prompts.max_tokens(MAP_LENGTH)


def _estimator(model: str | None) -> tuple[Any, str, int, str]:
    """A catalog model that is not downloaded: plan with tiktoken and the catalog's numbers."""
    key = models.ALIASES.get((model or "").lower(), (model or "").lower())
    entry = models.load_catalog().get(key)
    if entry is None:
        models.resolve(model)  # re-raise the real error
        raise AssertionError("unreachable")
    backend = estimate.TiktokenEstimator(int(entry.get("context", 4096)), entry.get("prompt", "chat") == "chat")
    return backend, key, int(float(entry.get("size_gb", 1)) * 1e9), "tiktoken cl100k_base (estimate)"
