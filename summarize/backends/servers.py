"""What each kind of server says about itself, and how to talk to it.

Probing: ``/props`` answers on llama-server, ``/api/version`` on ollama, and the OpenAI
``/v1/models`` list tells vLLM (owned_by "vllm", max_model_len), llama-cpp-python
(owned_by "me", the model path as id) and any other OpenAI-compatible server apart.
Each dialect then turns a prompt into a request and each streamed event into a ``Piece``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ModelError, UsageError
from .base import GenSettings
from .remote import Endpoint
from .transport import Transport

VLLM_SLOTS = 8  # vLLM batches requests itself; more in flight than the batch groups would not help


@dataclass
class ServerInfo:
    kind: str
    model: str  # the name sent with each request
    n_ctx: int | None = None  # tokens one request may use (None: the server does not say)
    slots: int = 1  # requests it runs at once
    chat_template: str | None = None  # as the server reports it (identity; chat or base prompts)
    has_chat_template: bool | None = None  # None: not known from the server
    model_path: str | None = None  # a GGUF path the server reported
    digest: str | None = None  # weights (or ollama manifest) digest
    size: int | None = None


@dataclass
class Piece:
    """One streamed event, reduced to what the backend needs."""

    text: str = ""
    finish: str | None = None  # "stop" | "length" once the answer is complete
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated: bool = False


def probe(t: Transport, ep: Endpoint, kind: str | None) -> ServerInfo:
    if kind in (None, "llama-server"):
        props = t.get_json("/props", missing_ok=kind is None)
        if isinstance(props, dict) and ("default_generation_settings" in props or "total_slots" in props):
            return _llama_server(t, ep, props)
        if kind == "llama-server":
            raise ModelError("this server does not answer like llama-server (/props)", path=ep.display,
                             hint="drop --server-kind to detect it")
    if kind in (None, "ollama"):
        version = t.get_json("/api/version", missing_ok=kind is None)
        if isinstance(version, dict) and "version" in version:
            return _ollama(t, ep)
    models = t.get_json("/v1/models")
    entries = models.get("data") if isinstance(models, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ModelError("the server lists no model (/v1/models)", path=ep.display,
                         hint="is it an inference server? force one with --server-kind")
    entry = _pick(entries, ep, key="id")
    owner = str(entry.get("owned_by", ""))
    detected = kind or {"vllm": "vllm", "me": "llama-cpp-python"}.get(owner, "openai")
    info = ServerInfo(detected, str(entry["id"]))
    if detected == "vllm":
        info.n_ctx, info.slots = _int(entry.get("max_model_len")), VLLM_SLOTS
    if str(entry["id"]).endswith(".gguf"):  # llama-cpp-python names a model by its path
        info.model_path = str(entry["id"])
    return info


def _llama_server(t: Transport, ep: Endpoint, props: dict[str, Any]) -> ServerInfo:
    settings = props.get("default_generation_settings") or {}
    listed = t.get_json("/v1/models", missing_ok=True)
    entries = listed.get("data") if isinstance(listed, dict) else None
    entry = _pick(entries, ep, key="id") if entries else {}
    meta = entry.get("meta") or {}
    template = props.get("chat_template") or None
    return ServerInfo("llama-server", str(entry.get("id") or "default"),
                      n_ctx=_int(settings.get("n_ctx") or props.get("n_ctx")),
                      slots=max(1, _int(props.get("total_slots")) or 1), chat_template=template,
                      has_chat_template=template is not None, model_path=props.get("model_path") or None,
                      size=_int(meta.get("size")))


def _ollama(t: Transport, ep: Endpoint) -> ServerInfo:
    tags = t.get_json("/api/tags")
    entries = tags.get("models") if isinstance(tags, dict) else None
    if not entries:
        raise ModelError("ollama has no model", path=ep.display, hint="run `ollama pull NAME` on the server")
    entry = _pick(entries, ep, key="name")
    show = t.post_json("/api/show", {"model": entry["name"]})
    info = show.get("model_info") or {}
    n_ctx = next((_int(v) for k, v in info.items() if k.endswith(".context_length")), None)
    template = show.get("template") or None
    chat = template is not None and template.strip() not in ("{{ .Prompt }}", "")
    return ServerInfo("ollama", str(entry["name"]), n_ctx=n_ctx, slots=1, chat_template=template,
                      has_chat_template=chat, digest=entry.get("digest") or None, size=_int(entry.get("size")))


def _pick(entries: list[dict[str, Any]], ep: Endpoint, *, key: str) -> dict[str, Any]:
    names = [str(e.get(key)) for e in entries]
    if ep.model is None:
        if len(entries) == 1:
            return entries[0]
        raise UsageError(f"the server holds {len(entries)} models: {', '.join(names[:8])}",
                         hint=f"pick one with --model {ep.base}#NAME")
    for entry, name in zip(entries, names):
        if ep.model in (name, name.removesuffix(":latest")):
            return entry
    raise UsageError(f"the server has no model {ep.model!r} (it has: {', '.join(names[:8])})",
                     hint=f"use --model {ep.base}#NAME with one of those")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# -- requests and streamed events ----------------------------------------------------

def sampling(kind: str, settings: GenSettings, stops: tuple[str, ...]) -> dict[str, Any]:
    """The decoding settings under each server's names (greedy at temperature 0 everywhere)."""
    common = {"temperature": settings.temperature, "top_p": settings.top_p, "seed": settings.seed,
              "stop": list(stops)}
    if kind == "llama-server":
        return {**common, "n_predict": settings.max_tokens, "top_k": settings.top_k,
                "repeat_penalty": settings.repeat_penalty, "repeat_last_n": 64}
    if kind == "ollama":
        return {**common, "num_predict": settings.max_tokens, "top_k": settings.top_k,
                "repeat_penalty": settings.repeat_penalty, "repeat_last_n": 64}
    if kind == "vllm":
        return {**common, "max_tokens": settings.max_tokens, "top_k": settings.top_k,
                "repetition_penalty": settings.repeat_penalty}
    if kind == "llama-cpp-python":
        return {**common, "max_tokens": settings.max_tokens, "top_k": settings.top_k,
                "repeat_penalty": settings.repeat_penalty}
    return {**common, "max_tokens": settings.max_tokens}  # plain OpenAI: no top_k / repeat penalty


