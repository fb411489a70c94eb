"""GGUF files other tools already downloaded: ollama, LM Studio, the Hugging Face cache, llama.cpp.

Listing only reads directory entries, small JSON manifests and each file's first four bytes
(the GGUF magic): no hashing, no header parsing, no llama_cpp, so a thousand entries list
in milliseconds. A file named by its sha256 (ollama and Hugging Face blobs) carries that
digest, which the summary cache uses as the model's identity instead of re-hashing gigabytes.
A broken entry (dangling link, missing blob, bad manifest, not a GGUF) is a row with a
reason, never an exception.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .errors import UsageError

OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
PREFIXES = ("ollama", "lmstudio", "hf", "llama.cpp")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    """One model another tool stored; ``name`` is what ``--model`` accepts."""

    name: str
    source: str  # ollama | lmstudio | hf | llama.cpp
    path: str
    size: int | None = None
    sha256: str | None = None  # known from the file's name: never computed here
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.error is None

    def as_row(self) -> dict:
        return {**asdict(self), "usable": self.usable}


# -- where each tool keeps its files ------------------------------------------------------
def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def ollama_root() -> Path:
    return _env_path("OLLAMA_MODELS") or Path.home() / ".ollama" / "models"


def lmstudio_roots() -> list[Path]:
    return [Path.home() / ".lmstudio" / "models", Path.home() / ".cache" / "lm-studio" / "models"]


def hf_roots() -> list[Path]:
    """huggingface_hub's order: HF_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME, ~/.cache."""
    explicit = _env_path("HF_HUB_CACHE") or _env_path("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return [explicit]
    home = _env_path("HF_HOME")
    if home:
        return [home / "hub"]
    xdg = _env_path("XDG_CACHE_HOME")
    return [(xdg or Path.home() / ".cache") / "huggingface" / "hub"]


def llama_cache_root() -> Path:
    """llama.cpp's `-hf` download cache (fs_get_cache_directory)."""
    explicit = _env_path("LLAMA_CACHE")
    if explicit:
        return explicit
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llama.cpp"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "llama.cpp"
    return (_env_path("XDG_CACHE_HOME") or Path.home() / ".cache") / "llama.cpp"


# -- cheap checks ---------------------------------------------------------------------------
# Hot path for big ollama folders: plain str paths and os calls (pathlib costs ~3x here).
def _check_file(path: str, expected_size: int | None = None) -> tuple[int | None, str | None]:
    """(size, error): follows links, reads only the 4-byte magic."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, "dangling symlink" if os.path.islink(path) else "file missing"
    except OSError as exc:
        return None, f"cannot read ({exc.strerror})"
    if expected_size is not None and st.st_size != expected_size:
        return st.st_size, f"size {st.st_size} differs from the manifest's {expected_size} (incomplete download?)"
    try:
        with open(path, "rb", buffering=0) as fh:
            magic = fh.read(4)
    except OSError as exc:
        return st.st_size, f"cannot read ({exc.strerror})"
    if magic != b"GGUF":
        return st.st_size, "not a GGUF file"
    return st.st_size, None


def _sha_from_name(name: str) -> str | None:
    """ollama blobs are `sha256-HEX` (`sha256:HEX` before 0.1.x); HF blobs are the bare HEX."""
    digest = name.split("sha256", 1)[1][1:] if name.startswith("sha256") else name
    return digest if _HEX64.fullmatch(digest) else None


def _scandir(path: str | Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def _is_projector(name: str) -> bool:
    """Vision projectors (mmproj-*.gguf) sit beside models but are not language models."""
    return "mmproj" in name.lower()


def _split_parts(path: str) -> tuple[bool, str | None, int]:
    """(skip, error, extra size): a split model is listed once, by its first part."""
    match = _SPLIT.search(path)
    if not match:
        return False, None, 0
    if int(match.group(1)) != 1:
        return True, None, 0
    total, extra = int(match.group(2)), 0
    for k in range(2, total + 1):
        part = path[: match.start()] + f"-{k:05d}-of-{total:05d}.gguf"
        try:
            extra += os.stat(part).st_size
        except OSError:
            return False, f"split model: part {k} of {total} missing", 0
    return False, None, extra


def _found_file(name: str, source: str, path: str, sha256: str | None = None,
                expected_size: int | None = None) -> Found:
    size, error = _check_file(path, expected_size)
    _, split_error, extra = _split_parts(path)  # callers already skipped parts 2..n
    return Found(name, source, path, size + extra if size is not None else None, sha256, error or split_error)


# -- ollama ---------------------------------------------------------------------------------
def ollama_display_name(host: str, namespace: str, model: str, tag: str) -> str:
    """The name `ollama list` prints: the default registry and `library` namespace are implied."""
    if host == OLLAMA_REGISTRY:
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def parse_ollama_name(spec: str) -> tuple[str, str, str, str]:
    """`NAME[:TAG]`, `NS/NAME[:TAG]` or `HOST/NS/NAME[:TAG]` → (host, namespace, model, tag)."""
    spec = spec.split("@", 1)[0].strip().strip("/")
    base, _, tag = spec.rpartition(":") if ":" in spec.rsplit("/", 1)[-1] else (spec, "", "latest")
    parts = [p for p in base.split("/") if p]
    if not parts or len(parts) > 3 or not tag:
        raise UsageError(f"not an ollama model name: {spec!r}", hint="use ollama:NAME[:TAG], e.g. ollama:llama3.2:3b")
    parts = [OLLAMA_REGISTRY, "library"][: 3 - len(parts)] + parts
    return parts[0], parts[1], parts[2], tag


def ollama_entry(root: str, manifest: str, name: str, checked: dict[str, tuple] | None = None) -> Found:
    """One manifest → its model blob. ``checked`` memoizes blobs that several tags share."""
    name = f"ollama:{name}"
    try:
        with open(manifest, "rb") as fh:
            data = json.loads(fh.read())
        layer = next((lay for lay in data["layers"] if lay.get("mediaType") == OLLAMA_MODEL_LAYER), None)
    except OSError:
        return Found(name, "ollama", manifest, error="bad manifest (unreadable)")
    except ValueError:
        return Found(name, "ollama", manifest, error="bad manifest (bad JSON)")
    except (KeyError, TypeError, AttributeError):
        return Found(name, "ollama", manifest, error="bad manifest (unexpected layout)")
    digest = layer.get("digest") if layer is not None else None
    if not isinstance(digest, str):
        return Found(name, "ollama", manifest, error="manifest has no model layer")
    hexa = digest.split(":", 1)[-1]
    sha = _sha_from_name(hexa)
    size = layer.get("size") if isinstance(layer.get("size"), int) else None
    blob = os.path.join(root, "blobs", f"sha256-{hexa}")
    memo = checked.get(blob) if checked is not None else None
    if memo is None:
        memo = _check_file(blob, size)
        if memo[1] == "file missing":  # ollama before 0.1.x (and Windows copies) used `sha256:HEX`
            legacy = os.path.join(root, "blobs", f"sha256:{hexa}")
            missing = (size, f"blob sha256-{hexa[:12]}… missing")
            memo = _check_file(legacy, size) if os.path.exists(legacy) else missing
        if checked is not None:
            checked[blob] = memo
    return Found(name, "ollama", blob, memo[0], sha, memo[1])


def scan_ollama(root: Path | None = None) -> Iterator[Found]:
    base = str(root or ollama_root())
    checked: dict[str, tuple] = {}
    for host in _scandir(os.path.join(base, "manifests")):
        for ns in _scandir(host.path):
            for model in _scandir(ns.path):
                for tag in _scandir(model.path):
                    if tag.is_file():
                        name = ollama_display_name(host.name, ns.name, model.name, tag.name)
                        yield ollama_entry(base, tag.path, name, checked)


# -- plain folders of .gguf files (LM Studio, llama.cpp's cache) ----------------------------
def _walk_gguf(root: Path, depth: int) -> Iterator[Path]:
    for entry in _scandir(root):
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.name.lower().endswith(".gguf") and not entry.is_dir():
            yield path
        elif depth > 0 and entry.is_dir():
            yield from _walk_gguf(path, depth - 1)


def _scan_folder(root: Path, source: str, depth: int) -> Iterator[Found]:
    for path in _walk_gguf(root, depth):
        if _is_projector(path.name) or _split_parts(str(path))[0]:
            continue
        yield _found_file(f"{source}:{path.relative_to(root).as_posix()}", source, str(path))


def scan_lmstudio() -> Iterator[Found]:
    """LM Studio: models/<publisher>/<repo>/<file>.gguf."""
    for root in lmstudio_roots():
        yield from _scan_folder(root, "lmstudio", 2)


def scan_llama_cache() -> Iterator[Found]:
    """llama.cpp's cache: flat <org>_<repo>_<file>.gguf files (newer builds use the HF layout)."""
    root = llama_cache_root()
    yield from _scan_folder(root, "llama.cpp", 0)
    yield from scan_hf([root])


# -- Hugging Face cache ---------------------------------------------------------------------
def _hf_snapshot(repo_dir: Path) -> Path | None:
    """The revision `main` points to, else the most recent snapshot."""
    try:
        ref = (repo_dir / "refs" / "main").read_text().strip()
        if ref and (repo_dir / "snapshots" / ref).is_dir():
            return repo_dir / "snapshots" / ref
    except OSError:
        pass
    snaps = [Path(e.path) for e in _scandir(repo_dir / "snapshots") if e.is_dir()]
    return max(snaps, key=lambda p: p.stat().st_mtime) if snaps else None


def _hf_repo_id(dirname: str) -> str | None:
    if not dirname.startswith("models--"):
        return None
    return dirname[len("models--"):].replace("--", "/")


def _hf_entry(repo: str, snapshot: Path, path: Path) -> Found:
    rel = path.relative_to(snapshot).as_posix()
    try:
        target = os.readlink(path) if path.is_symlink() else None
    except OSError:
        target = None
    sha = _sha_from_name(os.path.basename(target)) if target else None
    return _found_file(f"hf:{repo}/{rel}", "hf", str(path), sha)


def scan_hf(roots: list[Path] | None = None) -> Iterator[Found]:
    """models--ORG--REPO/snapshots/<rev>/*.gguf, symlinks into blobs/ named by sha256."""
    for root in roots if roots is not None else hf_roots():
        for repo_dir in _scandir(root):
            repo = _hf_repo_id(repo_dir.name)
            if repo is None or not repo_dir.is_dir():
                continue
            snapshot = _hf_snapshot(Path(repo_dir.path))
            if snapshot is None:
                continue
            for path in _walk_gguf(snapshot, 2):
                if not _is_projector(path.name) and not _split_parts(str(path))[0]:
                    yield _hf_entry(repo, snapshot, path)


def discover() -> list[Found]:
    """Every GGUF model the other tools keep on this machine (no hashing, no llama_cpp)."""
    found: dict[tuple[str, str], Found] = {}
    for scan in (scan_ollama, scan_lmstudio, scan_hf, scan_llama_cache):
        for item in scan():
            found.setdefault((item.name, item.path), item)  # LLAMA_CACHE may be the HF cache itself
    return list(found.values())


# -- `--model ollama:… | lmstudio:… | hf:… | llama.cpp:…` ----------------------------------
def split_prefix(spec: str) -> tuple[str, str] | None:
    prefix, sep, rest = spec.partition(":")
    return (prefix.lower(), rest) if sep and prefix.lower() in PREFIXES else None


def resolve(prefix: str, rest: str) -> Found:
    """The one model a prefixed name designates; a usable entry or a one-line UsageError."""
    if prefix == "ollama":
        found = _resolve_ollama(rest)
    else:
        candidates = _candidates(prefix)
        found = _pick(prefix, rest, candidates)
    if found.error:
        raise UsageError(f"{found.name}: {found.error}", path=found.path,
                         hint="repair or re-download it with the tool that manages it")
    return found


def _resolve_ollama(rest: str) -> Found:
    host, ns, model, tag = parse_ollama_name(rest)
    root = ollama_root()
    manifest = root / "manifests" / host / ns / model / tag
    if not manifest.is_file():  # ollama matches names case-insensitively
        lowered = f"{host}/{ns}/{model}/{tag}".lower()
        manifest = next((Path(f.path) for f in _all_manifests(root)
                         if Path(f.path).relative_to(root / "manifests").as_posix().lower() == lowered), manifest)
    if not manifest.is_file():
        raise UsageError(f"ollama model {ollama_display_name(host, ns, model, tag)!r} not found in {root}",
                         hint="see `summarize models`, or run `ollama pull` first (OLLAMA_MODELS sets the folder)")
    return ollama_entry(str(root), str(manifest), ollama_display_name(host, ns, model, tag))


def _all_manifests(root: Path) -> Iterator[os.DirEntry]:
    for host in _scandir(root / "manifests"):
        for ns in _scandir(Path(host.path)):
            for model in _scandir(Path(ns.path)):
                yield from _scandir(Path(model.path))


def _candidates(prefix: str) -> list[Found]:
    if prefix == "lmstudio":
        return list(scan_lmstudio())
    if prefix == "hf":
        return list(scan_hf(hf_roots() + [llama_cache_root()]))
    return list(scan_llama_cache())


def _pick(prefix: str, rest: str, candidates: list[Found]) -> Found:
    """Exact name, then name without .gguf, then a unique file under a repo or folder name."""
    want = rest.strip().strip("/").lower()
    names = {f.name[len(prefix) + 1:].lower(): f for f in candidates}
    for key in (want, want + ".gguf"):
        if key in names:
            return names[key]
    matches = [f for key, f in names.items()
               if key.startswith(want + "/") or key.rsplit("/", 1)[-1] in (want, want + ".gguf")]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(sorted(f.name for f in matches)[:6])
        raise UsageError(f"{prefix}:{rest} matches {len(matches)} files ({listed})", hint="name one file")
    raise UsageError(f"no {prefix} model named {rest!r} on this machine",
                     hint="see `summarize models` for the names found")
