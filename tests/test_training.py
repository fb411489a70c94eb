"""The training pipeline (training/): GGUF → HF mapping on a tiny GGUF written here, the LoRA
GGUF export, tokenization parity with the product's llama.cpp tokenizer, the grounded
targets, and — when the train extra (torch, transformers, peft) is installed — the
training loop on a tiny random Gemma 3: the chunked loss, exact resume, the compact
committed checkpoint and SIGTERM. The real model's steps run in training/README.md's runs."""
from __future__ import annotations

import hashlib

import gguf  # the test extra installs it
import numpy as np
import pytest

from training import export_lora, gguf_to_hf

H, FF, HEAD, VOCAB = 32, 64, 16, 256  # a 1-layer toy Gemma 3: 2 heads, 1 kv head


def _tiny_gguf(path, rng) -> dict[str, np.ndarray]:
    """A gemma3 GGUF with every tensor kind; returns the HF-side values it should rebuild to."""
    from gguf.quants import quantize

    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_block_count(1)
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_key_length(HEAD)
    w.add_value_length(HEAD)
    w.add_context_length(1024)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(1_000_000.0)
    w.add_sliding_window(512)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(VOCAB)])
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    expected: dict[str, np.ndarray] = {}
    # Quantized: the embedding as Q8_0 (its rows are 32 values, one block each).
    embd = rng.standard_normal((VOCAB, H)).astype(np.float32)
    w.add_tensor("token_embd.weight", quantize(embd, gguf.GGMLQuantizationType.Q8_0),
                 raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    expected["model.embed_tokens.weight"] = embd
    shapes = {"attn_q": (2 * HEAD, H), "attn_k": (HEAD, H), "attn_v": (HEAD, H), "attn_output": (H, 2 * HEAD),
              "ffn_gate": (FF, H), "ffn_up": (FF, H), "ffn_down": (H, FF)}
    for name, shape in shapes.items():
        value = rng.standard_normal(shape).astype(np.float32)
        w.add_tensor(f"blk.0.{name}.weight", value)
        expected[gguf_to_hf.hf_name(f"blk.0.{name}.weight")] = value
    norms = {"attn_norm": H, "post_attention_norm": H, "ffn_norm": H, "post_ffw_norm": H,
             "attn_q_norm": HEAD, "attn_k_norm": HEAD}
    for name, size in norms.items():
        value = rng.standard_normal(size).astype(np.float32)
        w.add_tensor(f"blk.0.{name}.weight", value + 1.0)  # llama.cpp's Gemma converter stores w + 1
        expected[gguf_to_hf.hf_name(f"blk.0.{name}.weight")] = value
    out_norm = rng.standard_normal(H).astype(np.float32)
    w.add_tensor("output_norm.weight", out_norm + 1.0)
    expected["model.norm.weight"] = out_norm
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return expected


def test_hf_names_follow_transformers_gemma3() -> None:
    assert gguf_to_hf.hf_name("token_embd.weight") == "model.embed_tokens.weight"
    assert gguf_to_hf.hf_name("output_norm.weight") == "model.norm.weight"
    assert gguf_to_hf.hf_name("blk.17.attn_q.weight") == "model.layers.17.self_attn.q_proj.weight"
    assert gguf_to_hf.hf_name("blk.0.ffn_norm.weight") == "model.layers.0.pre_feedforward_layernorm.weight"
    assert gguf_to_hf.hf_name("blk.3.post_ffw_norm.weight") == "model.layers.3.post_feedforward_layernorm.weight"
    assert gguf_to_hf.hf_name("blk.3.attn_norm.weight") == "model.layers.3.input_layernorm.weight"
    with pytest.raises(KeyError):
        gguf_to_hf.hf_name("output.weight")  # a separate LM head would be a surprise: Gemma ties it
    for suffix in gguf_to_hf.LAYER_NAMES:  # the adapter export inverts the mapping exactly
        hf = gguf_to_hf.hf_name(f"blk.5.{suffix}.weight")
        assert gguf_to_hf.gguf_name("base_model.model." + hf) == f"blk.5.{suffix}"


def test_rebuild_dequantizes_maps_and_undoes_the_norm_offset(tmp_path) -> None:
    expected = _tiny_gguf(tmp_path / "tiny.gguf", np.random.default_rng(0))
    reader = gguf.GGUFReader(str(tmp_path / "tiny.gguf"))
    got = dict(gguf_to_hf.tensors(reader))
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].shape == value.shape and got[name].dtype == np.float32, name
        if name == "model.embed_tokens.weight":  # Q8_0: one fp16 scale per 32 values: error ≤ a step
            step = np.abs(value).max(axis=1, keepdims=True) / 127
            assert np.all(np.abs(got[name] - value) <= step)
            assert not np.array_equal(got[name], value)  # it really went through a quantized type
        else:
            np.testing.assert_allclose(got[name], value, atol=1e-6, err_msg=name)
    config = gguf_to_hf.hf_config(reader)
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"],
            config["head_dim"], config["vocab_size"], config["query_pre_attn_scalar"]) == (H, 2, 1, HEAD, VOCAB, HEAD)
    assert config["tie_word_embeddings"] and config["layer_types"] == ["sliding_attention"]
    assert config["rope_parameters"]["full_attention"]["rope_theta"] == 1_000_000.0
    assert config["rope_parameters"]["sliding_attention"]["rope_theta"] == 10_000.0


