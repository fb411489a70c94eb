"""In-process llama.cpp backend (llama-cpp-python).

--dry-run tokenizes with a vocab-only load (no weights). Otherwise the model loads once,
on first use; generation runs in decoders (decoder.py) whose contexts are sized per
request, never beyond the trained context.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from typing import Any

from ..cpuslot import CpuSlots, usable_cores as physical_cores  # noqa: F401 (re-exported for benchmarks)
from ..errors import ModelError
from ..gguf import GGUFInfo
from ..paths import model_cache_dir
from ..prompts import Prompt
from . import merge
from .base import GenSettings, Generation, OnText

CTX_STEP = 512


@contextlib.contextmanager
def _quiet(enabled: bool):
    """Silence llama.cpp's C-level stderr chatter (it bypasses Python's sys.stderr)."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_LOG_CALLBACK: Any = None
_LOG_VERBOSE = [False]


def _route_logs(verbose: bool) -> None:
    """llama-cpp-python prints some llama.cpp messages (level NONE) even when not verbose;
    route every log line through one callback that is silent unless --verbose."""
    global _LOG_CALLBACK
    import ctypes
    import sys

    import llama_cpp

    _LOG_VERBOSE[0] = verbose
    if _LOG_CALLBACK is None:
        @llama_cpp.llama_log_callback
        def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            if _LOG_VERBOSE[0]:
                print(text.decode("utf-8", errors="replace"), end="", flush=True, file=sys.stderr)

        _LOG_CALLBACK = _callback  # keep a reference: C holds only the pointer
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


