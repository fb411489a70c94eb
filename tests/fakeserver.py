"""Small in-test HTTP servers on 127.0.0.1 (stdlib only): scripted fake inference servers,
and a forwarding proxy that counts the requests a real server receives and how many are in
flight at once."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

# A handler gets (path, parsed JSON body or None, headers) and returns one of:
#   (status, obj)                     a JSON answer
#   (status, [bytes, ...])            a streamed answer, chunk by chunk
#   (status, [bytes, ..., DIE])       a streamed answer whose connection drops before its end
Handler = Callable[[str, Any, dict[str, str]], tuple[int, Any]]
DIE = object()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sse(*events: Any, done: bool = True) -> list[bytes]:
    out = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
    return out + ([b"data: [DONE]\n\n"] if done else [])


def ndjson(*events: Any) -> list[bytes]:
    return [(json.dumps(e) + "\n").encode() for e in events]


class FakeServer:
    def __init__(self, routes: dict[tuple[str, str], Handler], *, delay: float = 0.0) -> None:
        self.routes, self.delay = routes, delay
        self.requests: list[tuple[str, str, Any, dict[str, str]]] = []  # (method, path, body, headers)
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append((method, self.path, body, headers))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                self.finished = False
                try:
                    time.sleep(fake.delay)
                    handler = fake.routes.get((method, self.path))
                    status, answer = handler(self.path, body, headers) if handler else (404, {"error": "not found"})
                    self._answer(status, answer)
                finally:
                    self._finish()

            def _finish(self) -> None:
                """No longer in flight: called just before the answer's last bytes go out (after
                them, the client may already send its next request)."""
                if not self.finished:
                    self.finished = True
                    with fake._lock:
                        fake.in_flight -= 1

            def _answer(self, status: int, answer: Any) -> None:
                if not isinstance(answer, list) or (answer and not isinstance(answer[0], (bytes, type(DIE)))):
                    data = json.dumps(answer).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self._finish()
                    self.wfile.write(data)
                    return
                self.send_response(status)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in answer:
                    if chunk is DIE:  # vanish mid-answer: no terminating chunk
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if chunk:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                self._finish()
                self.wfile.write(b"0\r\n\r\n")

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _, _ in self.requests if method in (None, m)]

    def bodies(self, path: str) -> list[Any]:
        return [b for _, p, b, _ in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Proxy(FakeServer):
    """Forwards every request to ``upstream`` (a real server) and streams its answer back,
    counting requests and the most in flight at once. If the upstream vanishes mid-answer,
    so does the proxy's answer."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        super().__init__({})
        self.routes = _Forward(self)  # type: ignore[assignment]


class _Forward(dict):
    def __init__(self, proxy: Proxy) -> None:
        super().__init__()
        self.proxy = proxy

    def get(self, key: Any, default: Any = None) -> Handler:  # every route forwards
        method, _ = key

        def forward(path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
            conn = http.client.HTTPConnection("127.0.0.1", self.proxy.upstream, timeout=600)
            sent = {k: v for k, v in headers.items() if k in ("authorization", "content-type")}
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=sent)
            resp = conn.getresponse()
            if "event-stream" not in (resp.getheader("content-type") or ""):
                data = resp.read()
                conn.close()
                return resp.status, json.loads(data) if data else {}
            return resp.status, _relay(resp, conn)

        return forward


def _relay(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> Iterable[Any]:
    """The upstream's streamed bytes as they come; DIE if it breaks off."""
    out: list[Any] = []

    class _Stream(list):
        def __iter__(self):  # type: ignore[no-untyped-def]
            try:
                while True:
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    yield chunk
            except (http.client.IncompleteRead, OSError):
                yield DIE
                return
            finally:
                conn.close()

    stream = _Stream(out)
    stream.append(b"")  # non-empty list of bytes: the handler streams it
    return stream
