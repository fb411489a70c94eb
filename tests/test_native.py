"""The CPU load policy (issue 19): on a CPU with AMX no llama.cpp load in this project may
reach the AMX weight buffers, whose kernel segfaults on decode.

The flags are faked ($SUMMARIZE_CPU_FLAGS), and the parameters checked are the ones the real
llama.cpp load function receives, for every loader: the backend (weights and vocabulary),
the benchmarks' raw references and the training tools (native.open_llama), the tests' real
server (its own llama.cpp log), and llama.cpp's own tools (their command-line flags)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from summarize.backends import native
from summarize.errors import UsageError

from .conftest import ROOT, run_cli

AMX = "fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8"
NO_AMX = "fpu sse2 avx avx2 fma f16c"  # an AMD Zen 3 or a laptop


def test_flags_are_read_from_cpuinfo_on_x86_and_arm(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(native.FLAGS_ENV, raising=False)
    x86 = tmp_path / "x86"
    x86.write_text(f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {AMX}\n\nprocessor\t: 1\n")
    assert {"avx2", "amx_int8", "amx_tile"} <= native.cpu_flags(x86)
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve i8mm\n")
    assert {"asimd", "sve", "i8mm"} <= native.cpu_flags(arm)
    assert native.cpu_flags(tmp_path / "missing") == frozenset()
    monkeypatch.setenv(native.FLAGS_ENV, "AVX2, AMX_INT8")  # the fake wins, case and commas aside
    assert native.cpu_flags(x86) == {"avx2", "amx_int8"}


def test_policy_turns_the_extra_buffers_off_only_where_amx_is(monkeypatch) -> None:
    monkeypatch.delenv(native.ENV, raising=False)
    amx, plain = frozenset(AMX.split()), frozenset(NO_AMX.split())
    assert native.policy(amx) == native.Policy(False, True, native.policy(amx).reason)
    assert "AMX" in native.policy(amx).reason and native.ENV in native.policy(amx).reason
    assert native.policy(plain).extra_bufts is True  # every other CPU keeps llama.cpp's default
    assert native.policy(amx, "on").extra_bufts is True  # the user's opt-in, once upstream fixes it
    assert native.policy(plain, "off").extra_bufts is False
    monkeypatch.setenv(native.ENV, "on")
    assert native.policy(amx).extra_bufts is True
    with pytest.raises(UsageError, match=native.ENV):
        native.policy(amx, "maybe")
    assert native.llama_bench_args(native.policy(amx, "auto")) == ["--repack", "0"]
    assert native.llama_server_args(native.policy(amx, "auto")) == ["--no-repack"]
    assert native.llama_server_args(native.policy(plain, "auto")) == []


@pytest.fixture
def recorded_loads(monkeypatch):
    """The use_extra_bufts value of every real llama.cpp model load in this test."""
    import llama_cpp.llama_cpp as capi

    seen: list[bool] = []
    real = capi.llama_model_load_from_file

    def load(path, params):  # type: ignore[no-untyped-def]
        seen.append(bool(params.use_extra_bufts))
        return real(path, params)

    monkeypatch.setattr(capi, "llama_model_load_from_file", load)
    return seen


@pytest.mark.slow
def test_every_in_process_loader_keeps_amx_off(gemma_path, recorded_loads, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(native.FLAGS_ENV, AMX)
    monkeypatch.delenv(native.ENV, raising=False)
    monkeypatch.setenv("SUMMARIZE_MODEL_CACHE", str(tmp_path))  # a fresh probe, run under the same fake
    from summarize.backends.base import GenSettings
    from summarize.backends.llama_cpp import LlamaCppBackend
    from summarize.gguf import read_gguf
    from summarize.prompts import Prompt
    from training.check_logits import llama_logits
    from training.prepare import Tokenizer

    vocab = LlamaCppBackend(read_gguf(gemma_path), tokenizer_only=True)  # --dry-run, remote token counts
    assert vocab.count_text("Bonjour à tous") > 0
    vocab.close()
    backend = LlamaCppBackend(read_gguf(gemma_path))  # the product: weights, decoders, adapters
    gen = backend.generate(Prompt(text="Le conseil municipal a voté", stop=()), GenSettings(max_tokens=4))
    assert gen.tokens_out > 0
    backend.close()
    tok = Tokenizer(gemma_path)  # training/prepare.py
    logits = llama_logits(gemma_path, tok.encode("Le musée ouvre ses portes", bos=True))  # training/check_logits.py
    assert logits.shape[0] > 0
    raw = native.open_llama(gemma_path, n_ctx=256, verbose=False)  # benchmarks' raw references
    raw.close()
    assert len(recorded_loads) == 5 and not any(recorded_loads), recorded_loads
    # The same loaders keep llama.cpp's default on a CPU without AMX (a vocabulary load: no
    # decode, so this is safe on an AMX machine too).
    monkeypatch.setenv(native.FLAGS_ENV, NO_AMX)
    Tokenizer(gemma_path)
    assert recorded_loads[-1] is True


def test_no_loader_bypasses_the_policy() -> None:
    """Static half of the check: a new ``Llama(...)`` or llama.cpp tool call elsewhere would
    escape the dynamic test above, so none may exist outside native.py."""
    offenders = []
    for folder in ("summarize", "benchmarks", "training", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "native.py" or path == Path(__file__):
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"(^|[^\w`])Llama\(", text) or "\"llama_cpp.server\"" in text:
                offenders.append(str(path.relative_to(ROOT)))
            if 'tool("llama-bench")), "-m"' in text and "native.llama_bench_args()" not in text:
                offenders.append(f"{path.relative_to(ROOT)} (llama-bench)")
            if 'tool("llama-server")), "-m"' in text and "native.llama_server_args()" not in text:
                offenders.append(f"{path.relative_to(ROOT)} (llama-server)")
    assert offenders == []


@pytest.mark.slow
def test_the_tests_server_launcher_loads_without_amx_buffers(gemma_path, tmp_path) -> None:
    """The real llama-cpp-python server the remote tests start, under faked AMX flags: its own
    llama.cpp log shows plain CPU weights, no AMX or repacked buffer."""
    from . import llamaserver

    log = tmp_path / "server.log"
    server = llamaserver.start(gemma_path, log, n_ctx=512, env={native.FLAGS_ENV: AMX})
    try:
        text = log.read_text(errors="replace")
    finally:
        server.kill()
    assert "weight repacking off" in text
    assert "CPU_Mapped model buffer size" in text
    assert not re.search(r"(AMX|REPACK) model buffer size", text), text[-3000:]


def test_models_tells_which_cpu_features_llama_cpp_uses(cache_dir) -> None:
    proc = run_cli("models", env={"SUMMARIZE_CACHE_DIR": str(cache_dir), native.FLAGS_ENV: AMX})
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("cpu:"))
    assert "amx_int8" in line and "avx512_bf16" in line and "weight repacking off" in line
    proc = run_cli("models", env={"SUMMARIZE_CACHE_DIR": str(cache_dir), native.FLAGS_ENV: NO_AMX})
    assert "weight repacking on" in proc.stdout


@pytest.mark.slow
def test_an_opted_in_crash_is_one_clear_line_never_a_bare_segfault(cache_dir) -> None:
    """With the AMX path forced on, a CPU with AMX crashes inside llama.cpp: the user must get
    one line naming the model, the crash and what to try. Elsewhere the summary just works."""
    has_amx = bool(native.cpu_flags() & native.AMX_FLAGS)
    proc = run_cli("seeds/001_188ff14e355e4071.txt", "--length", "short",
                   env={"SUMMARIZE_CACHE_DIR": str(cache_dir), native.ENV: "on"})
    assert proc.returncode >= 0  # never killed by a signal
    if has_amx:
        assert proc.returncode == 1 and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "llama.cpp crashed (SIGSEGV)" in lines[0], proc.stderr
        assert "gemma" in lines[0].lower() and "amx_int8" in lines[0] and f"{native.ENV}=off" in lines[0]
    else:
        assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr


def test_launcher_is_llama_cpp_servers_cli() -> None:
    """Same options as `python -m llama_cpp.server` (a user's command line keeps working)."""
    out = subprocess.run([sys.executable, "-m", "summarize.backends.llama_server", "--help"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "--n_ctx" in out.stdout and "--api_key" in out.stdout
