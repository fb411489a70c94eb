"""How llama.cpp is asked to load weights on this CPU (issue 19).

llama.cpp can move weights at load time into *extra buffer types* (``use_extra_bufts``):
repacked layouts that faster CPU kernels read. On a CPU with AMX (Intel Sapphire Rapids and
later: most current x86 servers) the first of them is the AMX buffer, and its Q4_K matmul
segfaults on decode (``ggml_backend_amx_mul_mat``, an unfixed upstream bug): every summary
would crash. So where the CPU has AMX, extra buffer types are off; everywhere else they stay
on, exactly as before (llama.cpp's default). Why not keep the other repack (CPU_REPACK) on
AMX CPUs with a per-tensor override: forcing a tensor onto a repack buffer that has no
layout for its type or shape dereferences a null pointer in llama.cpp, and which tensors
are safe changes with the quantization mix and the llama.cpp version: a crash traded for
another. The cost of the choice is measured in docs/BENCHMARKS.md.

``SUMMARIZE_WEIGHT_REPACK=on`` opts back in (once upstream fixes it), ``off`` disables it
everywhere, ``auto`` (default) is the rule above. ``SUMMARIZE_CPU_FLAGS`` stands in for the
CPU's flags (tests; reproducing a user's report). Every llama.cpp load in this project goes
through ``loading()`` (in process) or the command-line flags below (llama-server,
llama-bench), so the policy is the same for the product, the tests' server and the
benchmarks' references.
"""
from __future__ import annotations

import contextlib
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ENV = "SUMMARIZE_WEIGHT_REPACK"
FLAGS_ENV = "SUMMARIZE_CPU_FLAGS"
AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
# The features that decide which kernels llama.cpp runs, in the order shown to the user.
SHOWN = ("avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
         "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve", "i8mm")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Policy:
    extra_bufts: bool  # llama_model_params.use_extra_bufts
    amx: bool  # the CPU (or the faked flags) has AMX
    reason: str  # one line, for `summarize models` and error messages


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags: $SUMMARIZE_CPU_FLAGS if set, else Linux's /proc/cpuinfo
    (x86 ``flags``, ARM ``Features``); empty where neither exists."""
    faked = os.environ.get(FLAGS_ENV)
    if faked is not None:
        return frozenset(faked.replace(",", " ").lower().split())
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.lower().split())
    return frozenset()


def _llama_has_amx() -> bool:
    """Whether the loaded llama.cpp was built with AMX kernels: the only signal where there is
    no /proc/cpuinfo (Windows). Asked only when llama_cpp is already imported."""
    import sys

    module = sys.modules.get("llama_cpp")
    if module is None or os.environ.get(FLAGS_ENV) is not None:
        return False
    try:
        info = module.llama_print_system_info().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a diagnostic, never a reason to fail a load
        return False
    return "AMX_INT8 = 1" in info


def policy(flags: frozenset[str] | None = None, setting: str | None = None) -> Policy:
    """The load policy for this CPU and setting (``auto``, ``on``, ``off``)."""
    if flags is None:  # this machine: its flags, or llama.cpp's build where there are none
        flags = cpu_flags()
        amx = bool(flags & AMX_FLAGS) or _llama_has_amx()
    else:
        amx = bool(flags & AMX_FLAGS)
    choice = (setting if setting is not None else os.environ.get(ENV, "auto")).strip().lower() or "auto"
    if choice in ("on", "1", "true", "yes"):
        return Policy(True, amx, f"weight repacking on ({ENV}=on)" + (", AMX included" if amx else ""))
    if choice in ("off", "0", "false", "no"):
        return Policy(False, amx, f"weight repacking off ({ENV}=off)")
    if choice != "auto":
        from ..errors import UsageError

        raise UsageError(f"{ENV} must be auto, on or off, not {choice!r}")
    if amx:
        return Policy(False, True, "weight repacking off: this CPU has AMX, whose llama.cpp kernel crashes "
                                   f"(set {ENV}=on to opt in once fixed)")
    return Policy(True, False, "weight repacking on (llama.cpp's default)")


def describe(flags: frozenset[str] | None = None) -> str:
    """One line for `summarize models` and bug reports: the CPU, its features, the policy."""
    flags = cpu_flags() if flags is None else flags
    shown = [f for f in SHOWN if f in flags]
    return f"cpu: {platform.machine() or '?'} {' '.join(shown) or '(features unknown)'} — {policy(flags).reason}"


@contextlib.contextmanager
def loading(chosen: Policy | None = None) -> Iterator[Policy]:
    """Load llama.cpp models inside this block and they follow the policy.

    llama-cpp-python's ``Llama`` has no argument for ``use_extra_bufts``: it fills its model
    parameters from ``llama_model_default_params()``, looked up on its ``llama_cpp.llama_cpp``
    module at call time. Within this block that function returns the defaults with the
    policy applied; the lock keeps concurrent loads (Ray actors are processes; threads are
    the library user's) from seeing each other's patch."""
    import llama_cpp.llama_cpp as capi

    chosen = chosen or policy()
    with _LOCK:
        original = capi.llama_model_default_params

        def defaults():  # type: ignore[no-untyped-def]
            params = original()
            params.use_extra_bufts = chosen.extra_bufts
            return params

        capi.llama_model_default_params = defaults
        try:
            yield chosen
        finally:
            capi.llama_model_default_params = original


def open_llama(model_path: str, *, chosen: Policy | None = None, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path, **kwargs)`` loaded under the policy: the one way this
    project (product, benchmarks' raw references, training) builds one."""
    import llama_cpp

    with loading(chosen):
        return llama_cpp.Llama(model_path=model_path, **kwargs)


def install(chosen: Policy | None = None) -> Policy:
    """Apply the policy to every later load in this process (a dedicated server process)."""
    import llama_cpp.llama_cpp as capi

    chosen = chosen or policy()
    # Not __wrapped__: llama-cpp-python's own decorator sets that to its Python stub.
    original = getattr(capi.llama_model_default_params, "summarize_original", capi.llama_model_default_params)

    def defaults():  # type: ignore[no-untyped-def]
        params = original()
        params.use_extra_bufts = chosen.extra_bufts
        return params

    defaults.summarize_original = original  # type: ignore[attr-defined]
    capi.llama_model_default_params = defaults
    return chosen


def llama_server_args(chosen: Policy | None = None) -> list[str]:
    """llama.cpp's own llama-server (common arguments): ``--no-repack`` when off."""
    return [] if (chosen or policy()).extra_bufts else ["--no-repack"]


def llama_bench_args(chosen: Policy | None = None) -> list[str]:
    """llama-bench: ``--repack 0|1`` (its default follows llama.cpp's, i.e. on)."""
    return ["--repack", "1" if (chosen or policy()).extra_bufts else "0"]