def _peft_state(rng, rank: int = 4) -> dict[str, np.ndarray]:
    state = {}
    for layer in (0, 1):
        for module, (out, inp) in {"self_attn.q_proj": (1024, 640), "mlp.down_proj": (640, 2048)}.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            state[f"{prefix}.lora_A.weight"] = rng.standard_normal((rank, inp)).astype(np.float32)
            state[f"{prefix}.lora_B.weight"] = rng.standard_normal((out, rank)).astype(np.float32)
    return state


def test_adapter_export_writes_llama_cpp_lora_format(tmp_path) -> None:
    state = _peft_state(np.random.default_rng(1))
    tensors = export_lora.adapter_tensors(state)
    assert [n for n, _ in tensors][:4] == ["blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b",
                                           "blk.0.ffn_down.weight.lora_a", "blk.0.ffn_down.weight.lora_b"]
    sha = export_lora.write_adapter(tensors, 8.0, tmp_path / "a.gguf")
    assert sha == hashlib.sha256((tmp_path / "a.gguf").read_bytes()).hexdigest()
    assert export_lora.write_adapter(tensors, 8.0, tmp_path / "b.gguf") == sha  # same adapter, same bytes
    reader = gguf.GGUFReader(str(tmp_path / "a.gguf"))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["general.architecture"].contents() == "gemma3"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    ne = {t.name: t.shape.tolist() for t in reader.tensors}
    assert ne["blk.1.attn_q.weight.lora_a"] == [640, 4]  # ggml ne: [in, rank]
    assert ne["blk.1.attn_q.weight.lora_b"] == [4, 1024]  # [rank, out]
    with pytest.raises(ValueError):
        export_lora.adapter_tensors({"base_model.model.lm_head.weight": np.zeros((2, 2))})


