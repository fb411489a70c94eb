"""Issue 7: a malformed model file is refused with one line and exit code 1, before llama.cpp.

Each file goes through the real CLI in a subprocess (a crash of llama.cpp's C++ loader
would kill it with a signal, not exit 1). The probe also reports whether llama_cpp was
imported at all: the GGUF validator must refuse the file before llama.cpp is asked to load it.
"""
from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys

import pytest

from .conftest import ROOT, SHORT_SEED

PROBE = r"""
import json, os, sys
from summarize.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
with open(os.environ["PROBE_REPORT"], "w") as fh:
    json.dump({"code": code, "llama_cpp": "llama_cpp" in sys.modules}, fh)
sys.exit(code)
"""


def _s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def _header(n_tensors: int = 2, n_kv: int = 3, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


RNG = random.Random(7)
GARBAGE = bytes(RNG.getrandbits(8) for _ in range(64_000))
MODEL_FILES = {
    "zero-byte": b"",
    "a-few-bytes": b"GGU",
    "random-bytes": GARBAGE,
    "valid-header-then-garbage": _header() + GARBAGE,
    "valid-header-huge-counts": _header(2**60, 2**60) + GARBAGE[:200],
    "unsupported-version": _header(version=99) + GARBAGE[:500],
    "renamed-png": b"\x89PNG\r\n\x1a\n" + GARBAGE[:2000],
    "renamed-zip": b"PK\x03\x04" + GARBAGE[:2000],
    "renamed-pdf": b"%PDF-1.7\n" + GARBAGE[:2000],
    "renamed-text": "Ceci est un document, pas un modèle.\n".encode() * 50,
    "renamed-safetensors": struct.pack("<Q", 64) + b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' + b"\0" * 16,
    "old-ggml-format": b"tjgg" + struct.pack("<I", 3) + GARBAGE[:4000],
    "metadata-wrong-type": _header(0, 1) + _s(b"general.alignment") + struct.pack("<I", 8) + _s(b"trente-deux"),
    "nested-arrays": _header(0, 1) + _s(b"x") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 3000,
    "misaligned-tensor": _header(1, 0) + _s(b"w") + struct.pack("<IQIQ", 1, 4, 0, 3) + b"\0" * 64,
}


def probe(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "probe.json"
    env = {**os.environ, "PROBE_REPORT": str(report), "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    return proc, json.loads(report.read_text()) if report.exists() else {}


def assert_one_line_model_error(proc: subprocess.CompletedProcess, name: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # a signal (segfault) would be negative
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("summarize: error:") and name in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("kind", list(MODEL_FILES))
def test_malformed_model_file_is_refused_before_llama_cpp(tmp_path, kind):
    model = tmp_path / f"{kind}.gguf"
    model.write_bytes(MODEL_FILES[kind])
    proc, report = probe(tmp_path, str(SHORT_SEED), "--model", str(model), "--no-cache")
    assert_one_line_model_error(proc, model.name)
    assert report == {"code": 1, "llama_cpp": False}


def test_real_header_with_tensor_data_cut_off(tmp_path, smollm_path):
    """The complete metadata and tensor table of a real model, then only garbage."""
    from summarize.gguf import _parse, _Reader

    with open(smollm_path, "rb") as fh:
        head = fh.read(4_000_000)
    reader = _Reader(head, smollm_path)
    _parse(reader, len(head), check_size=False)
    model = tmp_path / "cut-after-table.gguf"
    model.write_bytes(head[: reader.pos] + GARBAGE)
    proc, report = probe(tmp_path, str(SHORT_SEED), "--model", str(model), "--no-cache")
    assert_one_line_model_error(proc, model.name)
    assert "truncated" in proc.stderr and report["llama_cpp"] is False


def test_models_list_marks_malformed_files_unusable(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for kind in ("zero-byte", "random-bytes", "valid-header-then-garbage", "renamed-png"):
        (models_dir / f"{kind}.gguf").write_bytes(MODEL_FILES[kind])
    env = {**os.environ, "SUMMARIZE_MODELS_DIR": str(models_dir)}
    proc = subprocess.run([sys.executable, "-m", "summarize", "models", "--format", "json"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    for kind in ("zero-byte", "random-bytes", "valid-header-then-garbage", "renamed-png"):
        row = rows[f"{kind}.gguf"]
        assert row["usable"] is False and "GGUF" in row["error"]


def test_a_user_file_is_used_by_the_name_the_models_list_gives(tmp_path, monkeypatch):
    """`summarize models` (and the web page's menu) names a file of a models folder by its file
    name; `--model NAME.gguf` finds it there from any working directory."""
    from summarize import models

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "mon-modele.gguf").write_bytes(MODEL_FILES["valid-header-then-garbage"])  # resolving reads no header
    monkeypatch.setenv("SUMMARIZE_MODELS_DIR", str(folder))
    monkeypatch.chdir(tmp_path)  # not the folder: found by the search, not as a relative path
    listed = {r["name"] for r in models.available(headers=False)}
    assert "mon-modele.gguf" in listed
    ref = models.resolve("mon-modele.gguf")
    assert (ref.name, ref.path, ref.source) == ("mon-modele.gguf", str(folder / "mon-modele.gguf"), "file")
    with pytest.raises(models.UsageError, match="model file not found"):
        models.resolve("absent.gguf")
    with pytest.raises(models.UsageError, match="model file not found"):
        models.resolve(f"autre{os.sep}mon-modele.gguf")  # a path is a path: no search
