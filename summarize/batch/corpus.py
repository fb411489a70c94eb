"""Corpus discovery for the batch job: files, folders (recursive) and globs → an ordered list.

The order is deterministic (arguments in the order given, then paths sorted inside each
folder), so two runs of the same command see the same documents in the same order and
give each the same output file name.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

RESERVED = {"manifest.jsonl", "sobriety.json", "synthese.md"}  # names the batch writes itself
MAX_NAME = 120  # keeps names under every filesystem's 255-byte limit, with room for a suffix
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Item:
    path: str  # as recorded in the manifest: the argument joined with the path inside it
    rel: str  # path inside its root folder (basename for a single file): the output name comes from it
    size: int = 0  # bytes, for the ETA (0 when unknown)
    error: str | None = None  # a problem found while listing (loop, unreadable folder, no match)
    output: str = ""  # Markdown file name inside --out, filled by `name_outputs`


def discover(inputs: Sequence[str], exclude: Iterable[str | os.PathLike] = ()) -> list[Item]:
    """Every document under ``inputs``; hidden entries and the ``exclude`` folders are skipped."""
    skip = {os.path.realpath(p) for p in exclude}
    items: list[Item] = []
    seen: set[str] = set()

    def add(item: Item) -> None:
        key = os.path.abspath(item.path)
        if key not in seen:
            seen.add(key)
            items.append(item)

    for arg in inputs:
        if _is_pattern(arg) and not os.path.lexists(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                add(Item(arg, os.path.basename(arg) or arg, error="no file matches this pattern"))
            for match in matches:
                for item in _expand(match, skip):
                    add(item)
        else:
            for item in _expand(arg, skip):
                add(item)
    return name_outputs(items)


def _is_pattern(arg: str) -> bool:
    return any(ch in arg for ch in "*?[")


def _expand(arg: str, skip: set[str]) -> list[Item]:
    path = os.path.normpath(arg)
    try:
        is_dir = os.path.isdir(path)  # follows a symlink to a folder on purpose
    except OSError:
        is_dir = False
    if not is_dir:
        return [Item(path, os.path.basename(path) or path, _size(path))]
    if os.path.realpath(path) in skip:
        return []
    return _walk(path, skip)


def _walk(root: str, skip: set[str]) -> list[Item]:
    """Recursive listing that follows folder symlinks but reports a loop instead of hanging."""
    found: list[tuple[tuple[str, ...], Item]] = []
    root_id = _dir_id(root)
    # Stack entries: (folder on disk, its path relative to root, ids of it and its ancestors).
    stack: list[tuple[str, str, frozenset]] = [(root, "", frozenset({root_id}))]
    walked = {root_id}
    links: list[tuple[str, str, frozenset]] = []  # folder symlinks, followed after the real tree
    while stack or links:
        if not stack:
            folder, rel, ancestors = links.pop(0)
            ident = _dir_id(folder)
            if ident in ancestors:
                found.append((_key(rel), Item(folder, rel, error="symlink loop (points back to a parent folder)")))
            elif ident not in walked:  # a second way to a folder already listed adds nothing
                walked.add(ident)
                stack.append((folder, rel, ancestors | {ident}))
            continue
        folder, rel, ancestors = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            found.append(((rel,), Item(folder, rel or os.path.basename(folder),
                                       error=f"cannot list folder ({exc.strerror or exc})")))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .git, .DS_Store, editor swap files: never documents
            child_rel = os.path.join(rel, entry.name) if rel else entry.name
            child = os.path.join(folder, entry.name)
            try:
                is_dir = entry.is_dir()  # False for broken links and link loops: they become file errors
            except OSError:
                is_dir = False
            if not is_dir:
                found.append((_key(child_rel), Item(child, child_rel, _size(child))))
                continue
            if os.path.realpath(child) in skip:
                continue
            if entry.is_symlink():
                links.append((child, child_rel, ancestors))
                continue
            ident = _dir_id(child)
            if ident not in walked:
                walked.add(ident)
                stack.append((child, child_rel, ancestors | {ident}))
    found.sort(key=lambda pair: pair[0])
    return [item for _, item in found]


def _key(rel: str) -> tuple[str, ...]:
    return tuple(Path(rel).parts)


def _dir_id(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return (-1, hash(os.path.realpath(path)))


def _size(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


# -- output names --------------------------------------------------------------

def safe_name(rel: str) -> str:
    """A file name that cannot escape the output folder: ASCII, no separators, no leading dot."""
    parts = [p for p in re.split(r"[\\/]+", rel) if p not in ("", ".", "..")]
    joined = "__".join(parts) or "document"
    ascii_name = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("_", ascii_name).strip("._-") or "document"
    if len(name) > MAX_NAME:  # keep the tail: it holds the extension
        name = name[: MAX_NAME // 2] + "~" + name[-(MAX_NAME // 2) :]
    return name + ".md"


def name_outputs(items: list[Item]) -> list[Item]:
    """Give each document a stable output name; later duplicates get a hash of their path."""
    taken = {name.lower() for name in RESERVED}
    named: list[Item] = []
    for item in items:
        name = safe_name(item.rel)
        if name.lower() in taken:  # case-insensitive filesystems (macOS, Windows) too
            digest = hashlib.sha256(item.path.encode("utf-8", "surrogateescape")).hexdigest()[:10]
            name = name[:-3] + "-" + digest + ".md"
        taken.add(name.lower())
        named.append(Item(item.path, item.rel, item.size, item.error, name))
    return named
