"""End to end through the real CLI with the real embedded models (issue 2)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from summarize.quality import guards

from .conftest import ROOT, SHORT_SEED


def _one_line_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("summarize: error:")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gemma3-270m", "smollm2-135m"])
def test_real_model_writes_french_summary_then_cache_serves_it(cli, model):
    first = cli(str(SHORT_SEED), "--model", model, "--format", "json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["summary"].strip()
    assert guards.is_french(data["summary"])
    assert data["cache_hit"] is False and data["tokens_in"] > 500 and data["tokens_out"] > 0
    assert data["model"] == model and len(data["model_sha256"]) == 64

    started = time.perf_counter()
    second = cli(str(SHORT_SEED), "--model", model, "--format", "json")
    wall = time.perf_counter() - started
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["cache_hit"] is True
    assert again["summary"] == data["summary"]
    assert wall < 0.5 * 4  # subprocess start under pytest on 2 busy cores; the strict check is below


HIT_PROBE = r"""
import json, sys, time
opened = []
sys.addaudithook(lambda ev, args: opened.append(str(args[0])) if ev == "open" and args and isinstance(args[0], str) else None)
from summarize.cli import main
t = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "opened": opened, "llama_cpp": "llama_cpp" in sys.modules, "code": code}), file=sys.stderr)
"""


@pytest.mark.slow
def test_cache_hit_never_opens_the_model_and_is_fast(cli, cache_dir, gemma_path):
    assert cli(str(SHORT_SEED), "--length", "short").returncode == 0
    proc = subprocess.run([sys.executable, "-c", HIT_PROBE, str(SHORT_SEED), "--length", "short"],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "SUMMARIZE_CACHE_DIR": str(cache_dir)})
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    assert probe["code"] in (0, None)
    assert proc.stdout.strip()
    assert probe["llama_cpp"] is False
    assert not [p for p in probe["opened"] if p.endswith(".gguf")]
    assert probe["wall"] < 0.5


def test_help_is_fast_and_does_not_import_llama_cpp():
    code = ("import sys,time; t=time.perf_counter()\nfrom summarize.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "print('LLAMA' if 'llama_cpp' in sys.modules else 'LAZY', time.perf_counter()-t)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    marker, seconds = proc.stdout.strip().splitlines()[-1].split()
    assert marker == "LAZY"
    assert float(seconds) < 0.5
    assert "summarize FILE" in proc.stdout


def test_missing_file(cli):
    _one_line_error(cli("nope/absent.txt"), 2, "absent.txt", "file not found")


def test_empty_document(cli, tmp_path):
    empty = tmp_path / "vide.txt"
    empty.write_text("  \n\n ")
    _one_line_error(cli(str(empty)), 2, "vide.txt", "empty")


def test_empty_stdin(cli):
    _one_line_error(cli("-", stdin=""), 2, "empty")


def test_unsupported_format(cli, tmp_path):
    sheet = tmp_path / "table.xlsx"
    sheet.write_bytes(b"PK\x03\x04 not really")
    _one_line_error(cli(str(sheet)), 2, "table.xlsx", "unsupported format")


def test_directory_is_not_a_document(cli, tmp_path):
    _one_line_error(cli(str(tmp_path)), 2, "directory", "summarize batch")


def test_unreadable_file(cli, tmp_path):
    from .docgen import unreadable_file

    doc = unreadable_file(tmp_path)
    assert doc is not None, "no file the OS refuses to read could be made here"
    _one_line_error(cli(str(doc)), 2, doc.name, "permission denied")


def test_unknown_model(cli):
    _one_line_error(cli(str(SHORT_SEED), "--model", "gpt-17"), 2, "unknown model", "gemma3-270m")


def test_missing_model_path(cli):
    _one_line_error(cli(str(SHORT_SEED), "--model", "/nonexistent/model.gguf"), 2, "model file not found")


def test_not_a_gguf(cli, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_text("ceci n'est pas un modèle " * 10)
    _one_line_error(cli(str(SHORT_SEED), "--model", str(fake)), 1, "fake.gguf", "not a GGUF")


def test_truncated_gguf(cli, tmp_path, smollm_path):
    cut = tmp_path / "cut.gguf"
    with open(smollm_path, "rb") as src:
        cut.write_bytes(src.read(5_000_000))
    _one_line_error(cli(str(SHORT_SEED), "--model", str(cut)), 1, "cut.gguf", "truncated")


def test_catalog_model_not_downloaded(cli):
    _one_line_error(cli(str(SHORT_SEED), "--model", "mistral-7b"), 2, "not downloaded", "models pull mistral-7b")


def test_models_lists_both_embedded_models(cli):
    proc = cli("models", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["gemma3-270m"]["usable"] and rows["gemma3-270m"]["chat_template"] is False
    assert rows["smollm2-135m"]["usable"] and rows["smollm2-135m"]["chat_template"] is True
    assert rows["smollm2-135m"]["context"] == 8192
    assert rows["mistral-7b"]["usable"] is False


def test_models_pull_offline_fails_clearly(cli):
    proc = cli("models", "pull", "qwen2.5-3b", env={"SUMMARIZE_OFFLINE": "1"})
    _one_line_error(proc, 2, "offline")
