"""`summarize models pull`: download a catalog model, then check its size and sha256 before it
can be used. A file that does not match is removed; an entry without a pinned digest is refused.

The file comes from the Hugging Face Hub at the entry's pinned revision
(`$HF_ENDPOINT/REPO/resolve/REVISION/FILE`), or from `$SUMMARIZE_MODEL_MIRROR`: a local folder or
file:// URL holding REPO/resolve/REVISION/FILE, REPO/FILE or FILE (offline installs, the tests), or
an http(s) URL laid out like the Hub. Bytes arrive in `FILE.part` (transfer.py), which resumes
where a cut pull stopped and is renamed only once verified.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, unquote, urlparse

from . import paths, transfer
from .errors import ModelError, UsageError
from .transfer import Progress

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, the sha256 check still guards the result
    fcntl = None  # type: ignore[assignment]

MIRROR_ENV = "SUMMARIZE_MODEL_MIRROR"
HUB = "https://huggingface.co"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BLOCK = 1 << 20
STALLED_TRIES = 4  # attempts in a row that bring no new byte before giving up (a cut with progress retries)


@dataclass(frozen=True)
class Pin:
    sha256: str
    size: int | None  # None: no source gave it; the sha256 alone decides


def pin_of(entry: dict[str, Any]) -> Pin | None:
    """The entry's pinned digest (and size when given), or None when missing or malformed."""
    sha, size = entry.get("sha256"), entry.get("size")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha.lower()):
        return None
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        return None
    return Pin(sha.lower(), size)


def user_pin(sha256: str | None, size: int | None) -> Pin | None:
    if sha256 is None and size is None:
        return None
    pin = pin_of({"sha256": sha256, "size": size})
    if pin is None or pin.size is None:
        raise UsageError("--sha256 needs 64 hex digits and --size a positive number of bytes, both together",
                         hint="copy them from the file's page on huggingface.co (the LFS pointer: oid sha256, size)")
    return pin


def page_url(entry: dict[str, Any]) -> str:
    """The file's page on the Hub, which shows its sha256 and size."""
    return f"{HUB}/{entry['repo']}/blob/{entry.get('revision') or 'main'}/{entry['file']}"


def pin_command(name: str, entry: dict[str, Any]) -> str:
    return f"summarize models pull {name} --sha256 HEX --size BYTES (both shown on {page_url(entry)})"


class MirrorSource:
    """A local folder (or file:// URL) holding REPO/resolve/REVISION/FILE, REPO/FILE or FILE."""

    def __init__(self, root: str) -> None:
        parsed = urlparse(root)
        self.root = Path(unquote(parsed.path) if parsed.scheme == "file" else root).expanduser()

    def url(self, entry: dict[str, Any]) -> str:
        revision = entry.get("revision")
        candidates = ([self.root / entry["repo"] / "resolve" / revision / entry["file"]] if revision else [])
        for candidate in candidates + [self.root / entry["repo"] / entry["file"], self.root / entry["file"]]:
            if candidate.is_file():
                return candidate.resolve().as_uri()
        raise ModelError(f"{entry['file']} is not in the mirror {self.root}",
                         hint=f"put it at {self.root / entry['repo'] / entry['file']}, or unset {MIRROR_ENV}")


def file_url(entry: dict[str, Any]) -> str:
    """Where the entry's file is downloaded from: always at its pinned revision on a Hub-like server."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and not mirror.lower().startswith(("http://", "https://")):
        return MirrorSource(mirror).url(entry)
    base = (mirror or os.environ.get("HF_ENDPOINT") or HUB).rstrip("/")
    return f"{base}/{quote(entry['repo'])}/resolve/{quote(entry.get('revision') or 'main', safe='')}/{quote(entry['file'])}"


def hub_token() -> str | None:
    """The user's Hugging Face token (gated repositories), where huggingface_hub keeps it."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token.strip()
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "huggingface").expanduser()
    path = Path(os.environ.get("HF_TOKEN_PATH") or home / "token").expanduser()
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    if progress is not None:
        progress.start(f"sha256 {path.name}", path.stat().st_size, 0)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_BLOCK):
                digest.update(chunk)
                if progress is not None:
                    progress.advance(len(chunk))
    finally:
        if progress is not None:
            progress.stop()
    return digest.hexdigest()


def mismatch(path: Path, pin: Pin, progress: Progress | None = None) -> str | None:
    """Why the file is not the pinned one (size first: no need to hash a truncated download)."""
    size = path.stat().st_size
    if pin.size is not None and size != pin.size:
        return f"size {size} bytes, expected {pin.size}"
    digest = file_sha256(path, progress)
    return None if digest == pin.sha256 else f"sha256 {digest[:16]}…, expected {pin.sha256[:16]}…"


