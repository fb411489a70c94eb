"""A LoRA adapter merged into the weights at first use (backends/merge.py, issue 23): the
sum is llama.cpp's, untouched tensors are copied byte for byte, the merged model computes what
the run-time adapter computes, and the backend uses it when asked (SUMMARIZE_LORA_MERGE=on)."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from summarize.backends import merge
from summarize.errors import ModelError
from training.export_lora import write_adapter

PROMPT = ("Document :\n<<<\nLa mairie de Rennes a décidé lundi de rendre les bus gratuits le samedi à partir de "
          "janvier. La mesure coûtera deux millions d'euros par an.\n>>>\n\nRésumé court :\n")


def random_lora(path: Path, names: dict[str, tuple[int, int]], *, rank: int = 4, alpha: float = 8.0,
                seed: int = 5, b_std: float = 0.05) -> Path:
    rng = np.random.default_rng(seed)
    tensors = []
    for layer in range(18):
        for name, (out, inp) in names.items():
            tensors += [(f"blk.{layer}.{name}.weight.lora_a", rng.normal(0, inp ** -0.5, (rank, inp))),
                        (f"blk.{layer}.{name}.weight.lora_b", rng.normal(0, b_std, (out, rank)))]
    write_adapter(tensors, alpha, path)
    return path


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    # attn_q is Q5_0 in the embedded model, ffn_down Q6_K: both become Q8_0.
    return random_lora(tmp_path_factory.mktemp("lora") / "r.lora.gguf",
                       {"attn_q": (1024, 640), "ffn_down": (640, 2048)}, b_std=0.3)


@pytest.fixture(scope="module")
def merged_path(tmp_path_factory, adapter, gemma_path) -> Path:
    return merge.merged(gemma_path, adapter, tmp_path_factory.mktemp("merged") / "m.gguf")


def test_deltas_use_llama_cpps_scale(tmp_path) -> None:
    import gguf

    path = random_lora(tmp_path / "a.gguf", {"attn_k": (256, 640)}, rank=4, alpha=8.0)
    deltas = merge.lora_deltas(path)
    reader = gguf.GGUFReader(path)
    a = reader.get_tensor(0).data.astype(np.float32)
    b = reader.get_tensor(1).data.astype(np.float32)
    assert reader.get_tensor(0).name.endswith("lora_a") and a.shape == (4, 640) and b.shape == (256, 4)
    np.testing.assert_allclose(deltas["blk.0.attn_k.weight"], 2.0 * (b @ a), rtol=1e-5, atol=1e-6)  # alpha / rank


def test_merged_file_holds_w_plus_delta_and_copies_the_rest(merged_path, adapter, gemma_path) -> None:
    import gguf

    base = {t.name: t for t in gguf.GGUFReader(gemma_path).tensors}
    out = {t.name: t for t in gguf.GGUFReader(merged_path).tensors}
    assert list(out) == list(base)
    deltas = merge.lora_deltas(adapter)
    for name, t in out.items():
        if name in deltas:
            assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
            want = gguf.quants.dequantize(base[name].data, base[name].tensor_type) + deltas[name]
            got = gguf.quants.dequantize(t.data, t.tensor_type)
            step = np.abs(want).max(axis=1, keepdims=True) / 127  # Q8_0: one scale per 32 values, ≤ the row's
            assert np.all(np.abs(got - want) <= step * 0.6 + 1e-6), name  # half a step, and the fp16 scale
        else:
            assert t.tensor_type == base[name].tensor_type and bytes(t.data) == bytes(base[name].data), name
    before = merged_path.stat().st_mtime_ns
    assert merge.merged(gemma_path, adapter, merged_path) == merged_path  # made once: later runs stat it
    assert merged_path.stat().st_mtime_ns == before


def test_an_adapter_for_another_model_is_one_clear_error(tmp_path, gemma_path) -> None:
    wrong = random_lora(tmp_path / "w.gguf", {"attn_q": (512, 640)})
    with pytest.raises(ModelError, match="made for another model") as err:
        merge.merged(gemma_path, wrong, tmp_path / "m.gguf")
    assert "\n" not in str(err.value) and not list(tmp_path.glob("m.gguf*"))  # no partial file left


def _last_logits(path: str, adapter: Path | None = None) -> np.ndarray:
    import llama_cpp

    from summarize.backends.native import open_llama

    llm = open_llama(path, n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    try:
        if adapter is not None:
            lora = llama_cpp.llama_adapter_lora_init(llm._model.model, str(adapter).encode())
            llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora), 1,
                                              (ctypes.c_float * 1)(1.0))
        ids = llm.tokenize(PROMPT.encode())
        llm.eval(ids)
        return np.array(llm.scores[len(ids) - 16:len(ids)])
    finally:
        llm.close()


@pytest.mark.slow
def test_merged_model_computes_what_the_run_time_adapter_does(merged_path, adapter, gemma_path) -> None:
    bare, runtime, merged = _last_logits(gemma_path), _last_logits(gemma_path, adapter), _last_logits(str(merged_path))
    effect = np.abs(runtime - bare).mean()
    assert effect > 0.5  # the adapter matters here...
    # ...and merged applies it: the same shift of the logits, up to the kernels' own rounding (a
    # Q8_0 × Q8_0 dot product instead of Q5_0/Q6_K plus an F16 LoRA: 0.30 × the effect here).
    assert np.corrcoef((merged - bare).ravel(), (runtime - bare).ravel())[0, 1] > 0.85
    assert np.abs(merged - runtime).mean() < 0.45 * effect


def test_backend_merges_on_request_and_applies_at_run_time_by_default(monkeypatch, tmp_path, merged_path, adapter,
                                                                      gemma_path, cache_dir) -> None:
    from summarize import backends, models
    from summarize.backends.llama_cpp import LlamaCppBackend
    from summarize.cache import Cache
    from summarize.gguf import read_gguf

    monkeypatch.setenv("SUMMARIZE_MODEL_CACHE", str(tmp_path))
    monkeypatch.delenv("SUMMARIZE_LORA_MERGE", raising=False)
    ref = models.resolve(f"gemma3-270m-base+{adapter}")
    cache = Cache(cache_dir)
    runtime_identity = backends.identity(ref, cache)
    backend = LlamaCppBackend(read_gguf(gemma_path), adapter=str(adapter))
    try:
        backend.ensure_loaded(0)
        assert not backend.merged and backend.path == gemma_path and backend._adapter is not None
    finally:
        backend.close()
    assert not (tmp_path / "merged").exists()
    monkeypatch.setenv("SUMMARIZE_LORA_MERGE", "on")
    target = merge.cached_path(tmp_path, gemma_path, adapter)
    target.parent.mkdir(parents=True)
    target.write_bytes(merged_path.read_bytes())  # the fixture's merge, where the backend looks for it
    backend = LlamaCppBackend(read_gguf(gemma_path), adapter=str(adapter))
    try:
        backend.ensure_loaded(0)
        assert backend.merged and backend.path == str(target) and backend._adapter is None
    finally:
        backend.close()
    # The two ways round differently: other cache keys.
    assert backends.identity(ref, cache) == runtime_identity + f"+{merge.FORMAT}"
