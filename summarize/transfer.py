"""Resumable transfer of one remote file into a `.part` file (HTTP range requests, or a local mirror).

A pull that is cut (network drop, Ctrl-C, a killed process) leaves `FILE.part`; the next attempt
asks only for the bytes after it (`Range: bytes=N-`). Nothing here knows about pins: download.py
verifies the finished part before it gets its final name, so a partial file never has it.
Standard library only: `models pull` needs no extra package.
"""
from __future__ import annotations

import http.client
import io
import re
import urllib.request
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlparse

BLOCK = 1 << 20
TIMEOUT_S = 30.0  # no byte for this long: the connection counts as cut
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_TOTAL = re.compile(r"bytes \*/(\d+)")


class Progress(Protocol):
    def start(self, label: str, total: int | None, done: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


class Cut(Exception):
    """The transfer stopped early; the part file keeps every byte that arrived (retry resumes)."""


class Refused(Exception):
    """The server said no (a 4xx): retrying the same request will not help."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status} {reason}".strip())


class WrongSize(Exception):
    """The source announces another size than the pinned one: not the pinned file."""

    def __init__(self, announced: int) -> None:
        self.announced = announced
        super().__init__(f"size {announced} bytes")


class _AuthSameHostOnly(urllib.request.HTTPRedirectHandler):
    """Keep Range on redirects (the Hub sends files from a CDN), but never send the token there."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlparse(newurl).netloc != urlparse(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def fetch(url: str, part: Path, *, size: int | None = None, token: str | None = None,
          progress: Progress | None = None, label: str = "") -> None:
    """Complete ``part`` with the rest of ``url``'s body, starting from the bytes it already holds."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # longer than the pinned file: not a prefix of it
        have = _truncate(part)
    if size is not None and have == size:
        return
    if urlparse(url).scheme == "file":
        _from_file(Path(unquote(urlparse(url).path)), part, have, size, progress, label)
    else:
        _from_http(url, part, have, size, token, progress, label)


def _truncate(part: Path) -> int:
    with open(part, "wb"):
        pass
    return 0


def _from_file(source: Path, part: Path, have: int, size: int | None, progress: Progress | None, label: str) -> None:
    total = source.stat().st_size
    if size is not None and total != size:
        raise WrongSize(total)
    if have > total:
        have = _truncate(part)
    with open(source, "rb") as src, open(part, "ab") as out:
        src.seek(have)
        _copy(src, out, have, total, progress, label)


def _from_http(url: str, part: Path, have: int, size: int | None, token: str | None,
               progress: Progress | None, label: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "summarize", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        response = urllib.request.build_opener(_AuthSameHostOnly).open(request, timeout=TIMEOUT_S)
    except HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:  # nothing after `have`: the part is whole, or not this file's prefix
            whole = _TOTAL.match(exc.headers.get("Content-Range", ""))
            if whole and int(whole[1]) == have:
                return
            _truncate(part)
            raise Cut("the server refused to resume; starting over") from None
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise Refused(exc.code, str(exc.reason)) from None
        raise Cut(f"HTTP {exc.code}") from None
    except (URLError, OSError, http.client.HTTPException) as exc:
        raise Cut(_reason(exc)) from None
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match[1]) != have:
                _truncate(part)
                raise Cut("the server answered another range; starting over")
            total = int(match[3]) if match[3] != "*" else None
        else:  # 200: the whole body (a server that ignores ranges); what the part held is replaced
            have = _truncate(part)
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total != size:
            raise WrongSize(total)  # refused before downloading gigabytes of the wrong file
        with open(part, "ab") as out:
            _copy(response, out, have, total, progress, label)


def _copy(src: io.BufferedIOBase, out: BinaryIO, have: int, total: int | None, progress: Progress | None,
          label: str) -> None:
    if progress is not None:
        progress.start(label, total, have)
    done = have
    try:
        while chunk := src.read1(BLOCK):  # what has arrived, not a full block: a cut loses nothing
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress.advance(len(chunk))
    except (OSError, http.client.HTTPException) as exc:  # reset, timeout, a chunked body cut short
        raise Cut(f"{_reason(exc)} after {done} bytes") from None
    finally:
        if progress is not None:
            progress.stop()
    if total is not None and done < total:  # http.client returns b"" at an early close
        raise Cut(f"connection closed after {done} of {total} bytes")


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc) or type(exc).__name__

