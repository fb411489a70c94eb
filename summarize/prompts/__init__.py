"""Versioned French prompt templates (data in fr.toml) and their rendering."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Stage = Literal["single", "map", "reduce"]
LENGTHS = ("short", "medium", "long")


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: chat messages for chat models, raw text for base models."""

    messages: tuple[tuple[str, str], ...] | None = None
    text: str | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromptSet:
    version: str
    digest: str  # hash of the template data: edits invalidate the cache even without a version bump
    data: dict

    @property
    def cache_id(self) -> str:
        return f"{self.version}:{self.digest[:12]}"

    def max_tokens(self, length: str) -> int:
        return int(self._length(length)["max_tokens"])

    def _length(self, length: str) -> dict:
        if length not in self.data["lengths"]:
            raise ValueError(f"unknown length {length!r}; choose one of {', '.join(LENGTHS)}")
        return self.data["lengths"][length]

    def render(self, stage: Stage, document: str, *, chat: bool, length: str = "medium",
               part: int = 1, parts: int = 1) -> Prompt:
        from ..injection import defuse  # the document cannot close its fence or forge control tokens

        fields = {"document": defuse(document), "consigne": self._length(length)["consigne"],
                  "part": part, "parts": parts}
        if chat:
            section = self.data["chat"]
            return Prompt(messages=(("system", section["system"]),
                                    ("user", section[stage].format(**fields))))
        section = self.data["base"]
        stop = tuple(section.get("stop", ("\n\n", "<<<", ">>>", "Document :")))
        return Prompt(text=section[stage].format(**fields), stop=stop)


@lru_cache(maxsize=4)
def load(name: str = "fr") -> PromptSet:
    raw = files(__package__).joinpath(f"{name}.toml").read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    return PromptSet(version=data["version"], digest=hashlib.sha256(raw).hexdigest(), data=data)
