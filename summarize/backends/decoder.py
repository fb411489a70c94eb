"""Decoding straight on llama.cpp's C API: one or several sequences per step.

Why not ``Llama.generate``: its sampler chain builds a candidate array over the whole
vocabulary (262k entries for Gemma 3) on every token, ~1 ms that llama.cpp's own tools do
not spend; here the repeat penalty is applied to the ≤64 recent tokens and the argmax is
taken with numpy, which gives the same token (retries at temperature > 0 draw with numpy
after llama.cpp's top-k / top-p / temperature chain). Several sequences can also advance
in one decode step: token generation on a CPU is bound by memory bandwidth, so a step that
advances two documents costs little more than one. Each slot keeps the tokens already in
its KV cache, and a slot starting a prompt first copies the cache of the slot sharing the
longest prefix with it, so the prompts' common prefix (the few-shot examples) is evaluated
once per decoder, not once per slot.
"""
from __future__ import annotations

import codecs
import ctypes
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cancel import check as check_cancelled
from ..cpuslot import CpuSlots
from .base import GenSettings, Generation, OnText

PENALTY_WINDOW = 64  # llama-cpp-python's default last_n_tokens_size
SHARE_MIN = 32  # tokens a borrowed prefix must save over the slot's own cache (a copy costs ~ms)
FLOOR_SHARE = 3  # a decoding floor is at most 1/FLOOR_SHARE of the prompt's tokens: a short text is not padded out


def find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


@dataclass
class SeqRequest:
    ids: list[int]
    stops: tuple[str, ...]