def request(info: ServerInfo, payload: str | list[int] | list[dict[str, str]], settings: GenSettings,
            stops: tuple[str, ...], num_ctx: int | None) -> tuple[str, dict[str, Any], str]:
    """(path, body, stream format) for a raw prompt (text or token ids) or chat messages."""
    params = sampling(info.kind, settings, stops)
    chat = isinstance(payload, list) and bool(payload) and isinstance(payload[0], dict)
    if info.kind == "llama-server" and not chat:
        return "/completion", {"prompt": payload, "stream": True, "cache_prompt": True, **params}, "sse"
    if info.kind == "ollama":
        options = {**params, "num_ctx": num_ctx}  # one num_ctx per job: a change reloads the model
        stop = options.pop("stop")
        if stop:
            options["stop"] = stop
        if chat:
            return "/api/chat", {"model": info.model, "messages": payload, "stream": True, "options": options}, \
                "ndjson"
        return "/api/generate", {"model": info.model, "prompt": payload, "raw": True, "stream": True,
                                 "options": options}, "ndjson"
    body: dict[str, Any] = {"model": info.model, "stream": True, "stream_options": {"include_usage": True}, **params}
    if chat:
        return "/v1/chat/completions", {**body, "messages": payload}, "sse"
    return "/v1/completions", {**body, "prompt": payload}, "sse"


def piece(kind: str, event: Any) -> Piece:
    if not isinstance(event, dict):
        return Piece()
    if kind == "ollama":
        text = event.get("response") or (event.get("message") or {}).get("content") or ""
        if not event.get("done"):
            return Piece(text)
        return Piece(text, "length" if event.get("done_reason") == "length" else "stop",
                     _int(event.get("prompt_eval_count")), _int(event.get("eval_count")))
    if "content" in event and "choices" not in event:  # llama-server's native /completion
        if not event.get("stop"):
            return Piece(str(event.get("content") or ""))
        return Piece(str(event.get("content") or ""), "length" if event.get("stop_type") == "limit" else "stop",
                     _int(event.get("tokens_evaluated")), _int(event.get("tokens_predicted")),
                     bool(event.get("truncated")))
    usage = event.get("usage") or {}
    out = Piece(prompt_tokens=_int(usage.get("prompt_tokens")), completion_tokens=_int(usage.get("completion_tokens")))
    for choice in event.get("choices") or []:
        out.text += choice.get("text") or (choice.get("delta") or {}).get("content") or ""
        reason = choice.get("finish_reason")
        if reason:
            out.finish = "length" if reason == "length" else "stop"
    return out


def tokenize_request(info: ServerInfo, what: str | list[dict[str, str]], special: bool) -> tuple[str, dict[str, Any]]:
    """The server's own tokenizer: llama-server /tokenize, vLLM /tokenize, llama-cpp-python's count."""
    if info.kind == "llama-server":
        return "/tokenize", {"content": what, "add_special": special}
    if info.kind == "vllm":
        if isinstance(what, list):
            return "/tokenize", {"model": info.model, "messages": what, "add_generation_prompt": True}
        return "/tokenize", {"model": info.model, "prompt": what, "add_special_tokens": special}
    return "/extras/tokenize/count", {"input": what, "model": info.model}


def token_count(answer: Any) -> int:
    if isinstance(answer, dict):
        if "count" in answer:
            return int(answer["count"])
        if isinstance(answer.get("tokens"), list):
            return len(answer["tokens"])
    raise ModelError(f"unexpected tokenizer answer ({json.dumps(answer)[:80]})")
