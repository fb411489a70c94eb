"""What the user names when the model runs on a server: the endpoint, the options, the key.

Pure parsing, no network and no httpx: ``summarize --help``, a local model and a cache hit
never import anything of the HTTP path.

``--model http(s)://HOST:PORT[/PREFIX][#MODEL]``: PREFIX is where the server's API lives
(a trailing ``/v1`` is the OpenAI habit and is dropped), MODEL picks one model on servers
that hold several (ollama, vLLM with several names); the fragment is never sent.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import UsageError

KINDS = ("llama-server", "ollama", "vllm", "llama-cpp-python", "openai")
API_KEY_ENV = "SUMMARIZE_API_KEY"
# Keys of cloud services are never sent to a URL the user typed (it may not be theirs).
NEVER_FORWARDED = frozenset({"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "HF_TOKEN"})


def is_remote(spec: str | None) -> bool:
    return bool(spec) and spec.strip().lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


@dataclass(frozen=True)
class RemoteOptions:
    """Choices about a server that the URL does not carry (CLI: --server-kind, --api-key-env, --jobs)."""

    kind: str | None = None  # None: detected by probing
    api_key_env: str | None = None  # the environment variable holding the bearer key
    jobs: int | None = None  # requests in flight in a batch; None: what the server says it can take

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise UsageError(f"unknown server kind {self.kind!r}", hint=f"choose one of: {', '.join(KINDS)}")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs {self.jobs} must be at least 1")

    def api_key(self) -> str | None:
        """The bearer key, read from the environment at the moment it is needed (never stored)."""
        name = self.api_key_env or API_KEY_ENV
        if name in NEVER_FORWARDED:
            raise UsageError(f"refusing to send ${self.api_key_env} to a server you named",
                             hint=f"copy the key the server expects into ${API_KEY_ENV}")
        key = os.environ.get(name, "").strip()
        return key or None


@dataclass(frozen=True)
class Endpoint:
    base: str  # scheme://host:port/prefix, no credentials, no query, no fragment
    host: str
    port: int
    model: str | None  # the #MODEL fragment
    https: bool

    @property
    def display(self) -> str:
        return self.base + (f"#{self.model}" if self.model else "")

    @property
    def loopback(self) -> bool:
        """A server on this machine: a model path it reports is a file we can read too."""
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")


def parse(spec: str) -> Endpoint:
    """Validate ``--model http(s)://...``; one-line errors, and never echo a credential."""
    raw = spec.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UsageError("invalid server URL", hint="use --model http://HOST:PORT[/PREFIX][#MODEL]") from None
    if parts.username or parts.password:
        raise UsageError("the server URL holds credentials",
                         hint=f"put the key in ${API_KEY_ENV} (sent as a bearer token), not in the URL")
    if parts.query:
        raise UsageError("the server URL has a query string",
                         hint=f"use http://HOST:PORT[/PREFIX][#MODEL]; a key goes in ${API_KEY_ENV}")
    if not parts.hostname:
        raise UsageError("the server URL has no host", hint="use --model http://HOST:PORT[/PREFIX][#MODEL]")
    https = parts.scheme.lower() == "https"
    port = port or (443 if https else 80)
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1"):
        prefix = prefix[: -len("/v1")]
    host = parts.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    base = f"{'https' if https else 'http'}://{shown}:{port}{prefix}"
    return Endpoint(base=base, host=host, port=port, model=parts.fragment or None, https=https)
