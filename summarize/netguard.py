"""Network refusal: summarize never talks to the network outside an explicit `models pull`.

Nothing in the pipeline needs the network, so the commands that read documents run inside
``no_network()``: an audit hook (PEP 578) refuses every Internet socket, connection and
name lookup made by Python code in the process, whatever library makes it. The promise
then holds by construction, not only because today's dependencies happen to behave.
``tests/test_network.py`` checks it independently, from outside this module.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from typing import Any, Iterator

OFFLINE_ENV = "SUMMARIZE_OFFLINE"
# Audit events that reach the network (or resolve a name, which already leaks it).
_ALWAYS = frozenset({
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr",
    "socket.getnameinfo", "socket.sendto", "socket.sendmsg",
})
_INET = (socket.AF_INET, socket.AF_INET6)

_lock = threading.Lock()
_installed = False
_depth = 0  # > 0 while some command runs under no_network(); hooks cannot be removed, only idled


class NetworkBlockedError(PermissionError):
    """Raised inside the library that tried to reach the network; an OSError, so libraries
    that handle "network unreachable" degrade gracefully instead of crashing."""


def offline_requested() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _describe(event: str, args: tuple[Any, ...]) -> str:
    target = args[1] if event == "socket.connect" and len(args) > 1 else (args[0] if args else "")
    return f"{event} {target!r}"[:200]


def _is_network(event: str, args: tuple[Any, ...]) -> bool:
    if event in _ALWAYS:
        return True
    if event == "socket.__new__":  # args: (sock, family, type, proto)
        return len(args) > 1 and args[1] in _INET
    if event in ("socket.connect", "socket.bind"):  # unix-domain paths are str/bytes, IP addresses tuples
        return len(args) > 1 and isinstance(args[1], tuple)
    return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event in the process: keep the common path one comparison.
    if _depth and event.startswith("socket.") and _is_network(event, args):
        raise NetworkBlockedError(
            f"summarize refused a network access ({_describe(event, args)}): documents never leave "
            "this machine; only `summarize models pull` may download")


def _install() -> None:
    global _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse Internet sockets and name lookups for the duration of the block."""
    global _depth
    _install()
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1


def active() -> bool:
    return _depth > 0
