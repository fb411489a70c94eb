"""HTTP transport to an inference server: one httpx client, bounded retries, streamed events.

Connect timeout short (a server that is not there fails fast), read timeout generous (a busy
CPU server may think for minutes before its first token). Connection errors, 429 and 5xx
are retried a few times with exponential backoff (Retry-After honoured up to a cap); a 4xx
is the request's fault and is never retried. Once an answer has started streaming, a broken
connection is an error, not a retry: part of it may already be on the user's screen.
The bearer key is set once on the client; it is scrubbed from every message we build.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from typing import Any, Iterator

import httpx

from .. import netguard
from ..errors import ModelError
from .remote import Endpoint

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 600.0
RETRIES = 3
BACKOFF = 0.5  # seconds before the first retry, doubled each time
MAX_WAIT = 10.0  # the longest Retry-After we honour
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                   httpx.WriteError, httpx.PoolTimeout)


class ServerError(ModelError):
    """The server failed us (unreachable, refused, broke off): one line, nothing cached."""


class Transport:
    def __init__(self, endpoint: Endpoint, api_key: str | None, *, connections: int = 16, retries: int = RETRIES,
                 backoff: float = BACKOFF, connect_timeout: float | None = None,
                 read_timeout: float | None = None) -> None:
        netguard.allow_host(endpoint.host, endpoint.port)  # the one destination the user named
        self.endpoint, self.retries, self.backoff = endpoint, retries, backoff
        self._secret = api_key
        self.read_timeout = read_timeout or float(os.environ.get("SUMMARIZE_READ_TIMEOUT", READ_TIMEOUT))
        timeout = httpx.Timeout(self.read_timeout, connect=connect_timeout or float(
            os.environ.get("SUMMARIZE_CONNECT_TIMEOUT", CONNECT_TIMEOUT)))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # trust_env=False: no proxy, netrc or other credentials picked up from the environment;
        # the connection goes to the named host and carries only the key the user chose.
        self.client = httpx.Client(base_url=endpoint.base, headers=headers, timeout=timeout, trust_env=False,
                                   follow_redirects=False,
                                   limits=httpx.Limits(max_connections=connections,
                                                       max_keepalive_connections=connections))
        self._count_lock = threading.Lock()
        self.requests = 0  # requests sent (retries included): tests and benchmarks read it

    def close(self) -> None:
        self.client.close()

    # -- plain requests --------------------------------------------------------
    def get_json(self, path: str, *, missing_ok: bool = False) -> Any:
        with self._open("GET", path, None, missing_ok=missing_ok) as resp:
            return None if resp is None else self._json(resp, path)

    def post_json(self, path: str, body: dict[str, Any], *, missing_ok: bool = False) -> Any:
        with self._open("POST", path, body, missing_ok=missing_ok) as resp:
            return None if resp is None else self._json(resp, path)

    def _json(self, resp: httpx.Response, path: str) -> Any:
        try:
            return json.loads(resp.read())
        except (ValueError, httpx.HTTPError):
            raise ServerError(f"the server's answer to {path} is not JSON", path=self.endpoint.display,
                              hint="check the URL points at an inference server (--server-kind to force one)") from None

    # -- streamed answers --------------------------------------------------------
    def stream(self, path: str, body: dict[str, Any], fmt: str) -> Iterator[Any]:
        """The answer's events, parsed: ``fmt`` "sse" (data payloads, JSON) or "ndjson"."""
        with self._open("POST", path, body) as resp:
            assert resp is not None
            lines = self._lines(resp)
            try:
                yield from (sse_events(lines) if fmt == "sse" else ndjson_events(lines))
            except StreamError as exc:
                raise ServerError(self.scrub(str(exc)), path=self.endpoint.display,
                                  hint="nothing was cached; check the server and run the same command again") from None
            for _ in lines:  # read to the end (after [DONE]): the connection can then be reused
                pass

    def _lines(self, resp: httpx.Response) -> Iterator[str]:
        try:
            yield from resp.iter_lines()
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise ServerError(f"the server broke off its answer ({type(exc).__name__})", path=self.endpoint.display,
                              hint="nothing was cached; check the server and run the same command again") from None

    @contextlib.contextmanager
    def _open(self, method: str, path: str, body: dict[str, Any] | None, *,
              missing_ok: bool = False) -> Iterator[httpx.Response | None]:
        attempt = 0
        while True:
            with self._count_lock:
                self.requests += 1
            try:
                resp = self.client.send(self.client.build_request(method, path, json=body), stream=True)
            except _CONNECT_ERRORS as exc:
                if attempt >= self.retries:
                    raise ServerError(f"cannot reach the server ({self.scrub(str(exc)) or type(exc).__name__})",
                                      path=self.endpoint.display,
                                      hint="is it running, and is the URL right? nothing was cached") from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            except httpx.TimeoutException:
                raise ServerError(f"the server did not answer within {self.read_timeout:.0f} s",
                                  path=self.endpoint.display,
                                  hint="it may be overloaded; raise SUMMARIZE_READ_TIMEOUT or retry later") from None
            if resp.status_code in RETRY_STATUS and attempt < self.retries:
                wait = _retry_after(resp)
                resp.close()
                self._sleep(attempt, wait)
                attempt += 1
                continue
            if resp.status_code in (400, 404, 405, 501) and missing_ok:  # probing: not this kind of server
                resp.close()
                yield None
                return
            if resp.status_code >= 400:
                message = self._message(resp)
                resp.close()
                hint = "check $SUMMARIZE_API_KEY (or --api-key-env)" if resp.status_code in (401, 403) else \
                    "nothing was cached"
                raise ServerError(f"the server refused {method} {path}: HTTP {resp.status_code}"
                                  + (f" ({message})" if message else ""), path=self.endpoint.display, hint=hint)
            try:
                yield resp
            finally:
                resp.close()
            return

    def _sleep(self, attempt: int, wait: float | None) -> None:
        delay = wait if wait is not None else self.backoff * (2 ** attempt)
        time.sleep(min(MAX_WAIT, delay) * (1 + random.random() * 0.1))

    def _message(self, resp: httpx.Response) -> str:
        """The server's own error text, one line, short, without the key."""
        try:
            raw = resp.read()[:2000].decode("utf-8", "replace")
        except httpx.HTTPError:
            return ""
        try:
            data = json.loads(raw)
        except ValueError:
            return self.scrub(raw)[:200]
        return self.scrub(error_text(data))[:200]

    def scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return " ".join(text.split())


