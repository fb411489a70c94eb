"""GPU offload setting (`--gpu-layers N|all`, $SUMMARIZE_GPU_LAYERS).

The default is every layer when the installed llama.cpp can offload, none otherwise. At load
time llama.cpp itself decides (`llama_supports_gpu_offload()`); `summarize models` must not
import llama_cpp, so it reads which GPU backend libraries the installed package ships instead.

Not part of the cache key: offloading changes where the same weights, prompt and greedy
settings are computed, not what is asked. GPU kernels can round differently and so change a
token now and then, exactly like two CPU builds (AVX2 vs AVX-512) or two llama.cpp versions,
which the key does not separate either; keying on the device would make a laptop's Metal
and CPU runs, or a cache shared between machines, recompute everything. The layers actually
offloaded are recorded with each summary (`gpu_layers` in the JSON result) for provenance.
"""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from .errors import UsageError

ENV = "SUMMARIZE_GPU_LAYERS"
ALL = -1  # llama.cpp's n_gpu_layers for "every layer"
_GPU_LIB = re.compile(r"ggml-(cuda|metal|vulkan|hip|sycl|opencl|musa|cann|kompute|rpc)", re.IGNORECASE)


def parse(value: str | int | None) -> int | None:
    """`all` → -1, `N` → N, None/`auto`/empty → None (the default); anything else is a usage error."""
    if value is None:
        value = os.environ.get(ENV) or None
        if value is None:
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        text = str(value).strip().lower()
    if text in ("", "auto"):
        return None
    if text == "all" or text == "-1":
        return ALL
    if text.isdigit():
        return int(text)
    raise UsageError(f"--gpu-layers expects a number of layers or `all`, not {value!r}",
                     hint="e.g. --gpu-layers all, --gpu-layers 20, --gpu-layers 0 (CPU only)")


def show(layers: int | None) -> str | int:
    return "all" if layers == ALL else 0 if layers is None else layers


def gpu_backends() -> list[str]:
    """GPU backends the installed llama-cpp-python was built with, from its library names
    (no import: llama_cpp loads its shared libraries on import)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    found: set[str] = set()
    for folder in spec.submodule_search_locations:
        lib = Path(folder) / "lib"
        for candidate in (lib.iterdir() if lib.is_dir() else ()):
            match = _GPU_LIB.search(candidate.name)
            if match and match.group(1).lower() != "rpc":
                found.add(match.group(1).lower())
    return sorted(found)


def planned(requested: str | int | None) -> dict[str, object]:
    """What a load would use, for `summarize models` (no llama_cpp import)."""
    layers = parse(requested)
    backends = gpu_backends()
    if layers is None:
        layers = ALL if backends else 0
    return {"gpu_layers": show(layers), "gpu_backends": backends}


def for_load(requested: int | None) -> int:
    """n_gpu_layers for llama.cpp: the default asks llama.cpp whether it can offload."""
    if requested is not None:
        return requested
    import llama_cpp  # at load time only: the backend imports it anyway

    return ALL if llama_cpp.llama_supports_gpu_offload() else 0


def offloaded(n_gpu_layers: int) -> str | int:
    """Layers really offloaded (0 when this llama.cpp has no GPU), as shown to the user."""
    if n_gpu_layers == 0:
        return 0
    import llama_cpp

    return show(n_gpu_layers) if llama_cpp.llama_supports_gpu_offload() else 0
