"""Network refusal: summarize never talks to the network outside an explicit `models pull`.

Nothing in the pipeline needs the network, so the commands that read documents run inside
``no_network()``: an audit hook (PEP 578) refuses every Internet socket, connection and
name lookup made by Python code in the process, whatever library makes it. The promise
then holds by construction, not only because today's dependencies happen to behave.
When the user points ``--model`` at a server, ``allow_host()`` opens exactly that host and
port (the name lookup, and connections to the addresses it resolved to); every other
destination is still refused. ``summarize serve`` (summarize/web/) listens with
``allow_listen()``: binding that one address, and answering the connections it accepts;
no connection is ever opened from the process, so the page's documents cannot leave either.
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
_names: set[tuple[str, int]] = set()  # (host, port) the user named with --model http://HOST:PORT
_addresses: set[tuple[str, int]] = set()  # (ip, port) those names resolved to
_listen: set[tuple[str, int]] = set()  # (ip, port) `summarize serve` may bind (port 0: the kernel picks one)


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


def _allowed(event: str, args: tuple[Any, ...]) -> bool:
    """Traffic to the one server the user named (only when there is one), and the listening
    socket of `summarize serve` with the connections it accepted."""
    if _listen and _serving(event, args):
        return True
    if not _names:
        return False
    if event == "socket.__new__":  # creating a socket sends nothing; its connect() is checked
        return True
    if event == "socket.getaddrinfo" and len(args) > 1:
        return (str(args[0]).lower(), _port(args[1])) in _names
    if event == "socket.connect" and len(args) > 1 and isinstance(args[1], tuple) and len(args[1]) >= 2:
        return (str(args[1][0]), _port(args[1][1])) in _addresses
    return False


def _serving(event: str, args: tuple[Any, ...]) -> bool:
    """What a local web server needs, and nothing that could reach out: creating sockets (an
    accepted connection is a new socket object; creating one sends nothing), binding the one
    address allowed, and sending on a connected socket (``address`` None: with every connect()
    refused, only a connection this server accepted can be connected)."""
    if event == "socket.__new__":
        return True
    if event == "socket.bind" and len(args) > 1 and isinstance(args[1], tuple) and len(args[1]) >= 2:
        return (str(args[1][0]), _port(args[1][1])) in _listen
    if event in ("socket.sendmsg", "socket.sendto"):
        return len(args) > 1 and args[1] is None
    return False


def _port(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event in the process: keep the common path one comparison.
    if _depth and event.startswith("socket.") and _is_network(event, args) and not _allowed(event, args):
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


def allow_host(host: str, port: int) -> None:
    """Let this process reach ``host:port`` (the server the user named), and nothing else.
    The name is resolved here, once; connections go only to the addresses it gave."""
    host = host.lower().strip("[]")
    with _lock:
        _names.add((host, port))
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # the client's own lookup will fail with the same error, reported there
    with _lock:
        _addresses.update((str(info[4][0]), port) for info in infos)


def allow_listen(address: str, port: int) -> None:
    """Let this process bind ``address:port`` (an IP address, as given to bind()) and serve the
    connections it accepts; still no name lookup and no outgoing connection."""
    with _lock:
        _listen.add((address, port))


def clear_allowed() -> None:
    """Forget every allowed host (tests; a command's process allows one for its lifetime)."""
    with _lock:
        _names.clear()
        _addresses.clear()
        _listen.clear()


def active() -> bool:
    return _depth > 0
