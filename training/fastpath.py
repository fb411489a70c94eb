"""The CPU fast path of train.py (issue 23): native bfloat16 where the CPU has it, and the
summary-token loss without a float32 (targets × 262 144) log-softmax.

bfloat16: oneDNN runs bf16 matmuls on AMX tiles or AVX512-BF16 instructions; without
either, bf16 is emulated and slower than float32, so float32 is kept there. The LoRA
matrices and the optimizer stay float32 (tiny; Adam's second moments underflow in bf16).

Chunked loss: the LM head is the tied 262 144-row embedding. ``F.cross_entropy`` on
``hidden @ E.T`` keeps the whole logit matrix (and its float32 copy) for the backward.
``chunked_cross_entropy`` takes the rows a chunk at a time: bf16 logits, float32
log-sum-exp per chunk, only (targets,) statistics saved; the backward recomputes each
chunk's logits and forms softmax − one-hot there. No gradient flows into the embedding
(it is frozen: LoRA adapts the projections only).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

CHUNK_ROWS = 64  # 64 × 262 144 bf16 logits = 32 MiB: fits the cache hierarchy far better than all rows


def native_bf16() -> tuple[bool, str]:
    """Whether this CPU multiplies bfloat16 natively, and the flag that says so."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False, "no /proc/cpuinfo"
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    for flag in ("amx_bf16", "avx512_bf16"):
        if flag in flags:
            return True, flag
    return False, "no amx_bf16 / avx512_bf16"


def cpu_dtype(choice: str) -> tuple[Any, str]:
    """The compute dtype for ``--dtype auto|bf16|fp32`` and a log line saying why."""
    import torch

    if choice == "fp32":
        return torch.float32, "float32 (asked)"
    if choice == "bf16":
        return torch.bfloat16, "bfloat16 (asked)"
    ok, why = native_bf16()
    return (torch.bfloat16, f"bfloat16 (native: {why})") if ok else (torch.float32, f"float32 ({why})")


def _chunked_ce_class() -> Any:
    import torch

    class ChunkedCE(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, target: Any, chunk: int) -> Any:  # type: ignore[override]
            lse = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
            picked = torch.empty_like(lse)
            for lo in range(0, hidden.shape[0], chunk):
                logits = (hidden[lo:lo + chunk] @ weight.T).float()
                lse[lo:lo + chunk] = torch.logsumexp(logits, dim=-1)
                picked[lo:lo + chunk] = logits.gather(1, target[lo:lo + chunk, None])[:, 0]
            ctx.save_for_backward(hidden, weight, target, lse)
            ctx.chunk = chunk
            return (lse - picked).sum() / max(hidden.shape[0], 1)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:  # type: ignore[override]
            hidden, weight, target, lse = ctx.saved_tensors
            scale = grad.float() / max(hidden.shape[0], 1)
            out = torch.empty_like(hidden)
            for lo in range(0, hidden.shape[0], ctx.chunk):
                logits = (hidden[lo:lo + ctx.chunk] @ weight.T).float()
                probs = torch.exp(logits - lse[lo:lo + ctx.chunk, None])
                rows = torch.arange(probs.shape[0], device=probs.device)
                probs[rows, target[lo:lo + ctx.chunk]] -= 1.0
                out[lo:lo + ctx.chunk] = (probs * scale).to(hidden.dtype) @ weight
            return out, None, None, None

    return ChunkedCE


_CE: Any = None


def chunked_cross_entropy(hidden: Any, weight: Any, target: Any, chunk: int = CHUNK_ROWS) -> Any:
    """Mean cross-entropy of ``hidden @ weight.T`` against ``target``, ``chunk`` rows at a time
    (see the module docstring). ``weight`` gets no gradient."""
    global _CE
    if _CE is None:
        _CE = _chunked_ce_class()
    return _CE.apply(hidden, weight.detach(), target, chunk)
