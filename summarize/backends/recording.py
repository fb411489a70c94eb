"""A backend that records every generation of the backend it wraps (tests and benchmarks:
which prompts ran, with which settings, and what came back)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..prompts import Prompt
from .base import Backend, GenSettings, Generation, OnText


@dataclass
class Call:
    prompt: Prompt
    settings: GenSettings
    gen: Generation

    @property
    def content(self) -> str:
        """The prompt's text (a chat prompt: its last message)."""
        return self.prompt.text if self.prompt.messages is None else self.prompt.messages[-1][1]  # type: ignore[return-value]


class RecordingBackend:
    def __init__(self, inner: Backend, *, owns: bool = False) -> None:
        self.inner, self.owns = inner, owns  # owns: close() closes the wrapped backend too
        self.calls: list[Call] = []
        self.n_ctx_train, self.has_chat_template = inner.n_ctx_train, inner.has_chat_template

    def count_prompt(self, prompt: Prompt) -> int:
        return self.inner.count_prompt(prompt)

    def count_text(self, text: str) -> int:
        return self.inner.count_text(text)

    def generate(self, prompt: Prompt, settings: GenSettings, on_text: OnText | None = None) -> Generation:
        gen = self.inner.generate(prompt, settings, on_text)
        self.calls.append(Call(prompt, settings, gen))
        return gen

    def __getattr__(self, name: str) -> Any:  # prefetch, end_prefetch, identity_source...: the inner one's
        return getattr(self.inner, name)

    def close(self) -> None:
        if self.owns:
            self.inner.close()
