"""Checkpoints of a training run that lasts days, across machines (issue 23).

Two kinds, both written atomically (a new folder, then renames: a kill at any moment leaves
the previous checkpoint or the new one, never half of each):

* **full** (``<out>/state``, git-ignored): the adapter and AdamW's moments in float32, the
  scheduler, every RNG state and the data position. ``--resume`` from it continues exactly
  (the same adapter bytes as a run never stopped; tests/test_training.py checks it).
* **compact** (``training/checkpoints/<run>/``, committed): what a new machine with only
  the repository needs to go on: the adapter in float16 (PEFT layout: export_lora.py and
  PEFT read it as is), AdamW's moments in bfloat16 (``optimizer.safetensors``; float16
  would flush the second moments, ~1e-10, to zero), ``state.json`` (step, data position,
  RNG, scheduler, valid loss curve) and the run's log. Resuming from it is approximate
  only by that rounding. Its size is printed; with rank 16 on all 7 projections it is
  ~23 MB, on the 4 attention projections ~9 MB.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

FULL = "state.pt"


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap ``tmp`` in as ``final``; the old one is kept as ``final.old`` until the swap is done."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def existing(final: Path) -> Path | None:
    """``final``, or ``final.old`` when a kill fell between the two renames."""
    for candidate in (final, final.with_name(final.name + ".old")):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    return None


def fresh_tmp(final: Path) -> Path:
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- full checkpoint (exact) ---------------------------------------------------

def save_full(final: Path, payload: dict[str, Any]) -> None:
    import torch

    tmp = fresh_tmp(final)
    torch.save(payload, tmp / FULL)
    with open(tmp / FULL, "rb+") as f:
        os.fsync(f.fileno())
    replace_dir(tmp, final)


def load_full(final: Path) -> dict[str, Any] | None:
    import torch

    where = existing(final)
    if where is None or not (where / FULL).exists():
        return None
    return torch.load(where / FULL, weights_only=False)


# -- compact checkpoint (committed) --------------------------------------------

def rng_b64(state: Any) -> str:
    return base64.b64encode(bytes(state.numpy().tobytes())).decode("ascii")


def rng_from_b64(text: str) -> Any:
    import torch

    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def save_compact(final: Path, *, adapter: dict[str, Any], adapter_config: dict[str, Any],
                 moments: dict[str, Any] | None, state: dict[str, Any], extra_files: dict[str, Path]) -> int:
    """Write the compact checkpoint; return its size in bytes."""
    import torch
    from safetensors.torch import save_file

    tmp = fresh_tmp(final)
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in sorted(adapter.items())},
              str(tmp / "adapter_model.safetensors"))
    _write(tmp / "adapter_config.json", (json.dumps(adapter_config, indent=2, sort_keys=True) + "\n").encode())
    if moments is not None:
        save_file({k: v.detach().to(torch.bfloat16).contiguous() for k, v in sorted(moments.items())},
                  str(tmp / "optimizer.safetensors"))
    for name, source in extra_files.items():
        if source.exists():
            shutil.copyfile(source, tmp / name)
    files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
    _write(tmp / "state.json", (json.dumps({**state, "files": files}, indent=1) + "\n").encode())
    size = sum(p.stat().st_size for p in tmp.iterdir())
    replace_dir(tmp, final)
    return size


def load_compact(final: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None] | None:
    """(state, adapter float32, moments float32 or None), checked against state.json's digests."""
    import torch
    from safetensors.torch import load_file

    where = existing(final)
    if where is None or not (where / "state.json").exists():
        return None
    state = json.loads((where / "state.json").read_text(encoding="utf-8"))
    for name, digest in state.get("files", {}).items():
        if file_sha256(where / name) != digest:
            raise SystemExit(f"{where / name}: sha256 differs from state.json (a partial copy?)")
    adapter = {k: v.to(torch.float32) for k, v in load_file(str(where / "adapter_model.safetensors")).items()}
    moments = None
    if (where / "optimizer.safetensors").exists():
        moments = {k: v.to(torch.float32) for k, v in load_file(str(where / "optimizer.safetensors")).items()}
    return state, adapter, moments
