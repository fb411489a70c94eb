"""LoRA adapters (issue 11): model identity, cache keys, the tuned prompt, and a real
llama.cpp load that changes the outputs of both decoding contexts (single and prefetch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from summarize import models, prompts
from summarize.backends import GenSettings
from summarize.errors import ModelError, UsageError
from summarize.summarizer import Summarizer
from training.export_lora import write_adapter

ARTICLE = ("La mairie de Rennes a décidé lundi de rendre les bus gratuits le samedi à partir de janvier. "
           "La mesure coûtera deux millions d'euros par an, financés par le budget des transports.")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A random rank-4 LoRA on every layer's attn_q and ffn_down of the real gemma3-270m."""
    rng = np.random.default_rng(11)
    tensors = []
    for layer in range(18):
        for name, (out, inp) in {"attn_q": (1024, 640), "ffn_down": (640, 2048)}.items():
            tensors += [(f"blk.{layer}.{name}.weight.lora_a", rng.normal(0, inp ** -0.5, (4, inp)).astype(np.float32)),
                        (f"blk.{layer}.{name}.weight.lora_b", rng.normal(0, 0.5, (out, 4)).astype(np.float32))]
    path = tmp_path_factory.mktemp("lora") / "random.lora.gguf"
    write_adapter(tensors, 4.0, path)
    return path


def test_gemma_base_is_bare_and_default_is_tuned_only_when_an_adapter_ships(monkeypatch, tmp_path, adapter) -> None:
    base = models.resolve("gemma3-270m-base")
    assert base.adapter is None and base.name == "gemma3-270m-base"
    monkeypatch.setattr(models, "GEMMA_ADAPTER", tmp_path / "absent.gguf")
    assert models.resolve("gemma3-270m").adapter is None  # nothing shipped: today's model
    monkeypatch.setattr(models, "GEMMA_ADAPTER", adapter)
    tuned = models.resolve("gemma3-270m")
    assert tuned.adapter == str(adapter) and tuned.path == base.path
    assert models.resolve("gemma3-270m-base").adapter is None
    with pytest.raises(UsageError):
        models.resolve("gemma3-270m+" + str(adapter))  # one adapter at a time


def test_user_adapter_spec_and_its_errors(adapter) -> None:
    ref = models.resolve(f"gemma3-270m-base+{adapter}")
    assert ref.adapter == str(adapter.resolve()) and ref.name == f"gemma3-270m-base+{adapter.name}"
    with pytest.raises(UsageError, match="adapter file not found"):
        models.resolve("gemma3-270m-base+/nonexistent/lora.gguf")


def test_cache_keys_and_prompts_differ_between_tuned_and_base(adapter, cache_dir) -> None:
    base = Summarizer("gemma3-270m-base", cache_dir=str(cache_dir), length="short")
    tuned = Summarizer(f"gemma3-270m-base+{adapter}", cache_dir=str(cache_dir), length="short")
    assert tuned.model_sha256.startswith(base.model_sha256 + "+lora:")
    assert base._key("document", ARTICLE, "short") != tuned._key("document", ARTICLE, "short")
    assert base.prompts.cache_id != tuned.prompts.cache_id
    other = adapter.parent / "other.lora.gguf"
    other.write_bytes(adapter.read_bytes()[:-4] + b"\0\0\0\0")  # another adapter, another identity
    assert Summarizer(f"gemma3-270m-base+{other}", cache_dir=str(cache_dir)).model_sha256 != tuned.model_sha256


def test_tuned_prompt_is_the_training_template_without_examples() -> None:
    tuned = prompts.load().tuned()
    for length, tag in (("short", "court"), ("medium", "moyen"), ("long", "long")):
        text = tuned.render("single", ARTICLE, chat=False, length=length).text or ""
        assert text.endswith(f"Résumé {tag} :\n") and ARTICLE in text and "Article :" not in text
    # Extract-then-rewrite (issue 23): its own opening-sentence budgets, the ones it was trained on.
    assert [tuned.input_of(stage, chat=False, length="short") for stage in ("single", "map", "reduce")] == [
        "lead", "salient", "document"]
    long_text = " ".join(f"Phrase numéro {i} du long article sur la mairie de Nantes et ses travaux." for i in range(80))
    shown = {length: (tuned.render("single", long_text, chat=False, length=length).text or "").split("<<<\n")[1]
             for length in ("short", "medium", "long")}
    assert [len(shown[n].split(">>>")[0].split()) for n in ("short", "medium", "long")] == [126, 210, 308]  # whole sentences to ≥ 120, 200, 300 words
    assert prompts.load().render("single", long_text, chat=False, length="short").text.count("Phrase numéro") < 8
    # rouge_curve --lead-words 60: the short prompt shows fewer opening words, the other lengths as before.
    fewer = tuned.with_length("short", lead_words=60)
    short = (fewer.render("single", long_text, chat=False, length="short").text or "").split("<<<\n")[1]
    assert len(short.split(">>>")[0].split()) == 70  # whole sentences to ≥ 60 words
    medium = fewer.render("single", long_text, chat=False, length="medium").text or ""
    assert medium.split("<<<\n")[1] == shown["medium"]


