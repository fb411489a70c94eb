"""Step 3: train the LoRA adapter (PyTorch + PEFT): resumable, time-boxed, pausable.

    nice -n 19 python -m training.train --run rewrite-1 --resume --max-minutes 600

The loss is taken on the summary tokens only, and the LM head (tied to the 262 144-row
embedding) is applied only at those positions, a chunk of rows at a time (fastpath.py):
no (tokens × vocabulary) logits for the prompt, no float32 (targets × vocabulary) copy.
The base model runs in bfloat16 where the CPU multiplies it natively (AMX, AVX512-BF16;
the log says which), float32 elsewhere; the LoRA matrices and AdamW stay float32.

A run lasts days, in stretches on whatever machine is free (issue 23):

* the data order is a function of (seed, epoch) only, so the position in it is two integers;
* every ``--save-minutes`` the run writes two checkpoints (checkpoint.py): the full one in
  ``<out>/state`` (exact resume) and the compact one in ``training/checkpoints/<run>/``
  (committed: the next stretch may start on a new machine from the repository alone); the
  valid loss is measured first when ``--eval-minutes`` have passed (selection: the best
  adapter is kept in ``<out>/best``);
* SIGTERM or SIGINT: finish the current step, save, exit 0; ``--max-minutes``: the same after
  that long; SIGSTOP/SIGCONT pause it (nothing to do: the clock it checks is the wall clock);
* ``--resume`` continues from the full checkpoint, or from the compact one when there is none.

Seeded; on a GPU, deterministic algorithms are requested.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ATTENTION = TARGETS[:4]
# What fixes a run: a resume takes these from its checkpoint, not from the command line.
RUN_ARGS = ("rank", "alpha", "dropout", "lr", "epochs", "max_steps", "batch_tokens", "accumulate", "seed",
            "targets", "warmup", "valid_limit",  # valid_limit: one curve, one set of examples
            "decay_steps", "branch_step", "branch_factor")  # a decay branch's schedule (--branch)
BRANCH_ARGS = RUN_ARGS[-3:]
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


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


def epoch_order(examples: list[tuple[np.ndarray, int]], max_tokens: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch: a function of (seed, epoch), so a position in them is resumable."""
    return batches(examples, max_tokens, random.Random(f"{seed}:{epoch}"))


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


def summary_loss(model: Any, batch: dict[str, Any], device: str, *, chunked: bool = True) -> tuple[Any, int]:
    """Mean cross-entropy over the summary tokens, the LM head applied at those positions only."""
    import torch.nn.functional as F

    from .fastpath import chunked_cross_entropy

    causal = model.get_base_model()  # Gemma3ForCausalLM with the LoRA layers injected
    out = causal.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
    target = batch["target"].to(device)
    where = target != -100
    hidden = out.last_hidden_state[where]  # (n_targets, hidden)
    if chunked:
        return chunked_cross_entropy(hidden, causal.lm_head.weight, target[where]), int(where.sum())
    return F.cross_entropy(causal.lm_head(hidden).float(), target[where]), int(where.sum())


def evaluate(model: Any, examples: list[tuple[np.ndarray, int]], max_tokens: int, pad: int, device: str,
             tags: list[str] | None = None) -> tuple[float, dict[str, float]]:
    """Mean summary-token loss over ``examples``, and per length tag (short / medium / long: the
    product is judged on short, and one mixed number can fall while short rises)."""
    import torch

    groups: dict[str, list[tuple[np.ndarray, int]]] = {}
    for example, tag in zip(examples, tags or ["all"] * len(examples)):
        groups.setdefault(tag, []).append(example)
    model.eval()
    sums: dict[str, tuple[float, int]] = {}
    with torch.no_grad():
        for tag, subset in groups.items():
            total, count = 0.0, 0
            for index in batches(subset, max_tokens, random.Random(0)):
                loss, n = summary_loss(model, collate(subset, index, pad), device)
                total, count = total + float(loss) * n, count + n
            sums[tag] = (total, count)
    model.train()
    overall = sum(t for t, _ in sums.values()) / max(sum(c for _, c in sums.values()), 1)
    return overall, {tag: t / max(c, 1) for tag, (t, c) in sorted(sums.items())} if tags else {}