def error_text(data: Any) -> str:
    """The message inside the usual error shapes: OpenAI, llama-server, ollama, FastAPI."""
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            if key in data:
                return error_text(data[key])
        return json.dumps(data)[:200]
    if isinstance(data, list) and data:
        return error_text(data[0])
    return str(data)


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("retry-after", "")))
    except ValueError:
        return None


class StreamError(ServerError):
    """An error event inside a streamed answer."""


def sse_events(lines: Iterator[str]) -> Iterator[Any]:
    """Server-sent events → parsed JSON payloads. Handles comments, multi-line data, CRLF,
    a missing space after the colon, ``error:`` / ``event: error`` lines, and ``[DONE]``."""
    data: list[str] = []
    event = ""
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                yield _payload("\n".join(data), event)
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            if value.strip() == "[DONE]":
                return
            data.append(value)
        elif field == "event":
            event = value.strip()
        elif field == "error":  # llama-server's way of failing mid-stream
            raise StreamError(f"the server failed mid-answer ({error_text(_loads(value))})")
    if data:
        yield _payload("\n".join(data), event)


def _payload(text: str, event: str) -> Any:
    obj = _loads(text)
    if event == "error" or (isinstance(obj, dict) and "error" in obj and len(obj) <= 2):
        raise StreamError(f"the server failed mid-answer ({error_text(obj)})")
    return obj


def ndjson_events(lines: Iterator[str]) -> Iterator[Any]:
    """ollama's newline-delimited JSON; an ``{"error": ...}`` line is a failure."""
    for line in lines:
        if not line.strip():
            continue
        obj = _loads(line)
        if isinstance(obj, dict) and "error" in obj:
            raise StreamError(f"the server failed mid-answer ({error_text(obj)})")
        yield obj


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise StreamError(f"the server sent a malformed event ({' '.join(text.split())[:80]!r})") from None
