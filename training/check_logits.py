"""Step 1b: check the rebuilt model against llama.cpp on a few French prompts.

    python -m training.check_logits --hf training/build/hf

Both models see the same token ids (llama.cpp's tokenizer). llama.cpp runs the quantized
weights with quantized activations, the rebuilt model their exact dequantized values in
float32, so the logits cannot be identical: we report the top-1 agreement, the Pearson
correlation and the largest absolute difference over every position.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

PROMPTS = [
    "La mairie de Lyon a annoncé mardi la fermeture temporaire de trois piscines municipales.",
    "Le Parlement européen a adopté jeudi une directive sur les batteries des smartphones, "
    "une victoire contre l'obsolescence programmée selon les associations de consommateurs.",
    "Document :\n<<<\nUn incendie s'est déclaré dans la nuit dans un entrepôt de Rouen.\n>>>\n\nRésumé :",
    "Les ventes de vélos électriques ont progressé de 12 % l'an dernier en France, selon l'Union sport et cycle.",
]


def llama_logits(gguf_path: str, ids: list[int]) -> np.ndarray:
    from summarize.backends.native import open_llama  # no AMX weight buffers: they crash

    llm = open_llama(gguf_path, n_ctx=512, n_batch=512, logits_all=True,
                          n_threads=2, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def compare(hf_dir: str, gguf_path: str, prompts: list[str]) -> dict:
    import torch
    from transformers import Gemma3ForCausalLM

    from .prepare import Tokenizer

    tok = Tokenizer(gguf_path)
    model = Gemma3ForCausalLM.from_pretrained(hf_dir, attn_implementation="eager").float()
    model.eval()
    rows, agree, total, max_diff, corrs = [], 0, 0, 0.0, []
    for text in prompts:
        ids = tok.encode(text, bos=True)
        with torch.no_grad():
            ours = model(torch.tensor([ids])).logits[0].float().numpy()
        ref = llama_logits(gguf_path, ids)
        top = (ours.argmax(-1) == ref.argmax(-1))
        agree, total = agree + int(top.sum()), total + len(ids)
        diff = float(np.abs(ours - ref).max())
        corr = float(np.corrcoef(ours.ravel(), ref.ravel())[0, 1])
        max_diff, corrs = max(max_diff, diff), corrs + [corr]
        rows.append({"tokens": len(ids), "top1": float(top.mean()), "max_abs_diff": diff, "corr": corr})
    return {"prompts": rows, "top1_agreement": agree / total, "positions": total,
            "max_abs_diff": max_diff, "min_corr": min(corrs)}


def main(argv: list[str] | None = None) -> int:
    from .gguf_to_hf import default_gguf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hf", default="training/build/hf")
    ap.add_argument("--gguf", help="default: the embedded gemma3-270m")
    args = ap.parse_args(argv)
    report = compare(args.hf, args.gguf or default_gguf(), PROMPTS)
    print(json.dumps(report, indent=2))
    return 0 if report["top1_agreement"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