def test_tuned_short_summaries_have_a_decoding_floor_and_the_base_prompts_none(adapter, tmp_path) -> None:
    base, tuned = prompts.load(), prompts.load().tuned()
    assert [tuned.min_tokens(n) for n in ("short", "medium", "long")] == [48, 0, 0]
    assert [base.min_tokens(n) for n in ("short", "medium", "long")] == [0, 0, 0]
    off = tuned.with_length("short", min_tokens=0)  # rouge_curve's --min-tokens 0 (points before the floor)
    assert off.min_tokens("short") == 0 and tuned.min_tokens("short") == 48
    assert off.max_tokens("short") == tuned.max_tokens("short") and off.cache_id == tuned.cache_id
    # The Summarizer decodes with it, and its cache keys name it.
    bare = Summarizer("gemma3-270m-base", cache_dir=str(tmp_path), length="short")
    with_adapter = Summarizer(f"gemma3-270m-base+{adapter}", cache_dir=str(tmp_path), length="short")
    assert bare.settings("short").min_tokens == 0 and with_adapter.settings("short").min_tokens == 48
    assert with_adapter.settings("medium").min_tokens == 0
    assert '"min_tokens": 48' in with_adapter.settings("short").cache_id()


class _Recorder:
    """A backend that records each call's prompt and settings and answers one fixed text."""
    n_ctx_train, has_chat_template = 32768, False

    def __init__(self, text: str = "La mairie de Rennes rend les bus gratuits le samedi.") -> None:
        self.text = text
        self.calls: list[tuple[str, GenSettings]] = []

    def count_text(self, text: str) -> int:
        return len(text.split())

    def count_prompt(self, prompt) -> int:
        return self.count_text(prompt.text or "")

    def generate(self, prompt, settings, on_text=None):
        from summarize.backends import Generation

        self.calls.append((prompt.text or "", settings))
        return Generation(text=self.text, tokens_in=40, tokens_out=12, seconds=0.0, finish="stop")


def test_tuned_retries_are_seeded_samples_and_the_base_ones_the_other_examples(adapter, tmp_path) -> None:
    """After a failed first output the tuned prompts sample again at temperature 0.5, a new seed
    each time (fr.toml [tuned] retries); the base prompts switch examples with a repeat penalty."""
    base, tuned = prompts.load(), prompts.load().tuned()
    assert base.attempts() == ((False, {}), (True, {"repeat_penalty": 1.3, "temperature": 0.3}),
                               (False, {"temperature": 0.5}))
    assert tuned.attempts() == ((False, {}), (False, {"temperature": 0.5, "seed": 1}),
                                (False, {"temperature": 0.5, "seed": 2}))

    # Every output fails the French rule: the whole schedule runs, then the fallback.
    backend = _Recorder("The city makes its buses free on Saturdays from January onwards.")
    result = Summarizer(f"gemma3-270m-base+{adapter}", cache_dir=str(tmp_path), length="short",
                        backend=backend).summarize_text(ARTICLE)
    assert [(s.temperature, s.seed, s.repeat_penalty) for _, s in backend.calls] == [
        (0.0, 42, 1.1), (0.5, 1, 1.1), (0.5, 2, 1.1)]
    assert all(s.min_tokens == 48 for _, s in backend.calls)  # the floor holds on every attempt
    assert result.method == "extractive-fallback" and result.summary.startswith("La mairie de Rennes")