class MultiSequence:
    def __init__(self, model: Any, n_seq: int, n_ctx_seq: int, slots: CpuSlots, n_batch: int = 512,
                 adapter: Any = None, share_prefix: bool = True) -> None:
        import llama_cpp

        self.lib, self.model, self.n_seq = llama_cpp, model, n_seq
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx_seq * n_seq
        params.n_batch = params.n_ubatch = min(n_batch, params.n_ctx)
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = slots.ceiling
        self.slots, self.n_threads = slots, slots.ceiling
        params.no_perf = True
        self.n_ctx_seq, self.n_batch = n_ctx_seq, params.n_batch
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a decoding context")
        self.batch = llama_cpp.llama_batch_init(max(self.n_batch, n_seq), 0, n_seq)
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self._ends: np.ndarray | None = None  # end-of-generation ids, found at first use
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.history: list[list[int]] = [[] for _ in range(n_seq)]  # tokens in each slot's KV cache
        self.share_prefix = share_prefix
        self.prefilled = 0  # prompt tokens evaluated (the rest came from a KV cache)
        self.adapter, self.adapter_on = adapter, False
        if adapter is not None:  # a LoRA adapter applies per context: set it on each one
            try:
                self._use_adapter(True)
            except RuntimeError:
                self.close()
                raise

    def _use_adapter(self, on: bool) -> None:
        """The LoRA adapter on or off for the next requests (GenSettings.adapter). A switch empties
        every slot: a KV cache computed with the other weights must not be reused."""
        if self.adapter is None or on == self.adapter_on:
            return
        if on:
            adapters = (self.lib.llama_adapter_lora_p_ctypes * 1)(self.adapter)
            failed = self.lib.llama_set_adapters_lora(self.ctx, adapters, 1, (ctypes.c_float * 1)(1.0)) != 0
        else:
            failed = self.lib.llama_set_adapters_lora(self.ctx, None, 0, None) != 0
        if failed:
            raise RuntimeError("llama.cpp could not apply the LoRA adapter")
        self.lib.llama_memory_clear(self.memory, True)
        self.history = [[] for _ in range(self.n_seq)]
        self.adapter_on = on

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """items: (token, position, sequence, wants_logits). One step of work on the machine-wide
        CPU slots (cpuslot.py): its thread count is what the slots give it."""
        check_cancelled()  # the web page's cancel button (cancel.py): stop before the step, holding no slot
        b = self.batch
        for i, (tok, pos, seq, logits) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
            b.seq_id[i][0] = seq
        b.n_tokens = len(items)
        with self.slots.hold() as threads:
            if threads != self.n_threads:
                self.lib.llama_set_n_threads(self.ctx, threads, threads)
                self.n_threads = threads
            if self.lib.llama_decode(self.ctx, b) != 0:
                raise RuntimeError("llama_decode failed")

    def _choose(self, index: int, recent: list[int], settings: GenSettings, rng: np.random.Generator,
                may_end: bool = True) -> int:
        """The next token: repeat penalty on the recent tokens, then the argmax (greedy) or, at
        temperature > 0, llama.cpp's chain: top-k, top-p, temperature, draw. ``may_end`` False
        rules out every end-of-generation token (``GenSettings.min_tokens``)."""
        ptr = self.lib.llama_get_logits_ith(self.ctx, index)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        if not may_end:
            logits[self._end_ids()] = -np.inf
        penalty = settings.repeat_penalty
        if penalty != 1.0 and recent:
            seen = np.fromiter(set(recent[-PENALTY_WINDOW:]), dtype=np.int64)
            # In place: llama.cpp rewrites these logits on the next decode anyway.
            logits[seen] = np.where(logits[seen] > 0, logits[seen] / penalty, logits[seen] * penalty)
        if settings.temperature == 0.0:
            return int(np.argmax(logits))
        k = settings.top_k if 0 < settings.top_k < self.n_vocab else self.n_vocab
        ids = np.argpartition(logits, -k)[-k:]
        ids = ids[np.argsort(-logits[ids], kind="stable")]
        vals = logits[ids].astype(np.float64)
        if settings.top_p < 1.0:
            p = np.exp(vals - vals[0])
            keep = int(np.searchsorted(np.cumsum(p / p.sum()), settings.top_p)) + 1
            ids, vals = ids[:keep], vals[:keep]
        p = np.exp((vals - vals[0]) / settings.temperature)
        return int(rng.choice(ids, p=p / p.sum()))

    def _end_ids(self) -> np.ndarray:
        """The vocabulary's end-of-generation tokens (EOS, end of turn, …), found once."""
        if self._ends is None:
            is_eog = self.lib.llama_vocab_is_eog
            self._ends = np.array([t for t in range(self.n_vocab) if is_eog(self.vocab, t)], dtype=np.int64)
        return self._ends

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(128)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, 128, 0, False)
        return buf.raw[:n] if n >= 0 else b""

    def _common(self, seq: int, ids: list[int]) -> int:
        n = 0
        for a, b in zip(self.history[seq], ids):
            if a != b:
                break
            n += 1
        return n

    def _borrow(self, seq: int, ids: list[int], own: int) -> int:
        """Copy into ``seq`` the KV cache of the slot sharing the longest prefix with ``ids``
        (the few-shot examples every prompt starts with), when that beats the slot's own cache
        by SHARE_MIN tokens; return the tokens kept. Each sequence has its own KV stream
        (llama.cpp's non-unified cache), so the copy is the whole stream, then its tail is
        dropped: a memory copy of a few MB instead of evaluating hundreds of tokens again."""
        if not self.share_prefix:
            return own
        src, best = seq, own
        for other in range(self.n_seq):
            if other != seq and self.history[other]:
                n = self._common(other, ids)
                if n > best:
                    src, best = other, n
        if src == seq or best < own + SHARE_MIN:
            return own
        self.lib.llama_memory_seq_rm(self.memory, seq, -1, -1)  # a unified cache would keep it beside
        self.lib.llama_memory_seq_cp(self.memory, src, seq, -1, -1)
        return best

    def _prefill(self, seq: int, ids: list[int]) -> int:
        """Evaluate the part of ``ids`` not already in the slot's KV cache (or another slot's,
        copied); return the logits index."""
        keep = self._borrow(seq, ids, self._common(seq, ids))
        keep = min(keep, len(ids) - 1)  # always decode at least the last token, for its logits
        if not self.lib.llama_memory_seq_rm(self.memory, seq, keep, -1):
            # Some caches (e.g. sliding-window attention) cannot drop a suffix: start over.
            self.lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
            keep = 0
        self.history[seq] = list(ids)
        self.prefilled += len(ids) - keep
        index = 0
        for lo in range(keep, len(ids), self.n_batch):
            part = ids[lo : lo + self.n_batch]
            last = lo + len(part) == len(ids)
            self._decode([(t, lo + i, seq, last and i == len(part) - 1) for i, t in enumerate(part)])
            index = len(part) - 1
        return index

    def generate(self, requests: list[SeqRequest], settings: GenSettings,
                 on_text: OnText | None = None) -> list[Generation]:
        """Generation for up to n_seq prompts at once; ``on_text`` streams sequence 0. Sampling
        (temperature > 0) is seeded per sequence, so a request gives the same text every run."""
        assert 0 < len(requests) <= self.n_seq
        self._use_adapter(settings.adapter)
        try:
            return self._generate(requests, settings, on_text)
        except BaseException:
            # Interrupted (cancelled, Ctrl-C, an on_text that raised): the slots' histories may name
            # tokens never decoded. Empty those slots so a later prompt never reuses a wrong prefix.
            for seq in range(len(requests)):
                self.lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
                self.history[seq] = []
            raise

    def _generate(self, requests: list[SeqRequest], settings: GenSettings,
                  on_text: OnText | None) -> list[Generation]:
        start = time.perf_counter()
        n = len(requests)
        rngs = [np.random.default_rng([settings.seed, seq]) for seq in range(n)]
        decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in range(n)]
        texts, outs, finish = [""] * n, [[] for _ in range(n)], ["length"] * n
        hold = [max((len(s) for s in r.stops), default=0) for r in requests]
        floor = [min(settings.min_tokens, len(r.ids) // FLOOR_SHARE) for r in requests]  # min_tokens, per prompt
        emitted = 0
        nxt: dict[int, int] = {}
        for seq, req in enumerate(requests):
            if len(req.ids) + settings.max_tokens > self.n_ctx_seq:
                raise ValueError("prompt does not fit the per-sequence context")
            nxt[seq] = self._choose(self._prefill(seq, req.ids), [], settings, rngs[seq], floor[seq] <= 0)
        while nxt:
            step = []
            for seq, tok in list(nxt.items()):
                done = bool(self.lib.llama_vocab_is_eog(self.vocab, tok))
                if done:
                    finish[seq] = "stop"
                else:
                    outs[seq].append(tok)
                    texts[seq] += decoders[seq].decode(self._piece(tok))
                    cut = find_stop(texts[seq], requests[seq].stops)
                    if cut is not None:
                        texts[seq], finish[seq], done = texts[seq][:cut], "stop", True
                    elif len(outs[seq]) >= settings.max_tokens:
                        done = True
                    if seq == 0 and on_text is not None and len(texts[0]) - hold[0] > emitted:
                        on_text(texts[0][emitted : len(texts[0]) - hold[0]])
                        emitted = len(texts[0]) - hold[0]
                if done:
                    del nxt[seq]
                else:
                    step.append((tok, len(self.history[seq]), seq, True))
                    self.history[seq].append(tok)
            if not step:
                break
            self._decode(step)
            for i, (_, _, seq, _) in enumerate(step):
                nxt[seq] = self._choose(i, outs[seq], settings, rngs[seq], len(outs[seq]) >= floor[seq])
        seconds = time.perf_counter() - start
        results = []
        for seq, req in enumerate(requests):
            text = texts[seq] + decoders[seq].decode(b"", final=True)
            if seq == 0 and on_text is not None and len(text) > emitted:
                on_text(text[emitted:])
            results.append(Generation(text=text, tokens_in=len(req.ids), tokens_out=len(outs[seq]),
                                      seconds=seconds / n, finish=finish[seq]))
        return results
