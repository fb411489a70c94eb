"""`summarize serve`: a local web page over the same library (issue 21).

    from summarize.web import ServeOptions, serve
    serve(ServeOptions(port=0), on_ready=print)   # prints http://127.0.0.1:PORT/?token=…

Needs the optional extra ``summarize[web]`` (starlette, uvicorn, python-multipart), imported
only here: `summarize --help`, a summary or a batch never import them.

Public surface: ``ServeOptions``, ``serve`` and ``ServeError``; the application itself is
``app.create_app`` (jobs.py runs the work, security.py guards the requests, uploads.py
writes uploads into the private folder).
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from .security import Limits, is_loopback

__all__ = ["ServeOptions", "ServeError", "Ready", "serve", "open_browser", "is_loopback"]
PRIVATE_PREFIX = "summarize-web-"


class ServeError(UsageError):
    """The server cannot start (port taken, address not of this machine, extra not installed)."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: a free port, chosen by the kernel
    model: str | None = None  # the menu's default (embedded gemma3-270m unless said otherwise)
    length: str = "medium"
    cache_dir: str | None = None
    threads: int | None = None
    gpu_layers: str | None = None
    limits: Limits = field(default_factory=Limits)
    verbose: bool = False


@dataclass
class Ready:
    url: str  # with the token: the only way in
    private: Path  # the private folder (uploads, batch outputs), removed on exit
    address: tuple[str, int]


def serve(options: ServeOptions, on_ready: Callable[[Ready], None] | None = None) -> None:
    """Bind, print the URL (``on_ready``), serve until Ctrl-C / SIGTERM, then remove the private
    folder. Runs under the caller's net guard: only this address may be bound (netguard.py)."""
    try:
        import uvicorn
    except ImportError:
        raise ServeError("the web page needs its optional libraries", hint="pip install 'summarize[web]'") from None
    from .. import netguard
    from .app import Config, create_app
    from .jobs import Settings
    from .security import allowed_hosts

    address = _address(options.host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    netguard.allow_listen(address, options.port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((address, options.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {options.host}:{options.port} ({exc.strerror or exc})",
                         hint="another program uses this port: pass --port N, or --port 0 for a free one") from None
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    _remove_stale()
    private = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-"))  # mode 0700: this user only
    terminate = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        if terminate is not None:  # uvicorn re-raises SIGTERM after its shutdown: make it unwind through here
            signal.signal(signal.SIGTERM, _interrupt)
        settings = Settings(model=options.model, cache_dir=options.cache_dir, threads=options.threads,
                            gpu_layers=options.gpu_layers, max_bytes=options.limits.max_bytes, verbose=options.verbose)
        config = Config(token=token, hosts=allowed_hosts(address, port),
                        port=port, root=private, settings=settings, limits=options.limits, length=options.length)
        app = create_app(config)
        shown = "127.0.0.1" if address in ("0.0.0.0", "::") else (f"[{address}]" if ":" in address else address)
        if on_ready is not None:
            on_ready(Ready(f"http://{shown}:{port}/?token={token}", private, (address, port)))
        level = "info" if options.verbose else "warning"
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level=level,
                                               access_log=options.verbose, http="h11", ws="none", loop="asyncio",
                                               timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:
        sock.close()
        shutil.rmtree(private, ignore_errors=True)
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _remove_stale() -> None:
    """Private folders of servers of this user that died without cleaning up (SIGKILL, a crash)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PRIVATE_PREFIX}*-*"):
        try:
            pid = int(folder.name[len(PRIVATE_PREFIX):].split("-", 1)[0])
            if folder.stat().st_uid != os.getuid() or pid == os.getpid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError):
            continue


def _address(host: str) -> str:
    """An IP address to bind: ``localhost`` is 127.0.0.1; a name is not looked up (the net guard
    refuses name lookups, and a name could resolve elsewhere tomorrow)."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        raise ServeError(f"--host {host!r} is not an IP address",
                         hint="use 127.0.0.1 (default), ::1, an address of this machine, or 0.0.0.0 for all") from None


def open_browser(url: str) -> None:
    """--open: the user's browser, on the URL with its token."""
    import webbrowser

    webbrowser.open(url, new=2)
