"""The backend interface: everything above it is independent of the inference engine.

Implemented by llama.cpp in-process (llama_cpp.py) and by servers over HTTP (http.py); a
distributed engine would implement the same four methods.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable, Protocol

from ..prompts import Prompt

OnText = Callable[[str], None]


@dataclass(frozen=True)
class GenSettings:
    """Decoding settings; all of them are part of the cache key."""

    max_tokens: int = 192
    temperature: float = 0.0  # greedy: the same document gives the same summary
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    seed: int = 42
    # No end of text before this many tokens (capped per prompt at a third of its tokens, so a
    # short document is never padded out): the fine-tuned model's greedy summaries stop shorter
    # than its training targets (training/README.md, issue 23). Honoured by the in-process decoder.
    min_tokens: int = 0
    # Drafts of the first attempt, greedy one included (quality/consensus.py): the others are
    # sampled at draft_temperature and the draft the drafts agree with most is kept. Honoured by
    # backends with a ``sample`` method (llama.cpp in-process); the others make the greedy one only.
    drafts: int = 1
    draft_temperature: float = 0.5
    # False: the model's LoRA adapter is off for this call (a fine-tuned model's long-document
    # stages run the bare weights with the base prompts: Summarizer). Honoured by the in-process
    # decoder with a run-time adapter; merged weights and servers have no switch.
    adapter: bool = True

    def cache_id(self) -> str:
        return _cache_id(self)


@lru_cache(maxsize=64)
def _cache_id(settings: GenSettings) -> str:  # per-document key path: computed once per settings
    fields = asdict(settings)
    if not fields["min_tokens"]:  # absent unless set: the keys written before it existed stay valid
        del fields["min_tokens"]
    if fields["drafts"] <= 1:  # likewise for drafts: one draft is the greedy summary of before
        del fields["drafts"], fields["draft_temperature"]
    if fields["adapter"]:  # likewise: on is what every key before it meant
        del fields["adapter"]
    return json.dumps(fields, sort_keys=True)


@dataclass
class Generation:
    text: str
    tokens_in: int
    tokens_out: int
    seconds: float
    finish: str  # "stop" (end of text or stop string) or "length" (max_tokens reached)


class Backend(Protocol):
    n_ctx_train: int
    has_chat_template: bool

    def count_prompt(self, prompt: Prompt) -> int:
        """Exact number of tokens the prompt takes after templating (BOS included)."""

    def count_text(self, text: str) -> int:
        """Tokens of a bare text fragment (no BOS), used to size chunks."""

    def generate(self, prompt: Prompt, settings: GenSettings, on_text: OnText | None = None) -> Generation:
        """Run the prompt; stream decoded text to ``on_text``; never truncate the prompt."""

    def close(self) -> None: ...
