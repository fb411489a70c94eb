"""Launcher: runs the real summarize CLI with the network taken away, and reports attempts.

Usage: python tests/netblock.py REPORT.json [summarize arguments...]

Before summarize (or any of its dependencies) is imported, every way Python code can
reach the network is replaced by a recorder that refuses: an audit hook on the socket
events (raised by the C socket module itself, so libraries that import ``_socket``
directly are caught too) plus the usual module-level entry points. The hook is installed
first, so it sees an attempt even when summarize's own guard (netguard.py) would refuse it:
the test checks the promise independently of the code that implements it.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import sys
import traceback
from typing import Any, NoReturn

REPORT, ARGV = sys.argv[1], sys.argv[2:]
attempts: list[str] = []
allowed: list[str] = []  # connections let through to the one server named in $NETBLOCK_ALLOW
_HOST, _, _PORT = os.environ.get("NETBLOCK_ALLOW", "").rpartition(":")


def _caller() -> str:
    """First frame outside this launcher and the socket module: who tried."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.endswith(("netblock.py", "socket.py")):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_code.co_name}" if frame is not None else "?"


def _refuse(what: str) -> NoReturn:
    attempts.append(f"{what[:200]} from {_caller()}")
    raise OSError(errno.ENETUNREACH, f"network blocked by tests/netblock.py: {what[:120]}")


def _to_named_host(event: str, args: tuple[Any, ...]) -> bool:
    """With $NETBLOCK_ALLOW=HOST:PORT (a remote-model run): a TCP socket, the lookup of that
    host and a connection to it on that port pass, and are recorded; nothing else does."""
    if not _HOST:
        return False
    if event == "socket.__new__":
        return len(args) > 2 and args[2] == socket.SOCK_STREAM
    if event == "socket.getaddrinfo":
        return str(args[0]) == _HOST and str(args[1]) == _PORT
    if event == "socket.connect":
        return isinstance(args[1], tuple) and str(args[1][0]) == _HOST and str(args[1][1]) == _PORT
    return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Every socket event is refused, unix-domain ones included: summarize needs none.
    if event.startswith("socket.") and event not in ("socket.sethostname",):
        if _to_named_host(event, args):
            if event == "socket.connect":
                allowed.append(f"{event} {args[1]!r}")
            return
        _refuse(f"{event} {args[1:] if event == 'socket.__new__' else args!r}")


sys.addaudithook(_hook)


class _NoSocket(socket.socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: D401 - refuses before any syscall
        _refuse(f"socket.socket{args!r}")


def _blocked(name: str):  # type: ignore[no-untyped-def]
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        _refuse(f"socket.{name}{args!r}")

    return refuse


if not _HOST:  # a remote-model run needs real sockets: the audit hook alone decides then
    socket.socket = _NoSocket  # type: ignore[misc]
    for _name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                  "gethostbyaddr", "getnameinfo", "socketpair", "fromfd"):
        setattr(socket, _name, _blocked(_name))

code: Any = 0
try:
    if ARGV[:1] == ["--python"]:  # self-test mode: run arbitrary code under the same blocker
        exec(compile(ARGV[1], "<netblock>", "exec"), {"__name__": "__netblock__"})
    else:
        from summarize.cli import main

        main(ARGV)
except SystemExit as exc:
    code = exc.code
except BaseException:  # noqa: BLE001 - reported, not hidden
    code = "exception: " + traceback.format_exc(limit=3)
finally:
    with open(REPORT, "w", encoding="utf-8") as fh:
        json.dump({"attempts": attempts, "allowed": allowed, "code": code, "modules": sorted(sys.modules)}, fh)
sys.exit(code if isinstance(code, int) else 1)
