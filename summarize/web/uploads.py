"""Uploaded documents, written only inside the job's private folder, as they arrive.

Starlette's own form parser spools files over 1 MB to an anonymous file in the system temp
folder; here the multipart stream (python-multipart's parser) goes straight to files in the
job's folder, itself inside the server's private folder (``tempfile.mkdtemp``: mode 0700,
deleted when the server stops). Each name is checked (security.check_filename: a path is
refused with 400), folded to a safe ASCII name, opened with O_CREAT|O_EXCL|O_NOFOLLOW, and
its real path must sit directly in the folder. Counts and sizes are checked while the bytes
arrive (413, with the limit in French); on any refusal the files already written are removed.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from ..reading.readers import SUPPORTED
from .security import Limits, Refused, check_filename, disk_name, printable

MAX_FIELD = 256  # bytes of a plain form field (length, model), pasted text aside
TEXT_FIELD = "texte"


@dataclass
class Upload:
    name: str  # as the user named it (shown on the page)
    path: Path  # where it was written, inside the job's folder
    size: int = 0


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)


async def receive_form(content_type: str, stream: AsyncIterator[bytes], folder: Path, limits: Limits) -> Form:
    """Parse a multipart/form-data body into ``folder`` (created here, mode 0700)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise Refused(400, "Requête invalide : un formulaire multipart/form-data est attendu.")
    folder.mkdir(mode=0o700, parents=False, exist_ok=False)
    state = _Parts(folder, limits)
    parser = MultipartParser(params[b"boundary"], state.callbacks())
    try:
        async for chunk in stream:
            parser.write(chunk)
            state.raise_pending()
        parser.finalize()
        state.raise_pending()
    except Refused:
        state.discard()
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed body, whatever the parser says
        state.discard()
        raise Refused(400, f"Requête invalide : formulaire illisible ({printable(str(exc))}).") from None
    return state.form


_FILENAME = re.compile(rb';\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))', re.IGNORECASE)


def _raw_filename(disposition: bytes) -> bytes:
    match = _FILENAME.search(disposition)
    if match is None:
        return b""
    if match.group(1) is not None:
        return match.group(1).replace(b'\\"', b'"')  # any other backslash stays: a Windows path is refused
    return match.group(2).strip()


class _Parts:
    """python-multipart's callbacks: headers of a part, then its bytes, then its end."""

    def __init__(self, folder: Path, limits: Limits) -> None:
        self.folder, self.limits = folder, limits
        self.form = Form()
        self.header_name = self.header_value = b""
        self.disposition = b""
        self.name: str | None = None
        self.fd: int | None = None
        self.upload: Upload | None = None
        self.data = bytearray()
        self.is_file = False
        self.pending: Refused | None = None
        self.used: set[str] = set()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.begin, "on_part_data": self.part_data, "on_part_end": self.end,
                "on_header_field": self.header_field, "on_header_value": self.header_val,
                "on_header_end": self.header_end, "on_headers_finished": self.headers_done}

    def fail(self, refused: Refused) -> None:
        # python-multipart calls these from inside write(): raise there, and receive_form cleans up
        self.pending = refused
        raise refused

    def raise_pending(self) -> None:
        if self.pending is not None:
            raise self.pending

    def begin(self) -> None:
        self.disposition, self.name, self.upload, self.data, self.is_file = b"", None, None, bytearray(), False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def header_val(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.disposition)
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            return
        self.is_file = True
        # The name as sent: the parser would cut « C:\x\y.txt » to « y.txt » (an old browser's habit);
        # a name that is a path is refused whole instead.
        raw = _raw_filename(self.disposition).decode("utf-8", "replace")
        if not raw:
            return  # an empty file input
        check_filename(raw)
        if len(self.form.files) >= self.limits.max_files:
            self.fail(Refused(413, self.limits.french("files")))
        ext = os.path.splitext(raw)[1].lower()
        if ext not in SUPPORTED:
            self.fail(Refused(415, f"Format non pris en charge : « {printable(raw)} ». Formats lus : "
                                   f"{', '.join(SUPPORTED)}."))
        self.upload = Upload(raw, self._place(disk_name(raw)))
        self.fd = os.open(self.upload.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self.form.files.append(self.upload)

    def _place(self, name: str) -> Path:
        stem, ext = os.path.splitext(name)
        candidate, n = name, 1
        while candidate.lower() in self.used:
            n += 1
            candidate = f"{stem}-{n}{ext}"
        self.used.add(candidate.lower())
        path = self.folder / candidate
        if path.parent.resolve() != self.folder.resolve():  # never outside the folder, whatever the name
            self.fail(Refused(400, f"Nom de fichier refusé : « {printable(name)} »."))
        return path

    def part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self.upload is not None and self.fd is not None:
            self.upload.size += len(piece)
            if self.upload.size > self.limits.max_bytes:
                too_big = f" « {printable(self.upload.name)} » le dépasse."
                self.fail(Refused(413, self.limits.french("file") + too_big))
            os.write(self.fd, piece)
            return
        cap = self.limits.max_bytes if self.name == TEXT_FIELD else MAX_FIELD
        if len(self.data) + len(piece) > cap:
            self.fail(Refused(413, self.limits.french("text") if self.name == TEXT_FIELD else
                              "Requête invalide : champ de formulaire trop long."))
        self.data.extend(piece)

    def end(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        elif self.name is not None and not self.is_file:
            self.form.fields[self.name] = self.data.decode("utf-8", "replace")
        self.upload = None

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        for upload in self.form.files:
            upload.path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass
