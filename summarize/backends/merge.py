"""A LoRA adapter merged into the model's weights once, at first use (issue 23, item 6), on
request: ``SUMMARIZE_LORA_MERGE=on``.

llama.cpp applies a run-time adapter as two extra small matmuls per adapted projection and per
token. Merged weights have no such step: W' = W + (alpha / rank) · B·A, the sum llama.cpp
computes, done once. Measured side by side (docs/BENCHMARKS.md, "The adapter's cost"), the
shipped attention-only rank-16 adapter costs 0-3 % at run time and its merged model the same,
within noise; an all-projection adapter merged is no faster either (every projection grows to
Q8_0). So the default stays llama.cpp's run-time adapter (no first-use wait, no second model
file), and the merge is there for CPUs or adapters where the run-time cost is higher.

Each adapted tensor is dequantized (gguf-py, llama.cpp's own Python package), the low-rank
product added in float32 and the result written as Q8_0 (gguf-py quantizes it exactly as
ggml does). Q8_0, not the tensor's own type: re-quantizing to Q5_0 moved the logits 1.6× as far
from llama.cpp's runtime adapter as Q8_0 does (mean |Δlogit| 0.37-0.42 vs 0.23-0.25, where
merely re-quantizing the bare weights moves them 0.22: the kernels' own rounding), and
gguf-py cannot write K-quants (Q4_K). The adapted projections are small, so the file grows
by ~7 %. Every other tensor and all metadata are copied byte for byte. The file is cached beside the models under a name made of
both files' sha256 (written to ``.part``, renamed atomically): later runs only stat it.

"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelError

# Adapted tensors of these types keep it; every quantized one is rewritten as Q8_0.
_KEEP = ("Q8_0", "F32", "F16", "BF16")
FORMAT = "merge-1"  # bump when the merged bytes would change: part of the cached file's name


def enabled() -> bool:
    return os.environ.get("SUMMARIZE_LORA_MERGE", "off").strip().lower() in ("1", "on", "yes", "true")


def cached_path(cache_dir: Path, model: str | os.PathLike[str], adapter: str | os.PathLike[str]) -> Path:
    """The merged file's place: named by both files' path, size and mtime (a stat, not a hash:
    the cache keys already hold their sha256) and the merge format."""
    import hashlib

    stamp = []
    for f in (model, adapter):
        st = os.stat(f)
        stamp.append(f"{os.path.realpath(f)}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha256("|".join(stamp).encode()).hexdigest()[:24]
    return cache_dir / "merged" / f"{Path(model).stem}+{Path(adapter).stem}.{digest}.{FORMAT}.gguf"


def merged(model: str | os.PathLike[str], adapter: str | os.PathLike[str], out: Path) -> Path:
    """``out``, made from ``model`` + ``adapter`` unless it is already there."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f"{out.name}.{os.getpid()}.part")
    try:
        merge(Path(model), Path(adapter), part)
        os.replace(part, out)
    except Exception as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"could not merge the LoRA adapter into the model ({exc})", path=str(adapter),
                         hint="unset SUMMARIZE_LORA_MERGE to apply it at run time instead") from None
    return out


def lora_deltas(adapter: Path) -> dict[str, Any]:
    """{base tensor name: float32 delta (out × in)} of a GGUF LoRA (scale alpha / rank, as llama.cpp)."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(adapter)
    field = reader.fields.get("adapter.lora.alpha")
    alpha = float(field.contents()) if field is not None else 0.0
    pairs: dict[str, dict[str, Any]] = {}
    for t in reader.tensors:
        for suffix in (".lora_a", ".lora_b"):
            if t.name.endswith(suffix):
                data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
                pairs.setdefault(t.name.removesuffix(suffix), {})[suffix] = data
    deltas = {}
    for name, pair in pairs.items():
        a, b = pair[".lora_a"], pair[".lora_b"]  # numpy order: a is (rank × in), b is (out × rank)
        rank = a.shape[0]
        scale = alpha / rank if alpha else 1.0
        deltas[name] = (b @ a) * np.float32(scale)
    if not deltas:
        raise ModelError("the adapter holds no LoRA tensors", path=str(adapter),
                         hint="it must be a GGUF LoRA (training/export_lora.py)")
    return deltas


def merge(model: Path, adapter: Path, out: Path) -> None:
    import gguf
    import numpy as np

    deltas = lora_deltas(adapter)
    reader = gguf.GGUFReader(model)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(out, arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():  # metadata as is (gguf-py's gguf_new_metadata way)
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    alignment = reader.fields.get("general.alignment")
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    tensors = []
    for t in reader.tensors:
        data, qtype = t.data, t.tensor_type
        delta = deltas.pop(t.name, None)
        if delta is not None:
            weight = gguf.quants.dequantize(t.data, qtype).astype(np.float32)
            if weight.shape != delta.shape:
                raise ModelError(f"the adapter's {t.name} is {delta.shape}, the model's {weight.shape}",
                                 path=str(adapter), hint="this adapter was made for another model")
            qtype = qtype if qtype.name in _KEEP else gguf.GGMLQuantizationType.Q8_0
            data = gguf.quants.quantize(weight + delta, qtype)  # F32 too: gguf-py returns it as float32
        tensors.append((t.name, data, qtype))
    if deltas:
        raise ModelError(f"the model has no tensor {next(iter(deltas))}", path=str(adapter),
                         hint="this adapter was made for another model")
    for name, data, qtype in tensors:
        raw_dtype = qtype if data.dtype == np.uint8 else None
        writer.add_tensor(name, data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
