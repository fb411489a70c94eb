"""Long documents (issue 3): map-reduce over every chunk, chunk-level cache, no silent cut."""
from __future__ import annotations

import json

import pytest

from summarize import Summarizer
from summarize.backends import RecordingBackend as Recording
from summarize.reading.cleanup import clean
from summarize.errors import UsageError
from summarize.quality.extractive import salient
from summarize.reading.text import normalize

from .conftest import LONG_SEED, SEEDS

# The seed's article as the model sees it: clean-up (cleanup.py) already applied, so these tests
# see the chunks they plan (a breadcrumb line would otherwise vanish from the first chunk).
PARAGRAPHS = [p for p in clean(normalize((SEEDS / "003_61fb5dab3432a646.txt").read_text(encoding="utf-8"))).split("\n")
              if p.strip()]


def _summarizer(cache_dir, backend, model="gemma3-270m-base", ctx=768):  # the bare prompts, as gemma_backend
    return Summarizer(model, length="short", cache_dir=str(cache_dir), ctx=ctx, backend=backend)


def _shown(chunk_text: str) -> str:
    """What a base-model map prompt shows of a chunk (its central sentences, fr.toml)."""
    return salient(chunk_text, 45)


@pytest.mark.slow
def test_editing_one_paragraph_recomputes_only_its_chunk_and_the_reduce(cache_dir, gemma_backend):
    text = "\n\n".join(PARAGRAPHS)
    before = Recording(gemma_backend)
    first = _summarizer(cache_dir, before).summarize_text(text, source="doc")
    maps = [s for s in first.stages if s["stage"] == "map"]
    assert len(maps) >= 3 and not any(s["cache_hit"] for s in first.stages)
    assert any(s["stage"] == "reduce" for s in first.stages)

    # Edit the paragraph whose sentence the first map prompt shows first (the map sees central sentences).
    shown = _shown(_summarizer(cache_dir, before).plan(text).chunks[0].text)
    target = next(p for p in PARAGRAPHS if p[:40] in shown)
    edited = text.replace(target, "Dans un entretien, " + target[0].lower() + target[1:])
    after = Recording(gemma_backend)
    s2 = _summarizer(cache_dir, after)
    second = s2.summarize_text(edited, source="doc")
    assert [s["cache_hit"] for s in second.stages if s["stage"] == "map"] == [False] + [True] * (len(maps) - 1)
    reduce = [s for s in second.stages if s["stage"] == "reduce"]
    first_level = [s for s in reduce if s["level"] == 1]
    # The fusion that took map 1's summary is recomputed; the other first-level fusions are not.
    assert first_level and first_level[0]["cache_hit"] is False
    assert all(s["cache_hit"] for s in first_level[1:])
    recomputed = 1 + sum(not s["cache_hit"] for s in reduce)
    assert 2 <= len(after.calls) <= recomputed * len(s2.prompts.attempts())
    later = [_shown(c.text) for c in s2.plan(edited).chunks[1:]]
    assert not any(shown in prompt for shown in later for prompt in (c.content for c in after.calls))
    assert after.calls[0].gen.text != before.calls[0].gen.text
    assert second.summary and not second.cache_hit


@pytest.mark.slow
def test_fact_in_the_last_chunk_reaches_a_map_summary(cache_dir, gemma_backend):
    planted = " ".join(["La fondation Zéphyrine a été créée à Tombouctou en 2024."] +
                       [f"La fondation Zéphyrine finance la bibliothèque numéro {i} de Tombouctou." for i in range(1, 16)])
    filler = "\n\n".join(PARAGRAPHS)
    probe = _summarizer(cache_dir, Recording(gemma_backend)).plan(f"{filler}\n\n{planted}")
    # Cut the filler where the last chunk starts, so the planted paragraph is all of the last chunk.
    text = f"{filler[: probe.chunks[-1].start].rstrip()}\n\n{planted}"
    recorder = Recording(gemma_backend)
    s = _summarizer(cache_dir, recorder)
    result = s.summarize_text(text, source="doc")
    plan = s.plan(text)
    n = len([st for st in result.stages if st["stage"] == "map"])
    assert n >= 2 and n == len(plan.chunks) and result.plan["chunks"][-1]["end"] == len(text)
    first = [c.content for c in recorder.calls if _shown(plan.chunks[0].text) in c.content]
    last = [(c.content, c.gen.text) for c in recorder.calls if _shown(plan.chunks[-1].text) in c.content]
    assert first and last and "Zéphyrine" not in first[0].rsplit("Article :", 1)[1]
    assert all("Zéphyrine" in p.rsplit("Article :", 1)[1] for p, _ in last)
    assert any("Tombouctou" in out or "Zéphyrine" in out for _, out in last)


def test_ctx_outside_the_trained_context_is_refused(cache_dir, smollm_backend):
    s = Summarizer("smollm2-135m", cache_dir=str(cache_dir), ctx=100_000, backend=Recording(smollm_backend))
    with pytest.raises(UsageError, match="trained context"):
        s.plan("Un texte.")


def test_backend_refuses_a_prompt_longer_than_the_trained_context(smollm_backend):
    from summarize.backends.base import GenSettings
    from summarize.errors import ModelError
    from summarize.prompts import Prompt

    huge = Prompt(text="mot " * 9000)
    with pytest.raises(ModelError, match="exceeds the model's trained context"):
        smollm_backend.generate(huge, GenSettings(max_tokens=16))


def test_dry_run_plans_the_long_seed_without_loading_weights(cli):
    proc = cli(str(LONG_SEED), "--dry-run", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["tokenizer"] == "model" and len(plan["chunks"]) >= 4
    assert sum(c["tokens"] for c in plan["chunks"]) >= plan["doc_tokens"] * 0.98
    assert all(c["tokens"] <= plan["chunk_budget"] for c in plan["chunks"])
    assert plan["chunks"][-1]["end"] > 50_000 and plan["estimated_seconds"] > 0


def test_dry_run_without_the_model_file_uses_tiktoken(cli):
    proc = cli(str(LONG_SEED), "--dry-run", "--format", "json", "--model", "mistral-7b")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["tokenizer"].startswith("tiktoken") and len(plan["chunks"]) >= 4


def test_dry_run_applies_the_max_tokens_limit(cli):
    proc = cli(str(LONG_SEED), "--dry-run", "--max-tokens", "1000")
    assert proc.returncode == 2 and "document too long" in proc.stderr and LONG_SEED.name in proc.stderr
    assert "Traceback" not in proc.stderr
