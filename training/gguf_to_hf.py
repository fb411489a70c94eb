"""Step 1: rebuild the full-precision Hugging Face Gemma 3 model from the shipped Q4_K_M GGUF.

    python -m training.gguf_to_hf --out training/build/hf

No weights are downloaded: every tensor is read from the GGUF the product ships and
dequantized with the ``gguf`` package (numpy only, no torch). Conventions undone here:
llama.cpp's converter stores Gemma's RMSNorm weights as w + 1 (HF computes x * (1 + w)),
and the output projection is the token embedding (tied, no separate lm_head).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# GGUF per-layer suffix → HF module path under model.layers.N.
LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
}
GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm"}
HF_TO_GGUF_LAYER = {v: k for k, v in LAYER_NAMES.items()}
_BLOCK = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.weight$")

# llama.cpp's gemma3 rules for what the GGUF does not store (src/llama-model.cpp, LLM_ARCH_GEMMA3):
# every 6th layer attends globally, sliding layers use rope base 10 000 unless
# gemma3.rope.freq_base_swa says otherwise, and queries are scaled by 1/sqrt(head_dim)
# (the 27B model excepted, which this pipeline does not handle).
SWA_PATTERN = 6
ROPE_BASE_SWA = 10_000.0


def hf_name(gguf_name: str) -> str:
    """HF state-dict name of a GGUF tensor; KeyError for a tensor this mapping does not know."""
    m = _BLOCK.match(gguf_name)
    if m:
        return f"model.layers.{m.group(1)}.{LAYER_NAMES[m.group(2)]}.weight"
    stem = gguf_name.removesuffix(".weight")
    if stem in GLOBAL_NAMES and gguf_name.endswith(".weight"):
        return f"{GLOBAL_NAMES[stem]}.weight"
    raise KeyError(gguf_name)


def gguf_name(hf: str) -> str:
    """The inverse of hf_name, for the adapter export (``model.layers.3.mlp.up_proj`` → ``blk.3.ffn_up``)."""
    m = re.match(r"^(?:.*\.)?layers\.(\d+)\.(.+?)(?:\.weight)?$", hf)
    if not m or m.group(2) not in HF_TO_GGUF_LAYER:
        raise KeyError(hf)
    return f"blk.{m.group(1)}.{HF_TO_GGUF_LAYER[m.group(2)]}"


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return default
    value = field.contents()
    return value


def hf_config(reader: Any) -> dict[str, Any]:
    """Gemma3TextConfig fields, read from the GGUF metadata (llama.cpp's defaults where absent)."""
    arch = _field(reader, "general.architecture")
    if arch != "gemma3":
        raise ValueError(f"expected a gemma3 GGUF, got architecture {arch!r}")
    p = f"{arch}."
    n_layer = int(_field(reader, p + "block_count"))
    n_head = int(_field(reader, p + "attention.head_count"))
    head_dim = int(_field(reader, p + "attention.key_length"))
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    pattern = int(_field(reader, p + "attention.sliding_window_pattern", SWA_PATTERN))
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": vocab,
        "hidden_size": int(_field(reader, p + "embedding_length")),
        "intermediate_size": int(_field(reader, p + "feed_forward_length")),
        "num_hidden_layers": n_layer,
        "num_attention_heads": n_head,
        "num_key_value_heads": int(_field(reader, p + "attention.head_count_kv")),
        "head_dim": head_dim,
        "query_pre_attn_scalar": head_dim,
        "max_position_embeddings": int(_field(reader, p + "context_length")),
        "rms_norm_eps": float(_field(reader, p + "attention.layer_norm_rms_epsilon")),
        "sliding_window": int(_field(reader, p + "attention.sliding_window")),
        "layer_types": ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                        for i in range(n_layer)],
        "rope_parameters": {
            "full_attention": {"rope_type": "default",
                               "rope_theta": float(_field(reader, p + "rope.freq_base"))},
            "sliding_attention": {"rope_type": "default",
                                  "rope_theta": float(_field(reader, p + "rope.freq_base_swa", ROPE_BASE_SWA))},
        },
        # The same two bases as transformers 4.x reads them (a GPU image may have an older one).
        "rope_theta": float(_field(reader, p + "rope.freq_base")),
        "rope_local_base_freq": float(_field(reader, p + "rope.freq_base_swa", ROPE_BASE_SWA)),
        "sliding_window_pattern": pattern,
        "hidden_activation": "gelu_pytorch_tanh",
        "tie_word_embeddings": True,
        "bos_token_id": int(_field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(_field(reader, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(_field(reader, "tokenizer.ggml.padding_token_id", 0)),
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "torch_dtype": "float32",
    }


def tensors(reader: Any) -> Iterator[tuple[str, np.ndarray]]:
    """(HF name, float32 array in HF layout) for every tensor of the GGUF."""
    from gguf.quants import dequantize

    for t in reader.tensors:
        name = hf_name(t.name)
        # numpy layout is ggml's ne reversed: (out_features, in_features) for a matrix, as HF wants.
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        array = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32, copy=False)
        if t.name.endswith("norm.weight"):
            array = array - 1.0  # stored as w + 1 by llama.cpp's Gemma converter
        yield name, np.ascontiguousarray(array)


def rebuild(gguf_path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write config.json + model.safetensors (float32) for Gemma3ForCausalLM into ``out_dir``."""
    from gguf import GGUFReader
    from safetensors.numpy import save_file

    reader = GGUFReader(str(gguf_path))
    config = hf_config(reader)
    state = dict(tensors(reader))
    expected = 2 + 13 * config["num_hidden_layers"]
    if len(state) != expected:
        raise ValueError(f"{len(state)} tensors rebuilt, expected {expected}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt", "source": Path(gguf_path).name})
    return config


def default_gguf() -> str:
    from summarize import models

    return models.resolve("gemma3-270m-base").path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", help="the Q4_K_M GGUF (default: the embedded gemma3-270m)")
    ap.add_argument("--out", default="training/build/hf")
    args = ap.parse_args(argv)
    path = args.gguf or default_gguf()
    config = rebuild(path, args.out)
    print(f"rebuilt {config['num_hidden_layers']}-layer Gemma 3 from {path} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
