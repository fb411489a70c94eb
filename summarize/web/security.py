"""What keeps a local web server local: who may ask it anything, and what it accepts.

A page served on 127.0.0.1 is reachable by every program on the machine and, through the
browser, by every web site the user visits (a cross-site form post, a script on a rebound
DNS name). So every request passes ``Guard`` (an ASGI middleware), in this order:

1. **Host** must name this server (``127.0.0.1:PORT``, ``localhost:PORT``…): a DNS-rebinding
   page reaches us under its own name and gets 400, as Django answers a Host outside
   ALLOWED_HOSTS.
2. **Token**: a secret drawn at each launch (``secrets.token_urlsafe``, 256 bits) that only the
   user's terminal shows, in the URL it prints. The first visit trades it for an HttpOnly,
   SameSite=Strict cookie and is redirected to the bare URL (the token leaves the address
   bar and the history); scripts may send ``Authorization: Bearer TOKEN``. Without it: 403.
3. **Origin** on every state-changing request (POST…): a foreign ``Origin`` (another site,
   another port, ``null``) or ``Sec-Fetch-Site: cross-site`` gets 403, so a form or a fetch
   from another page is refused even before the cookie (which it would not carry) is checked.
4. **Size**: a body over the limit gets 413 with a French message, from its Content-Length
   before anything is read, or as soon as the bytes received pass it.

Every answer carries a strict Content-Security-Policy (scripts and styles from this server
only, no frame, no form to elsewhere), ``Referrer-Policy: no-referrer``, ``nosniff`` and
``no-store``. Upload names are checked by ``check_filename`` (uploads.py writes them).
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Limits:
    """What one request may upload (``summarize serve --max-files --max-upload-mb --max-bytes``)."""

    max_files: int = 20
    max_total: int = 50_000_000  # a whole request body
    max_bytes: int = 10_000_000  # one document (the CLI's --max-bytes)

    def french(self, what: str) -> str:
        """The message of a refused upload, with the limit that was passed."""
        return {
            "total": f"Envoi trop volumineux : {mb(self.max_total)} au plus par envoi. "
                     "Envoyez moins de fichiers à la fois, ou relancez summarize serve avec --max-upload-mb.",
            "files": f"Trop de fichiers : {self.max_files} au plus par envoi "
                     "(summarize serve --max-files), ou la commande summarize batch pour un gros corpus.",
            "file": f"Fichier trop volumineux : {mb(self.max_bytes)} au plus par document "
                    "(summarize serve --max-bytes).",
            "text": f"Texte trop long : {mb(self.max_bytes)} au plus (summarize serve --max-bytes).",
        }[what]


def mb(n: int) -> str:
    """Megabytes as the options give them (10 000 000 bytes: « 10 Mo »; 600 000: « 0,6 Mo »)."""
    return f"{n / 1e6:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " Mo"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: list[str] | None = None) -> set[str]:
    """Host headers naming this server. On a loopback address, the loopback names; on another
    address, that address (and, for 0.0.0.0 / ::, each address of this machine's interfaces)."""
    names = {host.strip("[]").lower(), *(h.lower() for h in extra or ())}
    if is_loopback(host) or host in ("0.0.0.0", "::"):
        names |= {"127.0.0.1", "localhost", "::1"}
    if host in ("0.0.0.0", "::"):
        names |= _interface_addresses()
    out = set()
    for name in names:
        literal = f"[{name}]" if ":" in name else name
        out.add(f"{literal}:{port}")
        if port == 80:
            out.add(literal)
    return out


def _interface_addresses() -> set[str]:
    import psutil

    return {a.address.split("%")[0].lower() for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family.name in ("AF_INET", "AF_INET6")}


def origins_for(hosts: set[str]) -> set[str]:
    return {f"http://{h}" for h in hosts}


class Refused(Exception):
    """A request this server will not serve: HTTP status and a French message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# -- upload names -----------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_BYTES = 255


def check_filename(raw: str) -> str:
    """The name a browser sent for an uploaded file, refused (400) when it tries to be a path:
    a separator, a ``..``, a NUL or control character, or too long. A browser sends the bare name
    of a picked or dropped file, so only a crafted request is refused."""
    bad = (not raw or "/" in raw or "\\" in raw or raw.startswith("..")
           or any(unicodedata.category(c) == "Cc" for c in raw) or len(raw.encode("utf-8", "replace")) > MAX_NAME_BYTES)
    if bad:
        raise Refused(400, f"Nom de fichier refusé : « {printable(raw)} » (un nom de fichier, pas un chemin).")
    return raw


def disk_name(name: str) -> str:
    """An ASCII name for the private folder: no separator, no leading dot, the extension kept
    (it chooses the reader), at most 100 characters."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem, dot, ext = folded.rpartition(".")
    if not dot:
        stem, ext = folded, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")[:90] or "document"
    ext = _UNSAFE.sub("", ext.lower())[:10]
    return f"{stem}.{ext}" if ext else stem


def printable(text: str, limit: int = 80) -> str:
    text = "".join(c if unicodedata.category(c) != "Cc" else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the middleware ---------------------------------------------------------------------------
class Guard:
    def __init__(self, app: Callable[..., Awaitable[None]], *, token: str, hosts: set[str], cookie: str,
                 limits: Limits) -> None:
        self.app, self.token, self.hosts, self.cookie, self.limits = app, token, hosts, cookie, limits
        self.origins = origins_for(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_secure(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in names]
            await send(message)

        try:
            redirect = self.check(scope)
            if redirect is not None:
                await redirect(send_secure)
                return
            await self.app(scope, self._bounded(scope, receive), send_secure)
        except Refused as refused:
            if started:
                raise
            await refusal(scope, refused, send_secure)

    def check(self, scope: Scope) -> Callable[[Send], Awaitable[None]] | None:
        headers = _headers(scope)
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            raise Refused(400, "Hôte refusé : cette page ne répond qu'à l'adresse affichée par summarize serve.")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if _same(query.get("token"), self.token) and scope["method"] == "GET":
            return self._trade_token(scope, query)
        if not (_same(_cookies(headers).get(self.cookie), self.token) or _same(_bearer(headers), self.token)):
            raise Refused(403, "Accès refusé : ouvrez l'adresse complète (avec son jeton) que summarize serve "
                               "a affichée dans le terminal.")
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if (origin is not None and origin.lower() not in self.origins) or \
                    headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                raise Refused(403, "Requête refusée : elle vient d'une autre page que celle de summarize serve.")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limits.max_total:
            raise Refused(413, self.limits.french("total"))
        return None

    def _trade_token(self, scope: Scope, query: dict[str, str]) -> Callable[[Send], Awaitable[None]]:
        """?token=… once: a cookie only this server's pages send back, then the bare URL."""
        rest = urlencode({k: v for k, v in query.items() if k != "token"})
        location = scope["path"] + (f"?{rest}" if rest else "")
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"

        async def answer(send: Send) -> None:
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})

        return answer

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """The body, cut off with 413 as soon as it passes the limit (a chunked or lying upload)."""
        seen = 0
        limit = self.limits.max_total

        async def bounded() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise Refused(413, self.limits.french("total"))
            return message

        return bounded


async def refusal(scope: Scope, refused: Refused, send: Send) -> None:
    """JSON for the page's scripts (/api/…), a short HTML page for a browser's address bar."""
    if scope["path"].startswith("/api/"):
        body = json.dumps({"erreur": refused.message}, ensure_ascii=False).encode("utf-8")
        kind = b"application/json"
    else:
        from html import escape

        body = (f"<!doctype html><html lang=fr><meta charset=utf-8><title>summarize</title>"
                f"<p>{escape(refused.message)}</p></html>").encode("utf-8")
        kind = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": refused.status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        if name in out and name == "host":
            out[name] = "\x00"  # two Host headers: refused as no Host of ours
        else:
            out[name] = value.decode("latin-1")
    return out


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq:
            found.setdefault(name, value)
    return found


def _bearer(headers: dict[str, str]) -> str | None:
    kind, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else None


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