class Stop:
    """SIGTERM / SIGINT: the loop finishes its step, saves and exits."""

    def __init__(self) -> None:
        self.signal: str | None = None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal = signal.Signals(signum).name


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="rewrite-1", help="run name: training/checkpoints/<run>/ and build/runs/<run>/")
    ap.add_argument("--hf", default="training/build/hf")
    ap.add_argument("--train", default="training/build/rewrite/train.npz")
    ap.add_argument("--valid", default="training/build/rewrite/valid.npz")
    ap.add_argument("--out", help="full checkpoints, best adapter, log (default training/build/runs/<run>)")
    ap.add_argument("--checkpoints", type=Path, help="compact committed checkpoint folder "
                    "(default training/checkpoints/<run>; 'none' to skip)")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint if there is one")
    ap.add_argument("--init", type=Path, help="a new run starts from this checkpoint folder's adapter "
                    "(a warm start: fresh optimizer and schedule; ignored when resuming)")
    ap.add_argument("--branch", type=Path, help="a new run that goes on from this checkpoint folder exactly where it "
                    "stands (adapter, AdamW moments, step, data position, RNG) with its own schedule: --decay-steps")
    ap.add_argument("--decay-steps", type=int, help="with --branch: the lr falls linearly from its value at the branch "
                    "point to 0 over this many steps, then the run ends (warmup-stable-decay annealing)")
    ap.set_defaults(branch_step=None, branch_factor=None)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="LoRA dropout: 0.05 costs 40 %% of the step time on CPU (README table)")
    ap.add_argument("--targets", default="all", help="all | attention | comma-separated projection names")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=30, help="warm-up steps")
    ap.add_argument("--epochs", type=float, default=3.0, help="length of the cosine schedule")
    ap.add_argument("--max-steps", type=int, help="schedule length in steps (overrides --epochs)")
    ap.add_argument("--batch-tokens", type=int, default=1024, help="padded tokens per micro-batch")
    ap.add_argument("--accumulate", type=int, default=4, help="micro-batches per optimizer step")
    ap.add_argument("--valid-limit", type=int, default=200, help="validation examples used for selection")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--dtype", default="auto", choices=("auto", "bf16", "fp32"),
                    help="base model compute dtype on CPU (auto: bf16 where native)")
    ap.add_argument("--full-softmax", action="store_true", help="the plain float32 loss (benchmarks)")
    ap.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"), help="attention kernel")
    ap.add_argument("--save-minutes", type=float, default=10.0, help="checkpoint this often")
    ap.add_argument("--eval-minutes", type=float, default=30.0,
                    help="measure the valid loss (and keep the best adapter) this often, at a checkpoint")
    ap.add_argument("--max-minutes", type=float, help="save and stop after this long (this stretch)")
    ap.add_argument("--steps-this-run", type=int, help="save and stop after this many steps (this stretch)")
    ap.add_argument("--no-optimizer-in-repo", action="store_true",
                    help="compact checkpoint without AdamW's moments (smaller; the resume restarts them)")
    return ap.parse_args(argv)


