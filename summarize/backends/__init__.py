"""Inference backends: the interface (base), llama.cpp in-process (llama_cpp, decoder), and
servers over HTTP (http, servers, transport). Everything above this package goes through
the few names below and never learns which backend runs.

Nothing heavy is imported here: llama_cpp loads with the in-process backend, httpx with the
HTTP one, each only when a model must actually run.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .base import Backend, GenSettings, Generation, OnText
from .recording import RecordingBackend
from .remote import RemoteOptions, is_remote

if TYPE_CHECKING:
    from ..cache import Cache
    from ..models import ModelRef

__all__ = ["Backend", "GenSettings", "Generation", "OnText", "RecordingBackend", "RemoteOptions", "is_remote",
           "open_backend", "identity", "adapter_switchable"]
IDENTITY_TTL = 3600.0  # seconds a server's model identity is trusted without asking it again


def open_backend(ref: ModelRef, *, threads: int | None = None, verbose: bool = False, ctx: int | None = None,
                 tokenizer_only: bool = False, remote: RemoteOptions | None = None,
                 gpu_layers: int | None = None) -> Backend:
    """The backend that runs ``ref``: a server when it is a URL, else llama.cpp in-process."""
    if is_remote(ref.path):
        try:
            from .http import HttpBackend
        except ImportError:
            from ..errors import UsageError

            raise UsageError("talking to a server needs httpx", hint="pip install 'summarize[remote]'") from None
        return HttpBackend(ref.path, ctx=ctx, options=remote)
    from ..gguf import read_gguf
    from .llama_cpp import LlamaCppBackend

    return LlamaCppBackend(read_gguf(ref.path), n_threads=threads, verbose=verbose, tokenizer_only=tokenizer_only,
                           gpu_layers=gpu_layers, adapter=ref.adapter)


def adapter_switchable(ref: ModelRef) -> bool:
    """Whether ``ref``'s LoRA adapter can be turned off per call (GenSettings.adapter): a
    run-time adapter in-process, not one merged into the weights nor a server's."""
    if not ref.adapter or is_remote(ref.path):
        return False
    from . import merge

    return not merge.enabled()


def identity(ref: ModelRef, cache: Cache, backend: Any = None, remote: RemoteOptions | None = None) -> str | None:
    """What the cache keys name as "the model": the weights' sha256 (a file here, memoized by
    path, size and mtime), a server's weights digest, or for a server that tells neither a weak
    identity ("weak:" + hash of name, size and chat template). Never the URL alone, never a key.

    For a server, without ``backend``: the identity remembered from an earlier run (so a fully
    cached rerun sends no request), or None when the server must be asked."""
    if not is_remote(ref.path):
        # A blob named by its sha256 (ollama, HF cache) is not re-hashed: its name is its digest. A LoRA
        # adapter is part of the model: its sha256 joins the weights'.
        sha = ref.sha256 or cache.file_sha256(ref.path)
        if not ref.adapter:
            return sha
        from . import merge  # merged weights round a little differently from llama.cpp's run-time LoRA

        return sha + "+lora:" + cache.file_sha256(ref.adapter) + (f"+{merge.FORMAT}" if merge.enabled() else "")
    memo = "remote-identity:" + json.dumps([ref.name, (remote or RemoteOptions()).kind])
    if backend is None:
        return cache.memo_get(memo, IDENTITY_TTL)
    source, value = backend.identity_source()
    found = cache.file_sha256(value) if source == "file" else value
    cache.memo_put(memo, found)
    return found
