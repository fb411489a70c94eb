"""Versioned French prompt templates (data in fr.toml) and their rendering."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

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

    def min_tokens(self, length: str) -> int:
        """Tokens before which the model may not end (fine-tuned prompts only, [tuned] min_tokens)."""
        return int(self._length(length).get("min_tokens", 0))

    def drafts(self, length: str) -> int:
        """Drafts made for a first attempt, the greedy one included ([tuned] drafts: absent = 1)."""
        return max(1, int(self._length(length).get("drafts", 1)))

    def attempts(self) -> tuple[tuple[bool, dict[str, Any]], ...]:
        """(retry variant?, decoding overrides) for the first attempt and each retry (``retries``)."""
        retries = tuple((bool(r.get("variant", False)), {k: v for k, v in r.items() if k != "variant"})
                        for r in self.data.get("retries", ()))
        return ((False, {}), *retries)

    def with_length(self, length: str, **settings: Any) -> PromptSet:
        """A copy with one length's settings changed (decoding experiments: rouge_curve)."""
        lengths = {**self.data["lengths"], length: {**self._length(length), **settings}}
        return PromptSet(version=self.version, digest=self.digest, data={**self.data, "lengths": lengths})

    def target_words(self, length: str) -> int:
        return int(self._length(length).get("target_words", self.max_tokens(length) // 2))

    def _length(self, length: str) -> dict:
        if length not in self.data["lengths"]:
            raise ValueError(f"unknown length {length!r}; choose one of {', '.join(LENGTHS)}")
        return self.data["lengths"][length]

    def template_key(self, stage: Stage, *, chat: bool, length: str, retry: bool = False) -> str:
        """A length may have its own template (``single_short``), and a template a
        second-attempt variant (``single_short_retry``: its own text, or only its own
        examples, ``single_short_retry_examples``); else the stage's template."""
        section = self.data["chat" if chat else "base"]
        key = f"{stage}_{length}" if f"{stage}_{length}" in section else stage
        if retry and (f"{key}_retry" in section or f"{key}_retry_examples" in section):
            return f"{key}_retry"
        return key

    def _get(self, section: dict, key: str, suffix: str = "") -> Any:
        """``key + suffix``, falling back to the non-retry key's value."""
        base = key.removesuffix("_retry")
        return section.get(f"{key}{suffix}", section.get(f"{base}{suffix}"))

    def _examples(self, section: dict, key: str) -> list[tuple[str, str]]:
        """Few-shot (article, summary) pairs named by ``<key>_examples`` in [examples]."""
        name = self._get(section, key, "_examples")
        return [(a, s) for a, s in self.data.get("examples", {}).get(name, ())] if name else []

    def input_of(self, stage: Stage, *, chat: bool, length: str) -> str:
        """What the model is shown of the document: "document" (all of it) or "lead"."""
        section = self.data["chat" if chat else "base"]
        template = self._get(section, self.template_key(stage, chat=chat, length=length))
        return "document" if "{document}" in template else "salient" if "{salient}" in template else "lead"

    def render(self, stage: Stage, document: str, *, chat: bool, length: str = "medium",
               part: int = 1, parts: int = 1, retry: bool = False) -> Prompt:
        from ..quality.injection import defuse  # the document cannot close its fence or forge control tokens

        settings = self._length(length)
        key = self.template_key(stage, chat=chat, length=length, retry=retry)
        section = self.data["chat" if chat else "base"]
        template: str = self._get(section, key)
        shots = self._examples(section, key)
        fields = {"document": defuse(document), "consigne": settings["consigne"], "tag": settings.get("tag", ""),
                  "part": part, "parts": parts}
        if "{lead}" in template:  # extract-then-rewrite: the opening sentences (see fr.toml)
            from ..quality.extractive import opening

            fields["lead"] = defuse(opening(document, int(settings.get("lead_words", 45)))) if document else ""
        if "{salient}" in template:  # extract-then-rewrite for a long document's chunk
            from ..quality.extractive import salient

            fields["salient"] = defuse(salient(document, int(settings.get("lead_words", 45)))) if document else ""
        if chat:  # examples become earlier user/assistant turns
            turns: list[tuple[str, str]] = [("system", self._get(section, key, "_system") or section["system"])]
            for article, summary in shots:
                turns += [("user", template.format(**{**fields, "document": article, "lead": article,
                                                      "salient": article})),
                          ("assistant", summary)]
            return Prompt(messages=(*turns, ("user", template.format(**fields))))
        fields["examples"] = "".join(section["example"].format(article=a, summary=s) for a, s in shots)
        stop = self._get(section, key, "_stop") or section.get("stop", ("\n\n", "<<<", ">>>", "Document :"))
        return Prompt(text=template.format(**fields), stop=tuple(stop))

    def tuned(self) -> PromptSet:
        """The prompts of a fine-tuned model: its training template ([tuned]) replaces the
        base-model templates; the version and digest still name the whole file."""
        section = self.data["tuned"]
        # Its own input budget per length (the words it was trained to rewrite), and its own
        # decoding floor (min_tokens: absent = 0) and its drafts (absent = 1: greedy only).
        lengths = {name: {**settings,
                          "lead_words": section.get("lead_words", {}).get(name, settings.get("lead_words")),
                          "min_tokens": section.get("min_tokens", {}).get(name, 0),
                          "drafts": section.get("drafts", {}).get(name, 1)}
                   for name, settings in self.data["lengths"].items()}
        data = {**self.data, "base": section, "lengths": lengths,
                "retries": section.get("retries", self.data.get("retries", ()))}
        return PromptSet(version=f"{self.version}+{section['version']}", digest=self.digest, data=data)

    def for_model(self, *, tuned: bool, switchable: bool) -> tuple[PromptSet, PromptSet]:
        """(a document's own prompts, a long document's chunk and fusion prompts). A fine-tuned
        model writes a document's summary with its training template; its chunks and fusions
        keep these base prompts when its adapter can be switched off for them (Summarizer)."""
        if not tuned:
            return self, self
        own = self.tuned()
        return own, self if switchable else own


@lru_cache(maxsize=4)
def load(name: str = "fr") -> PromptSet:
    raw = files(__package__).joinpath(f"{name}.toml").read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    return PromptSet(version=data["version"], digest=hashlib.sha256(raw).hexdigest(), data=data)
