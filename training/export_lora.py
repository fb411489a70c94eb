"""Step 4: export the PEFT adapter as a llama.cpp LoRA GGUF and print its sha256.

    python -m training.export_lora training/build/lora/best --out training/build/gemma3-270m-fr.lora.gguf

llama.cpp's adapter format (as its convert_lora_to_gguf.py writes it): general.type =
"adapter", adapter.type = "lora", adapter.lora.alpha, the base architecture, and for each
adapted weight ``blk.N.<name>.weight.lora_a`` (PEFT's lora_A, shape (r, in): ggml ne
[in, r]) and ``.lora_b`` (lora_B, (out, r): ne [r, out]). llama.cpp scales by alpha / r,
as PEFT does. Needs numpy, safetensors and gguf only; tensors are written in a fixed
order, so the same adapter gives the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np

from .gguf_to_hf import gguf_name

_PEFT = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight$")


def adapter_tensors(state: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(GGUF name, array) pairs in a stable order: by layer, then by name."""
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, array in state.items():
        m = _PEFT.match(name)
        if not m:
            raise ValueError(f"not a LoRA tensor: {name}")
        pairs.setdefault(gguf_name(m.group(1)), {})[m.group(2)] = array
    out: list[tuple[str, np.ndarray]] = []
    for base in sorted(pairs, key=lambda n: (int(n.split(".")[1]), n)):
        a, b = pairs[base].get("A"), pairs[base].get("B")
        if a is None or b is None or a.shape[0] != b.shape[1]:
            raise ValueError(f"{base}: lora_A and lora_B missing or of mismatched rank")
        out += [(f"{base}.weight.lora_a", a), (f"{base}.weight.lora_b", b)]
    return out


def write_adapter(tensors: list[tuple[str, np.ndarray]], alpha: float, out: str | Path,
                  *, dtype: str = "f16", arch: str = "gemma3", name: str = "summarize-fr") -> str:
    """Write the GGUF LoRA; return its sha256."""
    import gguf

    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_name(name)
    np_type = np.float16 if dtype == "f16" else np.float32
    for tensor_name, array in tensors:
        writer.add_tensor(tensor_name, np.ascontiguousarray(array.astype(np_type)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return hashlib.sha256(Path(out).read_bytes()).hexdigest()


def export(peft_dir: str | Path, out: str | Path, dtype: str = "f16") -> str:
    from safetensors.numpy import load_file

    peft_dir = Path(peft_dir)
    config = json.loads((peft_dir / "adapter_config.json").read_text(encoding="utf-8"))
    state = load_file(str(peft_dir / "adapter_model.safetensors"))
    return write_adapter(adapter_tensors(state), config["lora_alpha"], out, dtype=dtype)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("peft_dir", help="folder with adapter_config.json and adapter_model.safetensors")
    ap.add_argument("--out", default="training/build/gemma3-270m-fr.lora.gguf")
    ap.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    args = ap.parse_args(argv)
    digest = export(args.peft_dir, args.out, args.dtype)
    print(f"{digest}  {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
