"""The training pipeline's torch-free parts (training/): GGUF → HF mapping on a tiny GGUF
written here, the LoRA GGUF export, and tokenization parity with the product's llama.cpp
tokenizer. The torch steps (rebuild check, training) run in training/README.md's CPU demo."""
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
        prompt = prompts.load().tuned().render("single", article, chat=False, length=example.length)
        ids, _ = backend.prompt_tokens(prompt)
        assert example.prompt == list(ids)
        target_text = tok.decode(example.target[:-1])
        assert example.target[-1] == tok.eos and target_text.startswith(row["abstract"])
        assert example.target[:-1] == list(backend.tokenizer.tokenize(target_text.encode(), add_bos=False,
                                                                      special=False))
    finally:
        backend.close()
