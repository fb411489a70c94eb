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
from .planner import make_plan, overhead
from .text import normalize

MAP_LENGTH = "short"


def dry_run(text: str, model: str | None, *, length: str = "medium", ctx: int | None = None) -> dict[str, Any]:
    prompts = prompt_data.load()
    try:
        ref = models.resolve(model)
    except UsageError:
        backend, name, size, tokenizer = _estimator(model)
    else:
        from .gguf import read_gguf
        from .llama_backend import LlamaCppBackend

        backend = LlamaCppBackend(read_gguf(ref.path))
        name, size, tokenizer = ref.name, os.path.getsize(ref.path), "model"
    chat = backend.has_chat_template
    plan = make_plan(normalize(text), backend, prompts, length=length, map_length=MAP_LENGTH, chat=chat, ctx=ctx)
    if plan.single:
        prompt_tokens = overhead(backend, prompts, "single", length, chat) + plan.doc_tokens
        output_tokens = prompts.max_tokens(length)
    else:
        per_map = overhead(backend, prompts, "map", MAP_LENGTH, chat)
        maps_out = len(plan.chunks) * prompts.max_tokens(MAP_LENGTH)
        prompt_tokens = sum(c.tokens + per_map for c in plan.chunks) + maps_out
        output_tokens = maps_out + prompts.max_tokens(length)
    return {"model": name, "tokenizer": tokenizer, **plan.as_dict(), "prompt_tokens": prompt_tokens,
            "max_output_tokens": output_tokens,
            "estimated_seconds": round(estimate.seconds(prompt_tokens, output_tokens, size), 1)}


def _estimator(model: str | None) -> tuple[Any, str, int, str]:
    """A catalog model that is not downloaded: plan with tiktoken and the catalog's numbers."""
    key = models.ALIASES.get((model or "").lower(), (model or "").lower())
    entry = models.load_catalog().get(key)
    if entry is None:
        models.resolve(model)  # re-raise the real error
        raise AssertionError("unreachable")
    backend = estimate.TiktokenEstimator(int(entry.get("context", 4096)), entry.get("prompt", "chat") == "chat")
    return backend, key, int(float(entry.get("size_gb", 1)) * 1e9), "tiktoken cl100k_base (estimate)"