class LlamaCppBackend:
    def __init__(self, info: GGUFInfo, *, n_threads: int | None = None, n_batch: int = 512,
                 verbose: bool = False, tokenizer_only: bool = False, gpu_layers: int | None = None,
                 adapter: str | None = None) -> None:
        self.info = info
        self.path = info.path
        self.adapter_path = adapter  # a LoRA GGUF: merged into the weights (merge.py) or set on every context
        self.merged = False
        self._adapter: Any = None
        self.n_ctx_train = info.context_length or 4096
        self.has_chat_template = info.chat_template is not None
        # Machine-wide CPU slots: each decoding step takes turns with other summarize processes and
        # runs on the cores a foreign load leaves free (cpuslot.py); --threads fixes the count.
        self.slots = CpuSlots(n_threads)
        self.n_threads = self.slots.ceiling
        self.n_batch = n_batch
        self.verbose = verbose
        self._vocab: Any = None
        self._llm: Any = None
        self._formatter: Any = None
        self._decoders: dict[str, Any] = {}  # "single" and "multi" (prefetch) decoding contexts
        self._memo: dict[tuple[tuple[int, ...], GenSettings], Generation] = {}
        self.tokenizer_only = tokenizer_only  # --dry-run: the vocabulary alone, no weights
        self.load_seconds = 0.0
        self.ready_at: float | None = None  # wall clock (time.time()) when the weights were loaded
        self.gpu_layers = gpu_layers  # None: every layer when this llama.cpp can offload (gpu.py)
        self.gpu_offloaded: str | int = 0  # layers really offloaded, known once loaded
        self._policy: Any = None  # how llama.cpp loads the weights on this CPU (native.py)

    # -- loading -------------------------------------------------------------
    @property
    def policy(self) -> Any:
        """The load policy (native.Policy), decided once llama_cpp is imported: where there is
        no /proc/cpuinfo, llama.cpp's own build flags tell whether AMX is there."""
        if self._policy is None:
            import llama_cpp  # noqa: F401

            from . import native

            self._policy = native.policy()
        return self._policy

    def _load(self, **kwargs: Any) -> Any:
        import llama_cpp  # lazy: `summarize --help` and cache hits never import it

        from . import native

        _route_logs(self.verbose)
        start = time.perf_counter()
        try:
            # The CPU's load policy (native.py): no AMX weight buffers, whose kernel crashes.
            with _quiet(not self.verbose):
                llm = native.open_llama(self.path, chosen=self.policy, verbose=self.verbose, **kwargs)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp could not load the model ({exc})", path=self.path,
                             hint="the file may be corrupt or use an architecture this llama.cpp build does not know") from None
        self.load_seconds += time.perf_counter() - start
        return llm

    @property
    def tokenizer(self) -> Any:
        if self._llm is not None:
            return self._llm
        if not self.tokenizer_only:  # it will generate: load the weights once, now
            return self.ensure_loaded(0)
        if self._vocab is None:
            self._vocab = self._load(vocab_only=True)
        return self._vocab

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def ensure_loaded(self, need: int) -> Any:
        """The model, loaded once. Its own llama.cpp context is minimal and unused: the
        decoders (decoder.py) own the contexts, sized per request."""
        if need > self.n_ctx_train:
            raise ModelError(f"{need} tokens exceed the model's trained context ({self.n_ctx_train})", path=self.path,
                             hint="the document should have been chunked; please report this")
        if self._llm is None:
            if self._vocab is not None:
                with contextlib.suppress(Exception):
                    self._vocab.close()
                self._vocab = None
            from .. import gpu

            from . import probe

            n_ctx = min(CTX_STEP, self.n_ctx_train)
            n_gpu_layers = gpu.for_load(self.gpu_layers)
            if self.adapter_path and merge.enabled():  # once per model and adapter: no run-time LoRA cost
                self.path = str(merge.merged(self.info.path, self.adapter_path,
                                             merge.cached_path(model_cache_dir(), self.info.path, self.adapter_path)))
                self.merged = True
            # Once per machine, model and policy: a native crash becomes a clear error (probe.py).
            probe.check(self.path, name=self.info.name, n_gpu_layers=n_gpu_layers, chosen=self.policy)
            self._llm = self._load(n_ctx=n_ctx, n_threads=self.n_threads, n_threads_batch=self.n_threads,
                                   n_batch=n_ctx, n_ubatch=n_ctx, seed=42, n_gpu_layers=n_gpu_layers)
            self.gpu_offloaded = gpu.offloaded(n_gpu_layers)
            self.ready_at = time.time()
            if self.adapter_path and not self.merged:
                self._adapter = self._load_adapter(self._llm)
        return self._llm

    def _load_adapter(self, llm: Any) -> Any:
        """The LoRA adapter, loaded once per model (llama.cpp frees it with the model)."""
        import llama_cpp

        with _quiet(not self.verbose):
            adapter = llama_cpp.llama_adapter_lora_init(llm._model.model, str(self.adapter_path).encode("utf-8"))
        if not adapter:
            raise ModelError("llama.cpp could not load the LoRA adapter", path=str(self.adapter_path),
                             hint="it must be a GGUF LoRA made for this model (training/export_lora.py)")
        return adapter

    def close(self) -> None:
        for decoder in self._decoders.values():
            decoder.close()
        self._decoders.clear()
        self._adapter = None  # freed by llama.cpp with its model, below
        for attr in ("_llm", "_vocab"):
            obj = getattr(self, attr)
            if obj is not None:
                with contextlib.suppress(Exception):
                    obj.close()
                setattr(self, attr, None)

    # -- tokens --------------------------------------------------------------
    def _chat_formatter(self) -> Any:
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            tok = self.tokenizer
            eos, bos = tok.token_eos(), tok.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=self.info.chat_template or "",
                eos_token=tok._model.token_get_text(eos) if eos != -1 else "",
                bos_token=tok._model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
        return self._formatter

    def render(self, prompt: Prompt) -> tuple[str, tuple[str, ...], bool, bool]:
        """The text the model reads (chat template applied), its stop strings, whether a BOS
        is added, whether control tokens in the text are parsed (the template's own are)."""
        if prompt.messages is not None:
            if not self.has_chat_template:
                raise ModelError("this model has no chat template; use a base-model prompt", path=self.path)
            rendered = self._chat_formatter()(messages=[{"role": r, "content": c} for r, c in prompt.messages])
            stops = tuple(s for s in (rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]) if s)
            return rendered.prompt, stops, not rendered.added_special, True
        return prompt.text or "", prompt.stop, True, False

    def prompt_tokens(self, prompt: Prompt) -> tuple[list[int], tuple[str, ...]]:
        text, stops, bos, special = self.render(prompt)
        return self.tokenizer.tokenize(text.encode("utf-8"), add_bos=bos, special=special), stops

    def count_prompt(self, prompt: Prompt) -> int:
        return len(self.prompt_tokens(prompt)[0])

    def count_text(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # -- generation ----------------------------------------------------------
    # Multi-sequence steps are efficient in multiples of 4 rows on the CPU kernels: measured on
    # gemma3-270m, 2 cores: 1 row 12 ms, 2 rows 26 ms, 4 rows 38 ms, 8 rows 51 ms per step.
    MAX_SEQUENCES = 8
    # KV cells (tokens held) a prefetch group may use in all, so its memory stays bounded.
    PREFETCH_CELLS = 6144  # gemma3-270m: 18 KB per cell, 110 MB

    def _decoder(self, need: int, n_seq: int = 1) -> Any:
        """A decoder (decoder.py) with ``n_seq`` slots of at least ``need`` tokens.
        Single generation and prefetch groups keep separate contexts: each slot keeps its
        KV cache, so the shared few-shot prefix is evaluated once per slot."""
        from .decoder import MultiSequence

        llm = self.ensure_loaded(need)
        kind = "multi" if n_seq > 1 else "single"
        current = self._decoders.get(kind)
        if current is not None and current.model == llm._model.model and current.n_ctx_seq >= need \
                and current.n_seq >= n_seq:
            return current
        n_ctx_seq = need  # prefetch sizes its slots itself, within its KV budget
        if kind == "single":
            n_ctx_seq = -(-need // CTX_STEP) * CTX_STEP
            if current is not None and current.model == llm._model.model:
                n_ctx_seq = max(n_ctx_seq, 2 * current.n_ctx_seq)  # grow geometrically: few re-creations
        if current is not None:
            current.close()
        self._decoders[kind] = MultiSequence(llm._model.model, n_seq, min(n_ctx_seq, self.n_ctx_train),
                                             self.slots, self.n_batch, adapter=self._adapter)
        return self._decoders[kind]

    def end_prefetch(self) -> None:
        """Free the multi-sequence context (the batch is done with it): its KV cache is the
        largest buffer after the weights, and the corpus synthesis needs a larger context."""
        self._memo.clear()
        decoder = self._decoders.pop("multi", None)
        if decoder is not None:
            decoder.close()

    def prefetch(self, prompts: list[Prompt], settings: GenSettings) -> None:
        """Generate several prompts together (one decode step advances all of them); later
        generate() calls with the same prompt and settings return these results."""
        self._memo.clear()
        if len(prompts) < 2:
            return
        from .decoder import SeqRequest

        requests = [SeqRequest(*self.prompt_tokens(p)) for p in prompts]
        need = kv_cells(max(len(r.ids) for r in requests), settings.max_tokens)
        if need > self.n_ctx_train:
            return
        group = prefetch_group(need, self.MAX_SEQUENCES, self.PREFETCH_CELLS)
        if group < 2:
            return  # long prompts: one at a time, the memory would not be worth it
        for lo in range(0, len(requests), group):
            part = requests[lo : lo + group]
            if len(part) < 2:
                break
            for request, gen in zip(part, self._decoder(need, group).generate(part, settings)):
                self._memo[(tuple(request.ids), settings)] = gen

    def sample(self, prompt: Prompt, settings: GenSettings, n: int) -> list[Generation]:
        """``n`` drafts of one prompt at ``settings.temperature`` (the summarizer's drafts,
        quality/consensus.py), decoded together: one step advances all of them, and the prompt is
        evaluated once, its KV cache copied to the other slots. Sampling is seeded per slot, so
        the drafts are the same every run. ``tokens_in`` counts that one evaluation (first draft)."""
        from .decoder import SeqRequest

        ids, stops = self.prompt_tokens(prompt)
        need = kv_cells(len(ids), settings.max_tokens)
        if n < 1 or need > self.n_ctx_train:
            return []
        group = min(n, self.MAX_SEQUENCES, max(1, self.PREFETCH_CELLS // need))
        drafts: list[Generation] = []
        for lo in range(0, n, group):
            count = min(group, n - lo)
            step = replace(settings, seed=settings.seed + lo)  # each group its own draws
            drafts += self._decoder(need, group).generate([SeqRequest(ids, stops)] * count, step)
        for gen in drafts[1:]:
            gen.tokens_in = 0
        return drafts

    def generate(self, prompt: Prompt, settings: GenSettings, on_text: OnText | None = None) -> Generation:
        start = time.perf_counter()
        ids, stops = self.prompt_tokens(prompt)
        ready = self._memo.pop((tuple(ids), settings), None)
        if ready is not None:
            if on_text is not None:
                on_text(ready.text)
            return ready
        needed = len(ids) + settings.max_tokens
        if needed > self.n_ctx_train:
            raise ModelError(f"prompt of {len(ids)} tokens + {settings.max_tokens} to generate exceeds the "
                             f"model's trained context ({self.n_ctx_train})", path=self.path,
                             hint="the document should have been chunked; please report this")
        from .decoder import SeqRequest

        gen = self._decoder(needed).generate([SeqRequest(ids, stops)], settings, on_text)[0]
        gen.seconds = time.perf_counter() - start
        return gen


def kv_cells(prompt_tokens: int, max_tokens: int) -> int:
    """KV cells a sequence slot needs for a prompt and its output, in steps of 256."""
    return -(-(prompt_tokens + max_tokens) // 256) * 256


def prefetch_group(need: int, max_sequences: int, cells: int) -> int:
    """Sequences decoded together when each needs ``need`` KV cells: within the cell budget,
    and a multiple of 4 from 4 up (see MAX_SEQUENCES: 6 rows cost more than 8)."""
    group = min(max_sequences, cells // need)
    return group - group % 4 if group >= 4 else group
