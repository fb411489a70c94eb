"""Issue 13 (B): `--gpu-layers N|all`. This machine has no GPU: the tests check the parsing, the
default chosen from the installed llama.cpp, what `summarize models` shows, and that the value
reaches llama.cpp's loader (a CPU build ignores it and reports 0 layers offloaded)."""
from __future__ import annotations

import json

import pytest

from summarize import gpu
from summarize.errors import UsageError

from .conftest import SHORT_SEED


@pytest.mark.parametrize("value, expected", [
    ("all", gpu.ALL), ("ALL", gpu.ALL), ("-1", gpu.ALL), ("0", 0), ("33", 33), (12, 12), ("auto", None), ("", None),
])
def test_parse(value, expected, monkeypatch):
    monkeypatch.delenv(gpu.ENV, raising=False)
    assert gpu.parse(value) == expected


@pytest.mark.parametrize("value", ["lots", "-3", "1.5", "all layers"])
def test_parse_refuses_garbage(value):
    with pytest.raises(UsageError, match="--gpu-layers"):
        gpu.parse(value)


def test_env_sets_the_default(monkeypatch):
    monkeypatch.setenv(gpu.ENV, "all")
    assert gpu.parse(None) == gpu.ALL
    assert gpu.parse("4") == 4  # the option beats the environment


def test_default_follows_the_installed_llama_cpp(monkeypatch):
    """No GPU backend library in this build: the listing default and the load default are 0,
    and both agree with llama.cpp's own answer."""
    import llama_cpp

    monkeypatch.delenv(gpu.ENV, raising=False)
    supports = bool(llama_cpp.llama_supports_gpu_offload())
    assert bool(gpu.gpu_backends()) is supports
    assert gpu.for_load(None) == (gpu.ALL if supports else 0)
    assert gpu.planned(None)["gpu_layers"] == ("all" if supports else 0)
    assert gpu.planned("7")["gpu_layers"] == 7 and gpu.for_load(7) == 7


def test_models_json_shows_the_setting(cli):
    rows = {r["name"]: r for r in json.loads(cli("models", "--format", "json", "--gpu-layers", "all").stdout)}
    assert rows["gemma3-270m"]["gpu_layers"] == "all"
    rows = {r["name"]: r for r in json.loads(cli("models", "--format", "json", "--gpu-layers", "12").stdout)}
    assert rows["smollm2-135m"]["gpu_layers"] == 12


def test_bad_value_is_a_one_line_usage_error(cli):
    proc = cli(str(SHORT_SEED), "--gpu-layers", "beaucoup")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "--gpu-layers" in lines[0], proc.stderr


@pytest.mark.slow
def test_requested_layers_reach_the_loader(smollm_path):
    """n_gpu_layers goes to llama.cpp; without a GPU nothing is offloaded and that is what is reported."""
    from summarize.gguf import read_gguf
    from summarize.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(read_gguf(smollm_path), gpu_layers=gpu.ALL)
    try:
        llm = backend.ensure_loaded(0)
        assert llm.model_params.n_gpu_layers == 0x7FFFFFFF  # llama-cpp-python's "all"
        assert backend.gpu_offloaded == ("all" if gpu.gpu_backends() else 0)
    finally:
        backend.close()