@pytest.mark.slow
def test_training_tokens_are_the_products_tokens(gemma_path) -> None:
    """prepare.build tokenizes with llama.cpp exactly as the product does for the tuned prompt."""
    from summarize import prompts
    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend
    from training import prepare

    article = ("Le conseil municipal de Nantes a voté lundi soir la piétonnisation du centre-ville à partir "
               "de l'été prochain. Les commerçants, inquiets, réclament des places de stationnement. "
               "La maire promet des navettes gratuites et des parkings relais aux portes de la ville. "
               "Les travaux commenceront en mars et dureront six mois, selon la mairie.")
    row = {"id": "x", "document": article, "abstract": "Nantes rendra son centre-ville piéton l'été prochain.",
           "title": "Nantes piétonnise son centre"}
    tok = prepare.Tokenizer(gemma_path)
    [example] = list(prepare.build(iter([row]), tok, max_doc_tokens=1024))
    backend = LlamaCppBackend(read_gguf(gemma_path), tokenizer_only=True)
    try:
        prompt = prepare.rewrite_prompts().render("single", article, chat=False, length=example.length)
        ids, _ = backend.prompt_tokens(prompt)
        assert example.prompt == list(ids) and prompt.text.startswith("Document :\n<<<\nLe conseil municipal")
        target_text = tok.decode(example.target[:-1])
        assert example.target[-1] == tok.eos and target_text.startswith(row["abstract"])
        assert example.target[:-1] == list(backend.tokenizer.tokenize(target_text.encode(), add_bos=False,
                                                                      special=False))
    finally:
        backend.close()


@pytest.mark.slow
def test_lead_words_override_changes_input_and_grounding_together(gemma_path) -> None:
    """--lead-words short=N: the prompt shows N opening words and the target is grounded in them
    alone (an abstract naming what only a later sentence holds is dropped), as fr.toml would."""
    from training import prepare

    article = ("Le conseil municipal de Nantes a voté lundi soir la piétonnisation du centre-ville. "
               "Les commerçants, inquiets, réclament des places de stationnement. "
               "La maire promet des navettes gratuites et des parkings relais aux portes de la ville. "
               "Les travaux commenceront en mars et dureront six mois, selon la mairie.")
    key = next(f"n{i}" for i in range(100) if prepare.length_of(f"n{i}") == "short")
    tok = prepare.Tokenizer(gemma_path)

    def build(abstract: str, lead_words: dict[str, int] | None) -> list:
        row = {"id": key, "document": article, "abstract": abstract, "title": "Nantes"}
        return list(prepare.build(iter([row]), tok, max_doc_tokens=1024, lead_words=lead_words))

    [default] = build("Nantes rendra son centre piéton, les travaux commenceront en mars.", None)
    assert "navettes" in tok.decode(default.prompt)  # fr.toml's short budget shows all four sentences
    assert build("Nantes rendra son centre piéton, les travaux commenceront en mars.", {"short": 10}) == []
    [short] = build("Nantes rendra son centre-ville piéton malgré les commerçants.", {"short": 10})
    shown = tok.decode(short.prompt)
    assert "piétonnisation" in shown and "commerçants, inquiets" not in shown and short.length == "short"
    assert shown.endswith("Résumé court :\n")


# -- grounded targets, extract-then-rewrite prompts (issue 23) ------------------

ARTICLE = ("Le conseil municipal de Nantes a voté lundi soir la piétonnisation du centre-ville. Les commerçants, "
           "inquiets, réclament des places de stationnement. La maire promet des navettes gratuites. "
           "Les travaux commenceront en mars et dureront six mois, selon la mairie.")


def test_targets_keep_only_sentences_the_input_grounds() -> None:
    from training import prepare

    ok = "Nantes va rendre son centre-ville piéton, malgré les commerçants."
    assert prepare.grounded(ok, ARTICLE) == ok
    # A weekday, a number and a name the article does not hold: those sentences go, the rest stays.
    assert prepare.grounded(ok + " Le vote a eu lieu mardi.", ARTICLE) == ok
    assert prepare.grounded(ok + " Il coûtera 12 millions d'euros.", ARTICLE) == ok
    assert prepare.grounded("Selon Johanna Rolland, le centre sera piéton en mars prochain.", ARTICLE) is None


