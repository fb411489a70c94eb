"""`summarize models pull`: download a catalog model, then check its size and sha256 before it
can be used. A file that does not match is removed; an entry without a pinned digest is refused.

Sources are pluggable: the Hugging Face Hub by default (huggingface_hub, the `pull` extra), or a
local mirror folder (`$SUMMARIZE_MODEL_MIRROR`, a path or file:// URL holding REPO/FILE or FILE),
which offline installs and the tests use.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from . import paths
from .errors import ModelError, UsageError

MIRROR_ENV = "SUMMARIZE_MODEL_MIRROR"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Pin:
    sha256: str
    size: int


def pin_of(entry: dict[str, Any]) -> Pin | None:
    """The entry's pinned digest and size, or None when either is missing or malformed."""
    sha, size = entry.get("sha256"), entry.get("size")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha.lower()):
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        return None
    return Pin(sha.lower(), size)


def user_pin(sha256: str | None, size: int | None) -> Pin | None:
    if sha256 is None and size is None:
        return None
    pin = pin_of({"sha256": sha256, "size": size})
    if pin is None:
        raise UsageError("--sha256 needs 64 hex digits and --size a positive number of bytes, both together",
                         hint="copy them from the file's page on huggingface.co (the LFS pointer: oid sha256, size)")
    return pin


class Source(Protocol):
    def fetch(self, entry: dict[str, Any], staging: Path) -> Path:
        """Download the entry's file under ``staging`` and return its path."""


class HubSource:
    """huggingface.co (or $HF_ENDPOINT) through huggingface_hub."""

    def fetch(self, entry: dict[str, Any], staging: Path) -> Path:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise UsageError("downloading needs huggingface_hub",
                             hint="pip install 'summarize[pull]', or put the .gguf file in models/ yourself") from None
        try:
            return Path(hf_hub_download(entry["repo"], entry["file"], revision=entry.get("revision"),
                                        local_dir=staging))
        except Exception as exc:  # network errors come in many types; all mean the same to the user
            raise ModelError(f"could not download {entry['file']} from {entry['repo']} ({type(exc).__name__})",
                             hint="check the network connection, or download it elsewhere into models/") from None


class MirrorSource:
    """A local folder (or file:// URL) holding REPO/FILE or FILE."""

    def __init__(self, root: str) -> None:
        parsed = urlparse(root)
        self.root = Path(unquote(parsed.path) if parsed.scheme == "file" else root).expanduser()

    def fetch(self, entry: dict[str, Any], staging: Path) -> Path:
        for candidate in (self.root / entry["repo"] / entry["file"], self.root / entry["file"]):
            if candidate.is_file():
                target = staging / entry["file"]
                shutil.copyfile(candidate, target)
                return target
        raise ModelError(f"{entry['file']} is not in the mirror {self.root}",
                         hint=f"put it at {self.root / entry['repo'] / entry['file']}, or unset {MIRROR_ENV}")


def source() -> Source:
    mirror = os.environ.get(MIRROR_ENV)
    return MirrorSource(mirror) if mirror else HubSource()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def mismatch(path: Path, pin: Pin) -> str | None:
    """Why the file is not the pinned one (size first: no need to hash a truncated download)."""
    size = path.stat().st_size
    if size != pin.size:
        return f"size {size} bytes, expected {pin.size}"
    digest = file_sha256(path)
    return None if digest == pin.sha256 else f"sha256 {digest[:16]}…, expected {pin.sha256[:16]}…"


def pull_entry(name: str, entry: dict[str, Any], *, sha256: str | None = None, size: int | None = None,
               via: Source | None = None) -> Path:
    """Download, verify, then move into the models folder; refuse what cannot be verified."""
    if os.environ.get("SUMMARIZE_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise UsageError("offline mode is on (SUMMARIZE_OFFLINE / --offline): refusing to download",
                         hint=f"download {entry['file']} elsewhere and put it in models/")
    pin = user_pin(sha256, size) or pin_of(entry)
    if pin is None:
        raise UsageError(f"catalog model {name!r} has no pinned sha256 and size, and summarize only installs "
                         "verified downloads",
                         hint=f"pass --sha256 and --size from huggingface.co/{entry['repo']} (file {entry['file']}), "
                              "or download the file yourself into models/")
    folder = paths.pull_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / entry["file"]
    if final.is_file():
        why = mismatch(final, pin)
        if why is None:
            return final
        raise ModelError(f"an existing {final.name} does not match the catalog ({why})", path=str(final),
                         hint="remove it, then pull again")
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=folder))  # same file system: the final move is atomic
    try:
        fetched = (via or source()).fetch(entry, staging)
        why = mismatch(fetched, pin)
        if why is not None:
            raise ModelError(f"downloaded {entry['file']} does not match the pinned file ({why}); it was removed",
                             hint="the source serves another file: retry later or check the mirror")
        os.replace(fetched, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
