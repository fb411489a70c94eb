"""Step 3: train the LoRA adapter (PyTorch + PEFT) on the tokenized examples.

    python -m training.train --hf training/build/hf --train training/build/train.npz \\
        --valid training/build/valid.npz --out training/build/lora

Adapters on every attention and MLP projection (q, k, v, o, gate, up, down). The loss is
taken on the summary tokens only, and the output projection (tied to the 262 144-row
embedding) is applied only at those positions: the hidden states are gathered first, so
a batch never materializes a (tokens × vocabulary) logit tensor for the prompt. The
adapter with the lowest loss on the validation examples is kept (``--out``/best).
Seeded; on a GPU, deterministic algorithms are requested (training/README.md says which
parts are not bit-reproducible).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def seed_everything(seed: int) -> None:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def batches(examples: list[tuple[np.ndarray, int]], max_tokens: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of example indices, similar lengths together, ≤ max_tokens padded tokens each."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    out: list[list[int]] = []
    for lo in range(0, len(order), 256):  # sort within windows: little padding, still shuffled
        window = sorted(order[lo:lo + 256], key=lambda i: len(examples[i][0]))
        current: list[int] = []
        for i in window:
            longest = max([len(examples[j][0]) for j in current] + [len(examples[i][0])])
            if current and longest * (len(current) + 1) > max_tokens:
                out.append(current)
                current = []
            current.append(i)
        if current:
            out.append(current)
    rng.shuffle(out)
    return out


def collate(examples: list[tuple[np.ndarray, int]], index: list[int], pad: int) -> dict[str, Any]:
    import torch

    width = max(len(examples[i][0]) for i in index)
    ids = torch.full((len(index), width), pad, dtype=torch.long)
    mask = torch.zeros((len(index), width), dtype=torch.long)
    # target[b, t] = the token at t + 1 when it is a summary token (predicted from position t).
    target = torch.full((len(index), width), -100, dtype=torch.long)
    for row, i in enumerate(index):
        seq, n_prompt = examples[i]
        n = len(seq)
        ids[row, :n] = torch.from_numpy(seq)
        mask[row, :n] = 1
        target[row, n_prompt - 1:n - 1] = torch.from_numpy(seq[n_prompt:])
    return {"input_ids": ids, "attention_mask": mask, "target": target}


def summary_loss(model: Any, batch: dict[str, Any], device: str) -> tuple[Any, int]:
    """Mean cross-entropy over the summary tokens, the LM head applied at those positions only."""
    import torch.nn.functional as F

    causal = model.get_base_model()  # Gemma3ForCausalLM with the LoRA layers injected
    out = causal.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
    target = batch["target"].to(device)
    where = target != -100
    hidden = out.last_hidden_state[where]  # (n_targets, hidden)
    logits = causal.lm_head(hidden).float()
    return F.cross_entropy(logits, target[where]), int(where.sum())


def evaluate(model: Any, examples: list[tuple[np.ndarray, int]], max_tokens: int, pad: int, device: str) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for index in batches(examples, max_tokens, random.Random(0)):
            loss, n = summary_loss(model, collate(examples, index, pad), device)
            total, count = total + float(loss) * n, count + n
    model.train()
    return total / max(count, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hf", default="training/build/hf")
    ap.add_argument("--train", default="training/build/train.npz")
    ap.add_argument("--valid", default="training/build/valid.npz")
    ap.add_argument("--out", default="training/build/lora")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    ap.add_argument("--batch-tokens", type=int, default=8192, help="padded tokens per micro-batch")
    ap.add_argument("--accumulate", type=int, default=2, help="micro-batches per optimizer step")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--valid-limit", type=int, default=300, help="validation examples used for selection")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"), help="attention kernel")
    ap.add_argument("--max-minutes", type=float, help="stop (evaluate, keep the best) after this long: a "
                    "device call is limited to 10 minutes")
    args = ap.parse_args(argv)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForCausalLM

    from .prepare import load

    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    # No dtype argument (renamed across transformers versions): the float32 file, then cast.
    base = Gemma3ForCausalLM.from_pretrained(args.hf, attn_implementation=args.attn).to(device=device, dtype=dtype)
    pad = int(base.config.pad_token_id or 0)
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout, target_modules=TARGETS,
                        bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    model.train()
    train, valid = load(args.train), load(args.valid)[: args.valid_limit]
    rng = random.Random(args.seed)
    per_epoch = math.ceil(len(batches(train, args.batch_tokens, random.Random(args.seed))) / args.accumulate)
    planned = total_steps = args.max_steps or max(1, int(per_epoch * args.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warmup = max(1, planned // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / planned))))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.jsonl").open("w", encoding="utf-8")

    def record(entry: dict[str, Any]) -> None:
        print(json.dumps(entry), flush=True)
        log.write(json.dumps(entry) + "\n")
        log.flush()

    best = evaluate(model, valid, args.batch_tokens, pad, device)
    record({"step": 0, "valid_loss": best})
    step, start, queue = 0, time.perf_counter(), []
    while step < total_steps:
        if not queue:
            queue = batches(train, args.batch_tokens, rng)
        opt.zero_grad(set_to_none=True)
        losses, tokens = [], 0
        for _ in range(args.accumulate):
            if not queue:
                queue = batches(train, args.batch_tokens, rng)
            loss, n = summary_loss(model, collate(train, queue.pop(), pad), device)
            (loss / args.accumulate).backward()
            losses.append(float(loss.detach()))
            tokens += n
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        record({"step": step, "loss": sum(losses) / len(losses), "target_tokens": tokens,
                "lr": sched.get_last_lr()[0], "seconds": round(time.perf_counter() - start, 1)})
        out_of_time = args.max_minutes is not None and time.perf_counter() - start > args.max_minutes * 60
        if out_of_time:
            total_steps = step  # evaluate this step, then stop
        if step % args.eval_every == 0 or step == total_steps:
            score = evaluate(model, valid, args.batch_tokens, pad, device)
            record({"step": step, "valid_loss": score, "best": min(best, score)})
            if score < best:
                best = score
                model.save_pretrained(out / "best")
    if not (out / "best").exists():  # never improved: keep the last one, and say so in the log
        model.save_pretrained(out / "best")
        record({"note": "validation loss never improved on the base model; saved the last step"})
    (out / "train_args.json").write_text(json.dumps(vars(args), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