def test_oracle_target_is_the_inputs_sentences_closest_to_the_abstract() -> None:
    from training import prepare

    abstract = ("Le conseil municipal de Nantes a voté la piétonnisation du centre-ville. "
                "Inquiets, les commerçants réclament des places de stationnement.")
    got = prepare.oracle(abstract, ARTICLE)
    # Copied whole from the input, in its order, the off-topic sentences left out.
    assert got == ("Le conseil municipal de Nantes a voté lundi soir la piétonnisation du centre-ville. "
                   "Les commerçants, inquiets, réclament des places de stationnement.")
    assert prepare.oracle(abstract, ARTICLE, most=1) == ("Le conseil municipal de Nantes a voté lundi soir la "
                                                         "piétonnisation du centre-ville.")
    assert prepare.oracle("Rien à voir : football, Marseille, victoire.", ARTICLE) is None


def test_extended_short_target_is_the_abstract_then_the_closest_input_sentence() -> None:
    from training import prepare

    abstract = "Inquiets, les commerçants de Nantes réclament des places de stationnement."
    got = prepare.extended(abstract, ARTICLE)
    assert got.startswith(abstract + " ") and got != abstract
    assert got.removeprefix(abstract + " ") in ARTICLE  # one whole input sentence, copied
    # Not the sentence the abstract restates (« Les commerçants, inquiets, réclament… »): one that adds to it.
    assert "Les commerçants, inquiets" not in got
    assert prepare.extended("Rien à voir : football, Marseille, victoire.", ARTICLE) == \
        "Rien à voir : football, Marseille, victoire."  # nothing close: the abstract alone


def test_rewrite_prompt_shows_the_opening_sentences_with_the_length_tag() -> None:
    from training import prepare

    words = {"short": 14, "medium": 20, "long": 40}
    text = prepare.rewrite_prompts(words).render("single", ARTICLE, chat=False, length="short").text
    assert text.startswith("Document :\n<<<\nLe conseil municipal de Nantes a voté lundi soir")
    assert "Les commerçants" in text and "navettes" not in text  # whole sentences until ≥ 14 words
    assert text.endswith(">>>\n\nRésumé court :\n")
    long = prepare.rewrite_prompts(words).render("single", ARTICLE, chat=False, length="long").text
    assert "six mois" in long and long.endswith("Résumé long :\n")


# -- the training loop on a tiny Gemma 3 (needs the train extra) ------------------------------

TINY_VOCAB = 320