def part_path(entry: dict[str, Any]) -> Path:
    """Where an unfinished download of the entry waits to be resumed."""
    return paths.pull_dir() / (entry["file"] + ".part")


def pull_entry(name: str, entry: dict[str, Any], *, sha256: str | None = None, size: int | None = None,
               progress: Progress | None = None) -> Path:
    """Download (resuming), verify, then give the file its final name; refuse what cannot be verified."""
    if os.environ.get("SUMMARIZE_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise UsageError("offline mode is on (SUMMARIZE_OFFLINE / --offline): refusing to download",
                         hint=f"download {entry['file']} elsewhere and put it in models/")
    pin = user_pin(sha256, size) or pin_of(entry)
    if pin is None:
        raise UsageError(f"catalog model {name!r} has no pinned sha256 and size, and summarize only installs "
                         "verified downloads", hint=f"pin it yourself: {pin_command(name, entry)}")
    folder = paths.pull_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / entry["file"]
    if final.is_file():
        why = mismatch(final, pin, progress)
        if why is None:
            return final
        raise ModelError(f"an existing {final.name} does not match the catalog ({why})", path=str(final),
                         hint="remove it, then pull again")
    part = part_path(entry)
    with _only_puller(part):
        _transfer(entry, part, pin, progress)
        why = mismatch(part, pin, progress)
        if why is not None:
            part.unlink()
            raise ModelError(f"downloaded {entry['file']} does not match the pinned file ({why}); it was removed",
                             hint="the source serves another file: retry later or check the mirror")
        os.replace(part, final)  # same folder: atomic, and only a verified file ever has the final name
    return final


@contextlib.contextmanager
def _only_puller(part: Path) -> Iterator[None]:
    """Two pulls of one file would append to the same part: the second one stops at once."""
    with open(part, "ab") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise UsageError(f"another `summarize models pull` is downloading {part.name}",
                                 hint="wait for it to finish") from None
        try:
            yield  # the kernel drops the lock with the handle, even if this process is killed
        finally:
            with contextlib.suppress(OSError):
                if part.stat().st_size == 0:  # nothing arrived: leave no empty part behind
                    part.unlink()


def _transfer(entry: dict[str, Any], part: Path, pin: Pin, progress: Progress | None) -> None:
    url = file_url(entry)
    token = hub_token() if url.startswith(("http://", "https://")) else None
    stalled, last = 0, ""
    while stalled < STALLED_TRIES:
        before = part.stat().st_size
        try:
            transfer.fetch(url, part, size=pin.size, token=token, progress=progress, label=entry["file"])
            return
        except transfer.WrongSize as exc:
            part.unlink()
            raise ModelError(f"{entry['file']} at the source does not match the pinned file ({exc}, expected "
                             f"{pin.size}): refused before downloading it, partial file removed",
                             hint="the source serves another file: check the mirror or the catalog's revision") from None
        except transfer.Refused as exc:
            raise _refusal(entry, exc) from None
        except transfer.Cut as exc:
            last = str(exc)
            stalled = 0 if part.stat().st_size > before else stalled + 1
            if stalled < STALLED_TRIES:
                time.sleep(0.5 * 2 ** stalled)  # 0.5 s after a cut that brought bytes; 1, 2, 4 s when stuck
    have = part.stat().st_size
    if not have:
        raise ModelError(f"could not download {entry['file']} from {url.split('/resolve/')[0]} ({last})",
                         hint="check the network connection, or download it elsewhere into models/")
    of = f" of {pin.size}" if pin.size else ""
    raise ModelError(f"download of {entry['file']} interrupted at {have}{of} bytes ({last})",
                     hint="run the same command again: it resumes from there")


def _refusal(entry: dict[str, Any], exc: transfer.Refused) -> ModelError:
    where = f"{entry['repo']} (revision {entry.get('revision') or 'main'})"
    if exc.status in (401, 403):
        return ModelError(f"the Hub refused {entry['file']} from {where} ({exc})",
                          hint=f"a gated repository: accept its terms on {HUB}/{entry['repo']}, then set HF_TOKEN "
                               "or run `huggingface-cli login`")
    if exc.status == 404:
        return ModelError(f"{entry['file']} not found in {where} ({exc})",
                          hint="check the catalog's repo, file and revision")
    return ModelError(f"could not download {entry['file']} from {where} ({exc})",
                      hint="retry later, or download it elsewhere into models/")
