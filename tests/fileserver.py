"""A Hub-like file server on 127.0.0.1 for the `models pull` tests (stdlib only).

It serves ``/REPO/resolve/REVISION/FILE`` with HTTP range requests (206, 416) as the Hub
does, records every request with its headers, and plays scripted faults, one per request:
cut the body short, stall in the middle of it, answer a status, or redirect.
"""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-$")


class FileServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, lower-cased headers)
        # ("cut", n) | ("stall", n) | ("status", code) | ("redirect", url): consumed in order
        self.faults: list[tuple[str, Any]] = []
        self.release = threading.Event()  # lets stalled answers end when the server stops
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, headers))
                kind, arg = server.faults.pop(0) if server.faults else ("", None)
                if kind in ("status", "redirect"):
                    self.send_response(arg if kind == "status" else 302)
                    if kind == "redirect":
                        self.send_header("Location", arg)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                match = _RANGE.match(headers.get("range", ""))
                start = int(match[1]) if match else 0
                if start >= len(body) and match:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = body[start:]
                self.send_response(206 if match else 200)
                if match:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if kind in ("cut", "stall"):
                    self.wfile.write(payload[:arg])
                    self.wfile.flush()
                    if kind == "stall":
                        server.release.wait(60)
                    return  # HTTP/1.0: the connection closes here, before the announced length
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