# The training stack is in the test extra, so CI skips none of these; a bare install skips them.
NO_TORCH = "torch, transformers and peft come with the test extra: pip install -e '.[test]'"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A random 2-layer Gemma 3 saved as the rebuilt model would be, and tokenized data."""
    pytest.importorskip("torch", reason=NO_TORCH)
    pytest.importorskip("peft", reason=NO_TORCH)
    transformers = pytest.importorskip("transformers", reason=NO_TORCH)
    from training import prepare

    root = tmp_path_factory.mktemp("tiny")
    config = transformers.Gemma3TextConfig(
        vocab_size=TINY_VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=256, sliding_window=16, pad_token_id=0,
        bos_token_id=2, eos_token_id=1, layer_types=["sliding_attention", "full_attention"])
    import torch

    torch.manual_seed(0)
    transformers.Gemma3ForCausalLM(config).save_pretrained(root / "hf")
    rng = np.random.default_rng(0)

    def examples(n: int, tags: tuple[str, ...] = ("short",)) -> list[prepare.Example]:
        out = []
        for i in range(n):
            prompt = [2] + rng.integers(3, TINY_VOCAB, int(rng.integers(8, 40))).tolist()
            target = rng.integers(3, 40, int(rng.integers(3, 10))).tolist() + [1]  # a learnable sub-vocabulary
            out.append(prepare.Example(f"x{i}", tags[i % len(tags)], prompt, target))
        return out

    prepare.save(examples(64), root / "train.npz")
    prepare.save(examples(8, ("short", "medium")), root / "valid.npz")
    return root


def _train(root, run: str, *extra: str) -> None:
    from training import train

    assert train.main(["--run", run, "--hf", str(root / "hf"), "--train", str(root / "train.npz"),
                       "--valid", str(root / "valid.npz"), "--out", str(root / run),
                       "--checkpoints", str(root / f"{run}-ck"), "--batch-tokens", "160", "--accumulate", "2",
                       "--max-steps", "6", "--warmup", "2", "--lr", "1e-2", "--dtype", "fp32", "--threads", "1",
                       *extra]) == 0


def _adapter(root, run: str) -> dict:
    import torch

    return torch.load(root / run / "state" / "state.pt", weights_only=False)["adapter"]


def _log(root, run: str) -> list[dict]:
    import json

    return [json.loads(line) for line in (root / run / "log.jsonl").read_text().splitlines()]


def test_chunked_loss_equals_the_full_softmax() -> None:
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    from training.fastpath import chunked_cross_entropy

    g = torch.Generator().manual_seed(0)
    weight = torch.randn(50, 8, generator=g)
    target = torch.randint(0, 50, (11,), generator=g)
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
        hidden = torch.randn(11, 8, generator=g).to(dtype).requires_grad_()
        ref_hidden = hidden.detach().clone().requires_grad_()
        loss = chunked_cross_entropy(hidden, weight.to(dtype), target, chunk=4)  # 3 chunks, the last partial
        ref = torch.nn.functional.cross_entropy((ref_hidden @ weight.to(dtype).T).float(), target)
        (2 * loss).backward()
        (2 * ref).backward()
        assert abs(float(loss.detach()) - float(ref.detach())) < tol
        torch.testing.assert_close(hidden.grad.float(), ref_hidden.grad.float(), atol=tol, rtol=tol)


def test_cpu_dtype_is_bfloat16_only_where_native() -> None:
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    from training import fastpath

    native, why = fastpath.native_bf16()
    dtype, line = fastpath.cpu_dtype("auto")
    assert dtype == (torch.bfloat16 if native else torch.float32) and why in line
    assert fastpath.cpu_dtype("fp32")[0] == torch.float32


def test_resume_continues_exactly_and_the_loss_falls(tiny_run) -> None:
    import torch

    _train(tiny_run, "straight")
    _train(tiny_run, "stopped", "--steps-this-run", "3")
    assert _log(tiny_run, "stopped")[-1]["reason"] == "--steps-this-run reached"
    _train(tiny_run, "stopped", "--resume")
    a, b = _adapter(tiny_run, "straight"), _adapter(tiny_run, "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same bytes as never stopped
    curve = [e["valid_loss"] for e in _log(tiny_run, "straight") if "valid_loss" in e]
    assert curve[-1] < curve[0]
    for e in (e for e in _log(tiny_run, "straight") if "valid_loss" in e):  # the loss per length tag too
        by = e["by_length"]
        assert set(by) == {"short", "medium"} and min(by.values()) <= e["valid_loss"] <= max(by.values())
    stretches = [e for e in _log(tiny_run, "stopped") if e.get("event") == "stretch"]
    assert [s["from"] for s in stretches] == ["start", "full checkpoint (exact)"] and stretches[1]["step"] == 3


def test_compact_checkpoint_is_small_exportable_and_resumable(tiny_run, tmp_path) -> None:
    import json
    import shutil

    from training import export_lora

    _train(tiny_run, "compact", "--steps-this-run", "3")
    ck = tiny_run / "compact-ck"
    state = json.loads((ck / "state.json").read_text())
    assert state["progress"]["step"] == 3 and set(state["files"]) >= {"adapter_model.safetensors",
                                                                     "optimizer.safetensors", "log.jsonl"}
    assert "valid loss" in (ck / "NOTES.md").read_text()
    assert len(export_lora.export(ck, tmp_path / "a.gguf")) == 64  # the product's adapter format, from the repo
    shutil.rmtree(tiny_run / "compact" / "state")  # a new machine: only the repository
    _train(tiny_run, "compact", "--resume")
    stretch = [e for e in _log(tiny_run, "compact") if e.get("event") == "stretch"][-1]
    assert stretch["from"].startswith("compact checkpoint") and stretch["step"] == 3
    assert _log(tiny_run, "compact")[-1]["step"] == 6
    (ck / "adapter_model.safetensors").write_bytes(b"truncated")
    with pytest.raises(SystemExit):  # a partial copy is refused, not trained on
        _train(tiny_run, "compact2", "--resume", "--checkpoints", str(ck))


def test_warm_start_takes_another_runs_adapter_not_its_optimizer(tiny_run) -> None:
    _train(tiny_run, "donor", "--steps-this-run", "4")
    _train(tiny_run, "warm", "--steps-this-run", "1", "--init", str(tiny_run / "donor-ck"))
    donor = [e["valid_loss"] for e in _log(tiny_run, "donor") if "valid_loss" in e]
    warm = [e for e in _log(tiny_run, "warm") if "valid_loss" in e or e.get("event") == "stretch"]
    # The warm run's first valid loss is the donor's last (its adapter, float16 in the repository),
    # not the base model's; it is a new run: step 0, its own schedule.
    assert warm[0]["from"].startswith("start from") and warm[0]["step"] == 0
    assert abs(warm[1]["valid_loss"] - donor[-1]) < 1e-3 * donor[-1] and donor[-1] < donor[0]


def test_a_decay_branch_goes_on_where_its_parent_stands_and_anneals_to_zero(tiny_run) -> None:
    import json
    import math

    _train(tiny_run, "parent", "--steps-this-run", "3")
    parent_ck = tiny_run / "parent-ck"
    lr3 = [e for e in _log(tiny_run, "parent") if "lr" in e][-1]["lr"]
    _train(tiny_run, "anneal", "--branch", str(parent_ck), "--decay-steps", "4", "--lr", "5")  # the parent's lr wins
    log = _log(tiny_run, "anneal")
    stretch = next(e for e in log if e.get("event") == "stretch")
    assert stretch["from"].startswith(f"branch of {parent_ck} at step 3") and stretch["planned_steps"] == 7
    steps = [e for e in log if "lr" in e]
    assert [e["step"] for e in steps] == [4, 5, 6, 7] and log[-1]["reason"] == "planned steps done"
    assert [e["lr"] for e in steps] == pytest.approx([lr3 * 3 / 4, lr3 / 2, lr3 / 4, 0.0])
    state = json.loads((tiny_run / "anneal-ck" / "state.json").read_text())
    assert state["progress"]["step"] == 7 and (state["args"]["decay_steps"], state["args"]["branch_step"]) == (4, 3)
    # The parent is untouched and goes on from where the branch started, on the same data.
    _train(tiny_run, "parent", "--resume", "--steps-this-run", "1")
    step4 = [e for e in _log(tiny_run, "parent") if "lr" in e][-1]
    assert (step4["step"], step4["pos"], step4["examples"]) == (4, steps[0]["pos"], steps[0]["examples"])
    assert step4["loss"] == pytest.approx(steps[0]["loss"], rel=2e-2)  # the branch's adapter: float16 from the repo
    assert step4["lr"] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 4 / 6)))  # its own cosine, not the decay


def test_sigterm_saves_and_exits(tiny_run) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    root = str(tiny_run)
    cmd = [sys.executable, "-m", "training.train", "--run", "term", "--hf", f"{root}/hf", "--train",
           f"{root}/train.npz", "--valid", f"{root}/valid.npz", "--out", f"{root}/term", "--checkpoints", "none",
           "--batch-tokens", "160", "--accumulate", "2", "--max-steps", "100000", "--dtype", "fp32", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        for line in proc.stdout:
            if '"loss"' in line:  # training steps are running
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    last = json.loads((tiny_run / "term" / "log.jsonl").read_text().splitlines()[-1])
    assert last["reason"] == "SIGTERM: saved and stopped" and last["step"] >= 1
    assert (tiny_run / "term" / "state" / "state.pt").exists()
