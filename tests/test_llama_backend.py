"""The in-process llama.cpp backend: multi-sequence prefetch (issue 6) on the real model."""
from __future__ import annotations

import time

import pytest

from summarize import prompts
from summarize.backends.base import GenSettings
from summarize.backends.llama_cpp import prefetch_group

ARTICLES = [
    "La mairie de Rennes a décidé lundi de rendre les bus gratuits le samedi à partir de janvier.",
    "Un incendie a détruit un entrepôt près de Lille dans la nuit, sans faire de victime.",
    "Le musée du Louvre prolonge son exposition consacrée à la peinture flamande jusqu'en mars.",
    "Les vendanges ont commencé en avance cette année en Bourgogne à cause de la chaleur.",
    "Une nouvelle ligne de train relie désormais Bordeaux à Lyon en moins de cinq heures.",
]


def test_prefetch_group_respects_the_cell_budget_and_efficient_row_counts() -> None:
    assert prefetch_group(768, 8, 6144) == 8
    assert prefetch_group(1024, 8, 6144) == 4  # 6 would fit, but 6 rows cost more than 8
    assert prefetch_group(2048, 8, 6144) == 3
    assert prefetch_group(4096, 8, 6144) == 1  # not worth a multi-sequence context


@pytest.mark.slow
def test_prefetch_decodes_together_and_generate_returns_each_result(gemma_backend) -> None:
    ps = prompts.load()
    rendered = [ps.render("single", a, chat=False, length="short") for a in ARTICLES]
    settings = GenSettings(max_tokens=ps.max_tokens("short"))
    gemma_backend.prefetch(rendered, settings)
    assert len(gemma_backend._memo) == len(ARTICLES)
    start = time.perf_counter()
    gens = [gemma_backend.generate(p, settings) for p in rendered]
    assert time.perf_counter() - start < 0.5  # no decoding left: each came from the shared pass
    assert not gemma_backend._memo
    for article, gen in zip(ARTICLES, gens):
        assert gen.text.strip() and gen.tokens_in > 0 and 0 < gen.tokens_out <= settings.max_tokens
    # Another decoding setting (a retry) is never served from the prefetched results.
    gemma_backend.prefetch(rendered[:2], settings)
    retry = GenSettings(max_tokens=8, repeat_penalty=1.3)
    assert gemma_backend.generate(rendered[0], retry).tokens_out <= 8
    assert len(gemma_backend._memo) == 2
    gemma_backend.end_prefetch()  # the batch frees the multi-sequence context before its synthesis
    assert not gemma_backend._memo and "multi" not in gemma_backend._decoders
    assert gemma_backend.generate(rendered[1], settings).text.strip()


@pytest.mark.slow
def test_sampling_retries_are_seeded_and_bounded(gemma_backend) -> None:
    prompt = prompts.load().render("single", ARTICLES[0], chat=False, length="short")
    from summarize.backends.decoder import MultiSequence, SeqRequest

    hot = GenSettings(max_tokens=24, temperature=0.9, top_k=40, top_p=0.95, seed=7)
    ids, stops = gemma_backend.prompt_tokens(prompt)
    model = gemma_backend.ensure_loaded(0)._model.model
    outs = []
    for _ in range(2):  # two fresh contexts, same computation: the same draws
        decoder = MultiSequence(model, 1, 1024, gemma_backend.slots)
        outs.append(decoder.generate([SeqRequest(ids, stops)], hot)[0])
        decoder.close()
    assert outs[0].text == outs[1].text and 0 < outs[0].tokens_out <= 24
    draws = {gemma_backend.generate(prompt, GenSettings(max_tokens=24, temperature=1.5, seed=s)).text
             for s in range(4)}
    assert len(draws) > 1  # the seed matters: it is a draw, not the argmax


@pytest.mark.slow
def test_slots_borrow_the_common_prompt_prefix_without_changing_a_token(gemma_backend) -> None:
    """A slot starting a prompt copies the KV cache of the slot sharing the longest prefix with
    it (the prompt's instructions): the prefix is evaluated once per decoder instead of once
    per slot, and every summary is the same as with each slot evaluating its own prompt."""
    from summarize.backends.decoder import SHARE_MIN, MultiSequence, SeqRequest

    ps = prompts.load()
    requests = [SeqRequest(*gemma_backend.prompt_tokens(ps.render("single", a, chat=False, length="short")))
                for a in ARTICLES[:4]]
    settings = GenSettings(max_tokens=24)
    model = gemma_backend.ensure_loaded(0)._model.model

    def lcp(a: list[int], b: list[int]) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    shared = min(lcp(requests[0].ids, r.ids) for r in requests[1:])
    assert shared >= SHARE_MIN  # the instructions: what the slots can share
    runs = {}
    for share in (False, True):
        decoder = MultiSequence(model, 4, 1024, gemma_backend.slots, share_prefix=share)
        texts = [g.text for g in decoder.generate(requests, settings)]
        texts += [g.text for g in decoder.generate(requests[::-1], settings)]  # slots reuse caches again
        runs[share] = (texts, decoder.prefilled)
        decoder.close()
    (plain, evaluated), (borrowed, evaluated_shared) = runs[False], runs[True]
    assert borrowed == plain and all(t.strip() for t in plain)
    total = sum(len(r.ids) for r in requests)
    assert evaluated == 2 * total - sum(lcp(a.ids, b.ids) for a, b in zip(requests, requests[::-1]))
    # First pass: slots 1-3 borrow slot 0's instructions; the second pass reuses each slot's own.
    assert evaluated_shared <= evaluated - 3 * shared


def test_min_tokens_is_in_the_cache_key_only_when_set() -> None:
    assert GenSettings().cache_id() == GenSettings(min_tokens=0).cache_id()
    assert "min_tokens" not in GenSettings().cache_id()  # keys written before the floor existed hold
    assert GenSettings(min_tokens=20).cache_id() != GenSettings().cache_id()


# SmolLM2 ends a one-word answer at once (7 tokens measured); the context makes the prompt long
# enough (≥ 60 tokens) that a floor of 20 is not capped.
QUESTION = ("Paris is the capital and the largest city of France. It is on the Seine, in the north of the "
            "country. Lyon and Marseille are the next largest cities. "
            "What is the capital of France? Answer with one word.")


@pytest.mark.slow
def test_min_tokens_holds_off_the_end_of_text_and_is_capped_by_the_prompt(smollm_backend) -> None:
    """GenSettings.min_tokens (the tuned model's short floor, fr.toml [tuned]): no end-of-generation
    token before that many tokens, capped at a third of the prompt's tokens."""
    from summarize.prompts import Prompt

    prompt = Prompt(messages=(("user", QUESTION),))
    n_prompt = len(smollm_backend.prompt_tokens(prompt)[0])
    assert n_prompt >= 60
    free = smollm_backend.generate(prompt, GenSettings(max_tokens=64))
    assert free.finish == "stop" and free.tokens_out < 12 and "Paris" in free.text
    held = smollm_backend.generate(prompt, GenSettings(max_tokens=64, min_tokens=20))
    assert held.tokens_out >= 20
    # A floor above a third of the prompt is capped there: a short text is never padded out. Measured:
    # the 42-token question alone, floor capped at 14, ends at 42 tokens; uncapped it would run to 64.
    short = Prompt(messages=(("user", "What is the capital of France? Answer with one word."),))
    cap = len(smollm_backend.prompt_tokens(short)[0]) // 3
    capped = smollm_backend.generate(short, GenSettings(max_tokens=64, min_tokens=10_000))
    assert capped.finish == "stop" and cap <= capped.tokens_out < 64
