"""The first-use probe (issue 19): a native crash is reported as one line, a success is
remembered per machine so later runs pay nothing."""
from __future__ import annotations

import json
import sys

import pytest

from summarize.backends import native, probe
from summarize.errors import ModelError

SEGFAULT = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_MODEL_CACHE", str(tmp_path))
    monkeypatch.delenv(probe.ENV, raising=False)
    return tmp_path / "probes.json"


def test_a_child_killed_by_a_signal_is_one_line_naming_the_model_and_cpu(gemma_path, store) -> None:
    chosen = native.policy(frozenset({"avx2", "amx_int8"}), "on")
    with pytest.raises(ModelError) as err:
        probe.check(gemma_path, name="Gemma 3 270m", chosen=chosen, command=SEGFAULT)
    message = str(err.value)
    assert "\n" not in message and "llama.cpp crashed (SIGSEGV)" in message and "Gemma 3 270m" in message
    assert gemma_path in message and "cpu:" in message and f"{native.ENV}=off" in message
    assert not store.exists()  # a crash is never remembered: the next run probes again


def test_a_python_failure_is_left_to_the_real_load_and_not_remembered(gemma_path, store) -> None:
    assert probe.check(gemma_path, command=[sys.executable, "-c", "raise SystemExit(3)"]) is True
    assert not store.exists()


def test_probe_off_skips_it(gemma_path, store, monkeypatch) -> None:
    monkeypatch.setenv(probe.ENV, "off")
    assert probe.check(gemma_path, command=SEGFAULT) is False


@pytest.mark.slow
def test_the_real_probe_runs_once_per_model_and_policy(gemma_path, store) -> None:
    assert probe.check(gemma_path, name="gemma") is True  # a child loaded and decoded
    records = json.loads(store.read_text())
    assert len(records) == 1 and next(iter(records.values()))["ok"] is True
    assert probe.check(gemma_path, name="gemma") is False  # remembered: no child this time
    other = native.policy(frozenset(), "off" if native.policy().extra_bufts else "on")
    assert probe.probe_key(gemma_path, other, 0) not in records  # another policy is another probe