def test_a_long_document_runs_its_chunks_and_fusions_without_the_adapter(adapter, tmp_path, monkeypatch) -> None:
    """The tuned prompts and the adapter for a document's own summary; a long document's maps
    and fusions with the base prompts (their few-shot examples) and the adapter off, and cache
    keys that say so. Merged weights cannot switch: the tuned prompts throughout."""
    monkeypatch.delenv("SUMMARIZE_LORA_MERGE", raising=False)
    long_text = "\n\n".join(f"{ARTICLE} Le point numéro {i} du conseil municipal porte sur la ligne {i}."
                             for i in range(60))
    backend = _Recorder()
    summarizer = Summarizer(f"gemma3-270m-base+{adapter}", cache_dir=str(tmp_path), length="short", ctx=1024,
                            backend=backend)
    assert summarizer.long_bare and summarizer.prompts_for("map") is not summarizer.prompts
    result = summarizer.summarize_text(long_text)
    stages = [s["stage"] for s in result.stages]
    assert stages.count("map") >= 3 and "single" not in stages
    assert backend.calls and all(not settings.adapter for _, settings in backend.calls)
    assert all("Article :" in text and "Résumé court :" not in text for text, _ in backend.calls)  # base map/reduce
    assert all(settings.min_tokens == 0 for _, settings in backend.calls)  # the tuned floor is the tuned prompt's
    assert '"adapter": false' in summarizer.settings("short", "map").cache_id()
    assert "adapter" not in summarizer.settings("short").cache_id()
    backend.calls.clear()
    summarizer.summarize_text(ARTICLE)  # a short document: its own summary, tuned and with the adapter
    assert backend.calls[0][1].adapter and backend.calls[0][0].endswith("Résumé court :\n")

    monkeypatch.setenv("SUMMARIZE_LORA_MERGE", "on")
    merged = Summarizer(f"gemma3-270m-base+{adapter}", cache_dir=str(tmp_path), length="short", ctx=1024,
                        backend=_Recorder())
    assert not merged.long_bare and merged.prompts_for("map") is merged.prompts
    assert merged.settings("short", "map").adapter


@pytest.mark.slow
def test_the_adapter_switches_off_per_call_and_back(adapter, gemma_backend, gemma_path, monkeypatch) -> None:
    """GenSettings.adapter=False gives the bare model's text; switching empties the KV cache, so
    neither direction reuses a prompt evaluated with the other weights."""
    monkeypatch.delenv("SUMMARIZE_LORA_MERGE", raising=False)
    from dataclasses import replace

    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend

    prompt = prompts.load().render("single", ARTICLE, chat=False, length="short")
    settings = GenSettings(max_tokens=12)
    bare = gemma_backend.generate(prompt, settings).text
    backend = LlamaCppBackend(read_gguf(gemma_path), adapter=str(adapter))
    try:
        on = backend.generate(prompt, settings).text
        off = backend.generate(prompt, replace(settings, adapter=False)).text
        again = backend.generate(prompt, settings).text
        assert on != bare and off == bare and again == on
    finally:
        backend.close()
@pytest.mark.slow
def test_adapter_loads_in_llama_cpp_and_changes_both_decoding_paths(adapter, gemma_backend, gemma_path,
                                                                    monkeypatch) -> None:
    monkeypatch.delenv("SUMMARIZE_LORA_MERGE", raising=False)  # llama.cpp's run-time LoRA (merged: test_merge.py)
    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend

    tuned = prompts.load().tuned()
    rendered = [tuned.render("single", a, chat=False, length="short") for a in (ARTICLE, ARTICLE[:90])]
    settings = GenSettings(max_tokens=12)
    bare = [gemma_backend.generate(p, settings).text for p in rendered]
    backend = LlamaCppBackend(read_gguf(gemma_path), adapter=str(adapter))
    try:
        single = backend.generate(rendered[0], settings).text
        assert single != bare[0]
        backend.prefetch(rendered * 2, settings)  # the multi-sequence context (4 rows)
        assert "multi" in backend._decoders
        batched = [backend.generate(p, settings).text for p in rendered]
        assert batched[0] != bare[0] and batched[1] != bare[1]
        # Not `batched[0] == single`: a random adapter leaves near-ties everywhere, and a 1-row and
        # a many-row step run different llama.cpp kernels (F16 LoRA and Q8_0 tensors: vec_dot vs
        # tinyBLAS), more so where weights are not repacked (AMX CPUs, native.py): the last bits
        # differ and greedy picks another token. That both contexts apply it is checked above.
    finally:
        backend.close()
    broken = adapter.parent / "broken.lora.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    backend = LlamaCppBackend(read_gguf(gemma_path), adapter=str(broken))
    try:
        with pytest.raises(ModelError, match="could not load the LoRA adapter"):
            backend.generate(rendered[0], settings)
    finally:
        backend.close()
