"""Context and chunk planning: how a document is split so every token is summarized.

Budgets use the model's own tokenizer (through the backend), after the chat template or
completion prompt is applied: chunk budget = context − prompt overhead − output budget.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .backends.base import Backend
from .chunking import Chunk, chunk_text
from .errors import DocumentError, UsageError
from .prompts import PromptSet

AUTO_CTX = 4096  # small models summarize better from a few thousand tokens; --ctx raises it
# Map chunks, unless --ctx is given: a tiny model summarizes ~1.5k tokens far better than 4k
# (long_coverage benchmark, docs/BENCHMARKS.md), and shorter chunks cost less attention.
MAP_TOKENS = 1024
REDUCE_FANIN = 3  # partial summaries fused per reduce call: more, and a 270M model keeps one
MIN_CHUNK_TOKENS = 128


@dataclass
class Plan:
    n_ctx: int
    budget: int  # max tokens of document text per map prompt
    doc_tokens: int
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def single(self) -> bool:
        return len(self.chunks) <= 1

    def as_dict(self) -> dict:
        return {"n_ctx": self.n_ctx, "chunk_budget": self.budget, "doc_tokens": self.doc_tokens,
                "chunks": [{k: v for k, v in asdict(c).items() if k != "text"} for c in self.chunks]}


def overhead(backend: Backend, prompts: PromptSet, stage: str, length: str, chat: bool) -> int:
    return backend.count_prompt(prompts.render(stage, "", chat=chat, length=length, part=99, parts=99))


def choose_ctx(backend: Backend, requested: int | None) -> int:
    if requested is not None:
        if requested < 512 or requested > backend.n_ctx_train:
            raise UsageError(f"--ctx {requested} is outside 512..{backend.n_ctx_train} (the model's trained context)",
                             hint="pick a value in that range")
        return requested
    return min(AUTO_CTX, backend.n_ctx_train)


def make_plan(text: str, backend: Backend, prompts: PromptSet, *, length: str, map_length: str,
              chat: bool, ctx: int | None, max_tokens: int | None = None, source: str | None = None,
              map_prompts: PromptSet | None = None) -> Plan:
    """``map_prompts``: a long document's chunk prompts when they differ from ``prompts``
    (a fine-tuned model: Summarizer.long_prompts)."""
    map_prompts = map_prompts or prompts
    n_ctx_cap = choose_ctx(backend, ctx)
    doc_tokens = backend.count_text(text)
    if max_tokens is not None and doc_tokens > max_tokens:  # before chunking: bounded work per document
        raise DocumentError(f"document too long ({doc_tokens} tokens > limit {max_tokens})", path=source,
                            hint="split it, or raise the limit with --max-tokens")
    single_need = overhead(backend, prompts, "single", length, chat) + doc_tokens + prompts.max_tokens(length)
    if single_need <= n_ctx_cap:
        # Context sized to the document, not to a fixed default.
        return Plan(n_ctx=single_need, budget=doc_tokens, doc_tokens=doc_tokens,
                    chunks=[Chunk(0, 0, len(text), text, doc_tokens)])
    map_over = overhead(backend, map_prompts, "map", map_length, chat)
    reduce_out = max(map_prompts.max_tokens(length), map_prompts.max_tokens(map_length))
    budget = n_ctx_cap - map_over - reduce_out
    if budget < MIN_CHUNK_TOKENS:
        raise UsageError(f"context {n_ctx_cap} leaves only {budget} tokens per chunk", hint="raise --ctx")
    if ctx is None:
        budget = min(budget, MAP_TOKENS)
    # Even chunks (no 400-token tail after four full ones): the fewest chunks the budget
    # allows, each about the same size, with slack for paragraph boundaries.
    n_chunks = -(-doc_tokens // budget)
    budget = min(budget, max(MIN_CHUNK_TOKENS, int(doc_tokens / n_chunks * 1.1) + 16))
    chunks = chunk_text(text, budget, backend.count_text)
    return Plan(n_ctx=n_ctx_cap, budget=budget, doc_tokens=doc_tokens, chunks=chunks)


def group_for_reduce(summaries: list[str], backend: Backend, prompts: PromptSet, *, length: str, chat: bool,
                     n_ctx: int, sep: str = " ", fanin: int = REDUCE_FANIN) -> list[list[int]]:
    """Greedy groups of at most ``fanin`` consecutive partial summaries whose reduce prompt
    fits the context."""
    limit = n_ctx - prompts.max_tokens(length)
    groups: list[list[int]] = []
    current: list[int] = []
    for i in range(len(summaries)):
        trial = current + [i]
        text = sep.join(summaries[j] for j in trial)
        fits = len(trial) <= fanin and \
            backend.count_prompt(prompts.render("reduce", text, chat=chat, length=length)) <= limit
        if fits or not current:
            current = trial
        else:
            groups.append(current)
            current = [i]
    if current:
        groups.append(current)
    return groups
