"""HTTP backend: the model runs on a server (llama-server, ollama, vLLM, llama-cpp-python,
any OpenAI-compatible one); the rest of summarize cannot tell the difference.

Budgets stay exact: prompts are counted by the server's own tokenizer where it has one
(llama-server /apply-template + /tokenize, vLLM /tokenize, llama-cpp-python
/extras/tokenize/count), else by the model's GGUF when it is on this disk, else estimated
with a margin. Whatever counted it, the server's own report of the prompt it evaluated is
checked afterwards: a prompt the server cut is an error, never a cached summary.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cancel import check as check_cancelled
from ..errors import ModelError
from ..prompts import Prompt
from .base import GenSettings, Generation, OnText
from .remote import Endpoint, RemoteOptions, parse
from .servers import ServerInfo, piece, probe, request, token_count, tokenize_request
from .transport import ServerError, Transport

AUTO_CTX = 4096  # context asked of ollama when --ctx is not given (the planner's own default)
UNKNOWN_CTX = 2048  # a server that does not say (llama-cpp-python's default n_ctx): --ctx overrides
ESTIMATE_MARGIN = 1.5  # cl100k tokens → model tokens, on the safe side for French with small vocabularies
PER_MESSAGE = 8


@dataclass(frozen=True)
class Prepared:
    payload: str | list[int] | list[dict[str, str]]  # text, token ids, or chat messages
    stops: tuple[str, ...]
    tokens: int
    exact: bool  # counted by the model's own tokenizer (else estimated)


class HttpBackend:
    def __init__(self, spec: str, *, ctx: int | None = None, options: RemoteOptions | None = None,
                 transport: dict[str, Any] | None = None) -> None:
        self.endpoint: Endpoint = parse(spec)
        self.options = options or RemoteOptions()
        self.transport = Transport(self.endpoint, self.options.api_key(), **(transport or {}))
        try:
            self.info: ServerInfo = probe(self.transport, self.endpoint, self.options.kind)
        except BaseException:
            self.transport.close()
            raise
        self.kind = self.info.kind
        self.local = _local_gguf(self.info, self.endpoint)  # the model's own file, when it is on this disk
        self._tok: Any = None
        chat = self.local.chat_template is not None if self.local else self.info.has_chat_template
        self.has_chat_template = True if chat is None else chat  # servers without a word: instruct models
        if self.kind == "ollama":  # we choose its context: one num_ctx for the whole job
            self.n_ctx = min(ctx or AUTO_CTX, self.info.n_ctx or AUTO_CTX)
        else:
            self.n_ctx = self.info.n_ctx or ctx or UNKNOWN_CTX
        self.n_ctx_train = self.n_ctx  # the planner's ceiling: what the server gives one request
        self.concurrency = self.options.jobs or self.info.slots
        self._prepared: dict[Prompt, Prepared] = {}
        self._memo: dict[tuple[Prompt, GenSettings], Generation] = {}
        self._lock = threading.Lock()
        self._bos: int | None = None

    # -- identity --------------------------------------------------------------------
    def identity_source(self) -> tuple[str, str]:
        """("file", path) when the weights are readable here, ("digest", d) when the server
        names them (ollama's manifest digest), else ("weak", name + size + template hash)."""
        if self.local is not None:
            return "file", self.local.path
        if self.info.digest:
            return "digest", f"{self.kind}:{self.info.digest}"
        template = hashlib.sha256((self.info.chat_template or "").encode()).hexdigest()
        blob = json.dumps({"kind": self.kind, "model": os.path.basename(self.info.model), "size": self.info.size,
                           "template": template}, sort_keys=True)
        return "weak", "weak:" + hashlib.sha256(blob.encode()).hexdigest()

    # -- counting --------------------------------------------------------------------
    def _server_counts(self, prompt: Prompt) -> bool:
        if self.kind in ("llama-server", "vllm"):
            return True
        return self.kind == "llama-cpp-python" and (prompt.messages is None or self.local is not None)

    def _tokenizer(self) -> Any:
        if self._tok is None:
            from .llama_cpp import LlamaCppBackend  # a vocabulary-only load: no weights

            self._tok = LlamaCppBackend(self.local, tokenizer_only=True)
        return self._tok

    def _count(self, what: str | list[dict[str, str]], special: bool) -> int:
        path, body = tokenize_request(self.info, what, special)
        if self.kind == "llama-server":
            body["parse_special"] = special
        return token_count(self.transport.post_json(path, body))

    def count_text(self, text: str) -> int:
        if self.kind in ("llama-server", "vllm"):
            return self._count(text, False)
        if self.kind == "llama-cpp-python":
            if self._bos is None:
                self._bos = self._count("", True)  # its count always includes the BOS
            return self._count(text, True) - self._bos
        if self.local is not None:
            return self._tokenizer().count_text(text)
        return _estimate(text)

    def count_prompt(self, prompt: Prompt) -> int:
        return self.prepare(prompt).tokens

    def prepare(self, prompt: Prompt) -> Prepared:
        """What is sent for ``prompt`` and how many tokens it is (memoized: counted once)."""
        with self._lock:
            ready = self._prepared.get(prompt)
        if ready is not None:
            return ready
        ready = self._prepare(prompt)
        with self._lock:
            if len(self._prepared) > 256:
                self._prepared.clear()
            self._prepared[prompt] = ready
        return ready

    def _prepare(self, prompt: Prompt) -> Prepared:
        messages = [{"role": r, "content": c} for r, c in prompt.messages] if prompt.messages is not None else None
        if self.kind == "llama-server":  # its template and tokenizer; the ids themselves are sent
            text = prompt.text or ""
            if messages is not None:
                text = str(self.transport.post_json("/apply-template", {"messages": messages}).get("prompt", ""))
            path, body = tokenize_request(self.info, text, True)
            answer = self.transport.post_json(path, {**body, "parse_special": messages is not None})
            ids = answer.get("tokens") if isinstance(answer, dict) else None
            if not isinstance(ids, list):
                raise ModelError("llama-server's /tokenize gave no tokens", path=self.endpoint.display)
            ids = [t if isinstance(t, int) else int(t["id"]) for t in ids]
            return Prepared(ids, prompt.stop if messages is None else (), len(ids), True)
        if self.local is not None and (messages is None or self.kind != "vllm"):
            text, stops, _, _ = self._tokenizer().render(prompt)  # raw text: what we count is what is sent
            count = self._count(text, True) if self._server_counts(prompt) else self._tokenizer().count_prompt(prompt)
            return Prepared(text, stops, count, True)
        if self._server_counts(prompt):
            what: str | list[dict[str, str]] = messages if messages is not None else (prompt.text or "")
            return Prepared(what, prompt.stop, self._count(what, True), True)
        if messages is not None:
            return Prepared(messages, (), sum(_estimate(c) + PER_MESSAGE for c in (m["content"] for m in messages)) + 1,
                            False)
        return Prepared(prompt.text or "", prompt.stop, _estimate(prompt.text or "") + 1, False)

    # -- generation ------------------------------------------------------------------
    def generate(self, prompt: Prompt, settings: GenSettings, on_text: OnText | None = None) -> Generation:
        with self._lock:
            ready = self._memo.pop((prompt, settings), None)
        if ready is not None:
            if on_text is not None:
                on_text(ready.text)
            return ready
        start = time.perf_counter()
        prep = self.prepare(prompt)
        if prep.tokens + settings.max_tokens > self.n_ctx:
            raise ModelError(f"prompt of {prep.tokens} tokens + {settings.max_tokens} to generate exceeds the "
                             f"server's context ({self.n_ctx})", path=self.endpoint.display,
                             hint="the document should have been chunked; please report this")
        path, body, fmt = request(self.info, prep.payload, settings, prep.stops, self.n_ctx)
        text, finish, reported, produced, cut = "", None, None, None, False
        for event in self.transport.stream(path, body, fmt):
            check_cancelled()  # the web page's cancel button (cancel.py): closes the stream
            part = piece(self.kind, event)
            if part.text:
                text += part.text
                if on_text is not None:
                    on_text(part.text)
            finish = part.finish or finish
            reported = part.prompt_tokens if part.prompt_tokens is not None else reported
            produced = part.completion_tokens if part.completion_tokens is not None else produced
            cut = cut or part.truncated
        if finish is None:
            raise ServerError("the server ended its answer without finishing it (interrupted?)",
                              path=self.endpoint.display, hint="nothing was cached; run the same command again")
        tokens_in = reported if reported is not None else prep.tokens
        self._check(prep, tokens_in, settings, cut)
        tokens_out = produced if produced is not None else (self.count_text(text) if text else 0)
        return Generation(text=text, tokens_in=tokens_in, tokens_out=tokens_out,
                          seconds=time.perf_counter() - start, finish=finish)

    def _check(self, prep: Prepared, reported: int, settings: GenSettings, flagged: bool) -> None:
        """A prompt the server cut: it says so, it evaluated fewer tokens than we counted, or
        what it evaluated left no room for the answer in its context."""
        short = prep.exact and reported < prep.tokens
        full = reported + settings.max_tokens > self.n_ctx
        if flagged or short or full:
            raise ServerError(f"the server truncated the prompt (it evaluated {reported} tokens; "
                              f"{'counted' if prep.exact else 'estimated'} {prep.tokens}, context {self.n_ctx})",
                              path=self.endpoint.display,
                              hint="nothing was cached; give the server a larger context, or lower --ctx")

    def prefetch(self, prompts: list[Prompt], settings: GenSettings) -> None:
        """Batch jobs: run several first attempts at once, as many as the server has slots;
        generate() then returns them. A failed one is simply left to generate() to redo."""
        with self._lock:
            self._memo.clear()
        if self.concurrency < 2 or len(prompts) < 2:
            return

        def one(prompt: Prompt) -> None:
            with contextlib.suppress(ModelError):
                gen = self.generate(prompt, settings)
                with self._lock:
                    self._memo[(prompt, settings)] = gen

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            list(pool.map(one, prompts))

    def end_prefetch(self) -> None:
        with self._lock:
            self._memo.clear()

    def close(self) -> None:
        if self._tok is not None:
            self._tok.close()
        self.transport.close()


def _estimate(text: str) -> int:
    from ..estimate import TiktokenEstimator

    return math.ceil(TiktokenEstimator(0, False).count_text(text) * ESTIMATE_MARGIN)


def _local_gguf(info: ServerInfo, ep: Endpoint) -> Any:
    """The server's model file when this machine can read it: a path reported by a server on
    this machine, or an ollama blob whose manifest has the digest the server gave."""
    from ..gguf import read_gguf

    path = info.model_path if ep.loopback else None
    if info.kind == "ollama" and info.digest:
        path = _ollama_blob(info.model, info.digest)
    if not path or not os.path.isfile(path):
        return None
    try:
        return read_gguf(path)
    except ModelError:
        return None


def _ollama_blob(name: str, digest: str) -> str | None:
    root = Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")
    model, _, tag = name.partition(":")
    parts = model.split("/")
    host, parts = (parts[0], parts[1:]) if len(parts) == 3 else ("registry.ollama.ai", parts)
    parts = ["library"] + parts if len(parts) == 1 else parts
    manifest = root / "manifests" / host / Path(*parts) / (tag or "latest")
    try:
        raw = manifest.read_bytes()
        if hashlib.sha256(raw).hexdigest() != digest.removeprefix("sha256:"):
            return None  # not the manifest the server runs
        layers = json.loads(raw).get("layers", [])
    except (OSError, ValueError, AttributeError):
        return None
    for layer in layers:
        if layer.get("mediaType") == "application/vnd.ollama.image.model":
            return str(root / "blobs" / str(layer.get("digest", "")).replace(":", "-"))
    return None