def target_modules(spec: str) -> list[str]:
    return TARGETS if spec == "all" else ATTENTION if spec == "attention" else spec.split(",")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import Gemma3ForCausalLM

    from . import checkpoint as ck
    from .fastpath import cpu_dtype
    from .prepare import load, load_tags

    started = time.monotonic()
    stop = Stop()
    out = Path(args.out or f"training/build/runs/{args.run}")
    compact_dir = None if str(args.checkpoints) == "none" else (args.checkpoints or CHECKPOINTS / args.run)
    out.mkdir(parents=True, exist_ok=True)
    full = ck.load_full(out / "state") if args.resume else None
    compact = ck.load_compact(compact_dir) if args.resume and full is None and compact_dir else None
    saved = full["state"] if full else compact[0] if compact else None
    parent = None
    if saved is None and args.branch:  # a decay branch: the parent's state, this run's schedule
        parent = ck.load_compact(args.branch)
        if parent is None or not args.decay_steps:
            raise SystemExit(f"--branch {args.branch}: no checkpoint there" if parent is None else
                             "--branch needs --decay-steps")
    origin = saved or (parent[0] if parent else None)  # a branch: its parent's state
    if origin:  # the run's defining arguments come from its checkpoint (a branch's schedule from its command)
        for name in RUN_ARGS:
            if name in origin["args"] and not (parent and name in BRANCH_ARGS):  # an older checkpoint lacks some
                setattr(args, name, origin["args"][name])
    if parent:
        group = parent[0]["param_groups"][0]
        args.branch_step, args.branch_factor = parent[0]["progress"]["step"], group["lr"] / group["initial_lr"]
    log = (out / "log.jsonl").open("a" if saved else "w", encoding="utf-8")

    def record(entry: dict[str, Any]) -> None:
        line = json.dumps(entry)
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype, why = (torch.bfloat16, "bfloat16 (GPU)") if device == "cuda" else cpu_dtype(args.dtype)
    base = Gemma3ForCausalLM.from_pretrained(args.hf, attn_implementation=args.attn).to(device=device, dtype=dtype)
    pad = int(base.config.pad_token_id or 0)
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout,
                        target_modules=target_modules(args.targets), bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, config)  # LoRA weights upcast to float32 (PEFT's autocast_adapter_dtype)
    model.train()
    train, valid = load(args.train), load(args.valid)[: args.valid_limit]
    valid_tags = load_tags(args.valid)[: args.valid_limit]
    data_sha = ck.file_sha256(Path(args.train))
    per_epoch = math.ceil(len(epoch_order(train, args.batch_tokens, args.seed, 0)) / args.accumulate)
    planned = args.max_steps or max(1, int(per_epoch * args.epochs))
    if args.decay_steps:
        planned = args.branch_step + args.decay_steps
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warmup = max(1, min(args.warmup, planned // 10))

    def factor(s: int) -> float:
        if args.decay_steps:  # from the parent's lr at the branch point, linearly to 0
            return args.branch_factor * min(1.0, max(0.0, 1 - (s - args.branch_step) / args.decay_steps))
        return min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / planned)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def set_compact_adapter(adapter: dict[str, Any]) -> None:  # a committed checkpoint's PEFT key names
        set_peft_model_state_dict(model, {k.replace(".default.", "."): v for k, v in adapter.items()})

    st: dict[str, Any] = {"step": 0, "epoch": 0, "pos": 0, "examples": 0, "target_tokens": 0, "best": None,
                          "curve": [], "train_seconds": 0.0, "stretches": 0}
    if full:
        set_peft_model_state_dict(model, full["adapter"])
        opt.load_state_dict(full["optimizer"])
        sched.load_state_dict(full["scheduler"])
        torch.set_rng_state(full["torch_rng"])
        st = full["state"]["progress"]
        how = "full checkpoint (exact)"
    elif compact or parent:
        state, adapter, moments = compact or parent
        set_compact_adapter(adapter)
        if moments is not None:
            opt.load_state_dict({"param_groups": state["param_groups"], "state": {
                i: {"step": torch.tensor(float(state["opt_step"])), "exp_avg": moments[f"{n}.exp_avg"],
                    "exp_avg_sq": moments[f"{n}.exp_avg_sq"]} for i, n in enumerate(names)}})
        else:
            for group, saved_group in zip(opt.param_groups, state["param_groups"]):
                group.update({k: v for k, v in saved_group.items() if k != "params"})
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(ck.rng_from_b64(state["torch_rng"]))
        st = state["progress"]
        kept = "(float16 adapter, " + ("bfloat16 moments)" if moments is not None else "moments restarted)")
        how = (f"branch of {args.branch} at step {st['step']} {kept}: the lr x{args.branch_factor:.3f} falls to 0 "
               f"over {args.decay_steps} steps") if parent else f"compact checkpoint {kept}"
    elif args.init:  # warm start: another run's adapter, this run's optimizer, schedule and data
        found = ck.load_compact(args.init)
        if found is None:
            raise SystemExit(f"--init {args.init}: no checkpoint there")
        set_compact_adapter(found[1])
        how = f"start from {args.init} step {found[0]['progress']['step']} (adapter only)"
    else:
        how = "start"
    if origin and origin.get("data_sha256") != data_sha:
        raise SystemExit(f"{args.train} is not the data this run was trained on (sha256 differs): rebuild it "
                         "with the same prepare.py command (training/README.md)")
    st["stretches"] += 1
    trainable = sum(p.numel() for p in params)
    record({"event": "stretch", "from": how, "step": st["step"], "epoch": st["epoch"], "pos": st["pos"],
            "dtype": why, "threads": torch.get_num_threads(), "loss": "full" if args.full_softmax else "chunked",
            "targets": target_modules(args.targets), "trainable": trainable, "planned_steps": planned,
            "steps_per_epoch": per_epoch, "train_examples": len(train), "valid_examples": len(valid)})

    def snapshot(*, evaluate_now: bool) -> None:
        if evaluate_now:
            t0 = time.monotonic()
            score, by_length = evaluate(model, valid, args.batch_tokens, pad, device, valid_tags)
            improved = st["best"] is None or score < st["best"]
            st["best"] = score if improved else st["best"]
            st["curve"].append({"step": st["step"], "examples": st["examples"], "valid_loss": round(score, 4),
                                "by_length": {k: round(v, 4) for k, v in by_length.items()}})
            record({"step": st["step"], "examples": st["examples"], "valid_loss": score, "best": st["best"],
                    "by_length": by_length, "eval_seconds": round(time.monotonic() - t0, 1)})
            if improved:
                tmp = ck.fresh_tmp(out / "best")
                model.save_pretrained(tmp)
                (tmp / "progress.json").write_text(json.dumps({"step": st["step"], "valid_loss": score}) + "\n")
                ck.replace_dir(tmp, out / "best")
        adapter = get_peft_model_state_dict(model)
        run_state = {"args": {k: getattr(args, k) for k in RUN_ARGS}, "data_sha256": data_sha, "progress": st}
        ck.save_full(out / "state", {"adapter": adapter, "optimizer": opt.state_dict(),
                                     "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(),
                                     "state": run_state})
        if compact_dir is None:
            return
        opt_state = opt.state_dict()
        moments = None
        if not args.no_optimizer_in_repo and opt_state["state"]:
            moments = {f"{n}.{k}": opt_state["state"][i][k] for i, n in enumerate(names)
                       for k in ("exp_avg", "exp_avg_sq")}
        opt_step = int(opt_state["state"][0]["step"]) if opt_state["state"] else 0
        size = ck.save_compact(
            compact_dir, adapter=adapter, adapter_config=adapter_config(model),
            moments=moments,
            state={**run_state, "param_groups": opt_state["param_groups"], "opt_step": opt_step,
                   "scheduler": sched.state_dict(), "torch_rng": ck.rng_b64(torch.get_rng_state())},
            extra_files={"log.jsonl": out / "log.jsonl"})
        write_notes(compact_dir, args, st, size, why)

    order_epoch, order = -1, []

    def micro_batches() -> Iterator[list[int]]:
        nonlocal order_epoch, order
        while True:
            if order_epoch != st["epoch"]:
                order_epoch, order = st["epoch"], epoch_order(train, args.batch_tokens, args.seed, st["epoch"])
            if st["pos"] >= len(order):
                st["epoch"], st["pos"] = st["epoch"] + 1, 0
                continue
            index = order[st["pos"]]
            st["pos"] += 1
            yield index

    if not saved and not parent:
        snapshot(evaluate_now=True)  # the base model's valid loss: the curve's first point (a branch has its parent's)
    feed = micro_batches()
    last_save = last_eval = stretch_t0 = time.monotonic()
    steps_now, reason = 0, "planned steps done"
    while st["step"] < planned:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        losses, tokens, padded = [], 0, 0
        for _ in range(args.accumulate):
            index = next(feed)
            batch = collate(train, index, pad)
            loss, n = summary_loss(model, batch, device, chunked=not args.full_softmax)
            (loss / args.accumulate).backward()
            losses.append(float(loss.detach()))
            tokens, padded = tokens + n, padded + batch["input_ids"].numel()
            st["examples"] += len(index)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        st["step"] += 1
        steps_now += 1
        seconds = time.perf_counter() - t0
        st["train_seconds"] = round(st["train_seconds"] + seconds, 1)
        record({"step": st["step"], "loss": round(sum(losses) / len(losses), 4), "target_tokens": tokens,
                "padded_tokens": padded, "tok_s": round(padded / seconds, 1), "lr": sched.get_last_lr()[0],
                "examples": st["examples"], "epoch": st["epoch"], "pos": st["pos"]})
        st["target_tokens"] += tokens
        now = time.monotonic()
        if stop.signal:
            reason = f"{stop.signal}: saved and stopped"
            break
        if args.max_minutes is not None and now - started > args.max_minutes * 60:
            reason = "--max-minutes reached"
            break
        if args.steps_this_run is not None and steps_now >= args.steps_this_run:
            reason = "--steps-this-run reached"
            break
        if now - last_save > args.save_minutes * 60:
            due = now - last_eval > args.eval_minutes * 60
            snapshot(evaluate_now=due)
            last_save = time.monotonic()
            last_eval = last_save if due else last_eval
    # A signal gets a quick save (no evaluation); a time box or the end evaluates first.
    snapshot(evaluate_now=stop.signal is None and steps_now > 0)
    record({"event": "stop", "reason": reason, "step": st["step"], "examples": st["examples"],
            "stretch_minutes": round((time.monotonic() - stretch_t0) / 60, 1)})
    (out / "train_args.json").write_text(json.dumps(vars(args), indent=2, default=str) + "\n", encoding="utf-8")
    return 0


def adapter_config(model: Any) -> dict[str, Any]:
    """PEFT's adapter_config.json content (sets become sorted lists, as save_pretrained writes them)."""
    raw = model.peft_config["default"].to_dict()
    return json.loads(json.dumps(raw, default=lambda o: sorted(o) if isinstance(o, (set, frozenset)) else str(o)))


def write_notes(folder: Path, args: argparse.Namespace, st: dict[str, Any], size: int, dtype: str) -> None:
    """The closing note of the compact checkpoint: where the run stands, and how to go on."""
    def split(c: dict[str, Any]) -> str:  # points before the split was measured have none
        by = c.get("by_length") or {}
        return " / ".join(f"{by[k]:.4f}" if k in by else "–" for k in ("short", "medium", "long"))

    rows = "\n".join(f"| {c['step']} | {c['examples']} | {c['valid_loss']:.4f} | {split(c)} |" for c in st["curve"])
    text = f"""# Run `{args.run}`: where it stands

Written by training/train.py at each checkpoint (training/README.md, "Training across days").

- optimizer steps: {st['step']}; epoch {st['epoch']}, next micro-batch {st['pos']} of that epoch's order
- training examples seen: {st['examples']} ({st['target_tokens']} summary tokens); {st['stretches']} stretch(es),
  {st['train_seconds'] / 3600:.2f} h of steps; compute dtype of the last stretch: {dtype}
- best valid loss (first {args.valid_limit} valid examples, summary tokens): {st['best']}
- this folder: {size / 1e6:.1f} MB (adapter float16, AdamW moments bfloat16, state.json, log.jsonl)

| step | examples seen | valid loss | short / medium / long |
|---|---|---|---|
{rows}

The valid ROUGE curve (generated with llama.cpp, valid rows 1000-1149 a point):
`training/checkpoints/{args.run}-rouge.jsonl`, from `python -m training.rouge_curve training/checkpoints/{args.run}`.

Go on (a new machine: rebuild the model and the data first, both deterministic; see training/README.md):

    RUN={args.run} training/background.sh MINUTES   # nice 19, --resume, PID in /tmp/summarize-train.pid
"""
    (folder / "NOTES.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
