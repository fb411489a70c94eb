"""Stopping work from another thread: what Ctrl-C does in the CLI, asked by a button.

The web page (summarize/web/) runs each job in a worker thread under ``cancellable(token)``;
its cancel button sets the token. Every llama.cpp decoding step (backends/decoder.py: a
prompt batch, or one token of every sequence) and every streamed piece of a server's answer
(backends/http.py) calls ``check()`` first, so the work stops within one step (tens of
milliseconds on a CPU), holding no CPU slot, instead of at the end of a stage.

``Cancelled`` is a ``KeyboardInterrupt``: the code that already handles an interrupt handles
it the same way (a batch keeps every finished document and reports ``interrupted``; the
per-document ``except Exception`` of the batch never swallows it; nothing half done is
cached). Outside ``cancellable`` ``check()`` costs one attribute lookup.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_local = threading.local()


class Cancelled(KeyboardInterrupt):
    """The user stopped the work (the web page's cancel button)."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@contextlib.contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """Work done by this thread inside the block stops at its next check once ``token`` is set."""
    previous = getattr(_local, "token", None)
    _local.token = token
    try:
        yield token
    finally:
        _local.token = previous


def check() -> None:
    """Raise ``Cancelled`` if this thread's work was cancelled."""
    token = getattr(_local, "token", None)
    if token is not None and token.cancelled:
        raise Cancelled()
