"""Training throughput on this CPU (issue 23): fwd + bwd + AdamW steps of the real model.

    flock /tmp/summarize-cpu.lock python -m training.bench --rows 2 --width 512 --targets-per-row 80

Each configuration loads the rebuilt model, wraps it with LoRA and times ``--steps`` steps
after one warm-up step on a fixed synthetic batch (random ids, the last
``--targets-per-row`` positions of each row are summary tokens, as in training data). Prints
one JSON line per configuration (padded tokens per second).
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def run(hf: str, dtype_name: str, chunked: bool, targets: str, rows: int, width: int, n_targets: int,
        steps: int, flags: tuple[str, ...] = ()) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForCausalLM

    from .train import summary_loss, target_modules

    torch.manual_seed(0)
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    base = Gemma3ForCausalLM.from_pretrained(hf, attn_implementation="sdpa").to(dtype=dtype)
    dropout = 0.0 if "nodrop" in flags else 0.05
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, lora_dropout=dropout,
                                            target_modules=target_modules(targets), task_type="CAUSAL_LM"),
                           autocast_adapter_dtype="bf16lora" not in flags)
    model.train()
    if "compile" in flags:
        causal = model.get_base_model()
        causal.model = torch.compile(causal.model)
    ids = torch.randint(10, 200_000, (rows, width))
    target = torch.full((rows, width), -100, dtype=torch.long)
    target[:, width - n_targets - 1:width - 1] = ids[:, width - n_targets:]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "target": target}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _ = summary_loss(model, batch, "cpu", chunked=chunked)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    per_step = sum(times[1:]) / steps
    return {"dtype": dtype_name, "loss": "chunked" if chunked else "full", "targets": targets,
            "flags": "+".join(flags), "rows": rows, "width": width, "targets_per_row": n_targets,
            "first_step_s": round(times[0], 1), "step_s": round(per_step, 2),
            "tok_s": round(rows * width / per_step, 1), "loss_value": round(float(loss), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hf", default="training/build/hf")
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--targets-per-row", type=int, default=80)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--configs", default="fp32:full:all,bf16:full:all,bf16:chunked:all,bf16:chunked:attention",
                    help="dtype:loss:targets[:flag+flag] (flags: nodrop, bf16lora, compile), comma-separated")
    args = ap.parse_args(argv)
    for spec in args.configs.split(","):
        dtype, loss, targets, *rest = spec.split(":")
        print(json.dumps(run(args.hf, dtype, loss == "chunked", targets, args.rows, args.width,
                             args.targets_per_row, args.steps, tuple(rest[0].split("+")) if rest else ())),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
