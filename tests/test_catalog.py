"""Issue 22: `summarize models` shows every catalog entry with its pin, needs and license,
marks the entries already on disk (another tool's copy is used where it is), and suggests
the best model this machine's RAM can run, with the command.

Tool folders are built in a temp dir around the real embedded GGUF, as in test_discovery.py;
the listing runs the real CLI in a subprocess.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from summarize import download, models

from .conftest import ROOT

REV = "0123456789abcdef0123456789abcdef01234567"
HF_REPO, HF_FILE = "ggml-org/gemma-3-270m-it-GGUF", "gemma-3-270m-it-Q4_K_M.gguf"
LMS_REPO, LMS_FILE = "lmstudio-community/gemma-3-270m-it-GGUF", "gemma-3-270m-it-Q4_K_M.gguf"

LISTING_PROBE = r"""
import sys
from summarize.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
print("llama_cpp imported" if "llama_cpp" in sys.modules else "llama_cpp not imported", file=sys.stderr)
"""


@pytest.fixture
def machine(tmp_path: Path, gemma_path: str) -> dict[str, str]:
    """A home with an HF cache and an LM Studio folder holding the embedded Gemma file."""
    home, hf = tmp_path / "home", tmp_path / "hf"
    repo = hf / ("models--" + HF_REPO.replace("/", "--"))
    sha = _sha(gemma_path)
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / sha).symlink_to(gemma_path)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    (repo / "snapshots" / REV).mkdir(parents=True)
    (repo / "snapshots" / REV / HF_FILE).symlink_to(f"../../blobs/{sha}")
    lms = home / ".lmstudio" / "models" / LMS_REPO
    lms.mkdir(parents=True)
    (lms / LMS_FILE).symlink_to(gemma_path)
    return {"HOME": str(home), "HF_HUB_CACHE": str(hf), "OLLAMA_MODELS": str(tmp_path / "ollama"),
            "LLAMA_CACHE": str(tmp_path / "llama"), "SUMMARIZE_MODELS_DIR": str(tmp_path / "models"),
            "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache"), "SUMMARIZE_MODEL_CACHE": str(Path(gemma_path).parent)}


_SHAS: dict[str, str] = {}


def _sha(path: str) -> str:
    if path not in _SHAS:
        _SHAS[path] = download.file_sha256(Path(path))
    return _SHAS[path]


def _entry(name: str, repo: str, file: str, rank: int, ram: float, sha: str | None, gated: bool = False) -> str:
    pin = f'sha256 = "{sha}"\nsize = 1000\n' if sha else ""
    return (f'["{name}"]\nrepo = "{repo}"\nfile = "{file}"\nrevision = "{REV}"\n{pin}size_gb = 0.3\n'
            f'ram_gb = {ram}\nspeed = "fast"\nrank = {rank}\nlicense = "Test"\ngated = {str(gated).lower()}\n'
            f'context = 2048\nprompt = "chat"\ngood_at = "tests"\n\n')


def _listing(env: dict[str, str], *args: str) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", LISTING_PROBE, "models", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_every_real_catalog_entry_is_listed_with_its_pin_and_needs(machine, monkeypatch):
    monkeypatch.delenv("SUMMARIZE_CATALOG", raising=False)
    out, err = _listing({**machine, "SUMMARIZE_CATALOG": ""})
    assert "llama_cpp not imported" in err  # the listing stays cheap
    lines = out.splitlines()
    catalog = models.load_catalog()
    for name, entry in catalog.items():
        i = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
        pin = download.pin_of(entry)
        if pin is None:
            assert "not pinned" in lines[i] and f"summarize models pull {name} --sha256 HEX --size BYTES" in lines[i]
        else:
            assert "pinned sha256" in lines[i] and lines[i].endswith(f"summarize models pull {name}")
            if entry.get("revision"):
                assert f"@ {entry['revision'][:7]}" in lines[i]
        detail = lines[i + 1]
        assert f"RAM {entry['ram_gb']} GB" in detail and f"{entry['speed']} on a laptop CPU" in detail
        assert entry["license"] in detail and ("gated" in detail) is bool(entry.get("gated"))
    assert lines[-1].startswith("suggested for this machine (")
    unpinned = [name for name, entry in catalog.items() if download.pin_of(entry) is None]
    assert unpinned == ["croissant-1.3b"]


def test_catalog_entries_on_disk_are_marked_and_used_where_they_are(machine, tmp_path, gemma_path, monkeypatch):
    sha = _sha(gemma_path)
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(_entry("from-hf", HF_REPO, HF_FILE, 3, 1, sha)  # HF blob named by the pinned digest
                       + _entry("from-lms", LMS_REPO, LMS_FILE, 4, 1, None)  # LM Studio: same repo and file
                       + _entry("other-rev", HF_REPO, HF_FILE, 5, 1, "0" * 64))  # the HF copy is not this pin
    env = {**machine, "SUMMARIZE_CATALOG": str(catalog)}
    rows = {r["name"]: r for r in json.loads(_listing(env, "--format", "json")[0])}
    assert rows["from-hf"]["usable"] and rows["from-hf"]["on_disk"] == f"hf:{HF_REPO}/{HF_FILE}"
    assert rows["from-hf"]["sha256"] == sha and rows["from-hf"]["ram_gb"] == 1
    assert rows["from-lms"]["usable"] and rows["from-lms"]["on_disk"] == f"lmstudio:{LMS_REPO}/{LMS_FILE}"
    assert rows["other-rev"]["usable"] is False and "not downloaded" in rows["other-rev"]["error"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ref = models.resolve("from-hf")
    assert ref.source == "catalog" and ref.sha256 == sha and ref.path.endswith(f"snapshots/{REV}/{HF_FILE}")
    text = _listing(env)[0]
    assert f"(as hf:{HF_REPO}/{HF_FILE})" in text


def test_suggestion_is_the_best_ranked_entry_that_fits_and_needs_no_login(machine, tmp_path, gemma_path,
                                                                         monkeypatch):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(_entry("gated-best", "org/gated", "g.gguf", 1, 2, "a" * 64, gated=True)
                       + _entry("big", "org/big", "b.gguf", 2, 4, "b" * 64)
                       + _entry("unpinned", "org/u", "u.gguf", 3, 1, None)
                       + _entry("small", "org/s", "s.gguf", 4, 1, "c" * 64)
                       + _entry("on-disk", HF_REPO, HF_FILE, 5, 1, _sha(gemma_path)))
    for key, value in {**machine, "SUMMARIZE_CATALOG": str(catalog)}.items():
        monkeypatch.setenv(key, value)
    rows = models.available()

    def pick(ram_gb: float) -> str | None:
        best = models.suggest(rows, int(ram_gb * 1e9))
        return None if best is None else best["name"]

    assert pick(16) == "big"  # 12 GB usable: the gated one would fit, but needs a login
    assert pick(2) == "small"  # 1.5 GB usable: `unpinned` fits and ranks higher, but pull would refuse it
    assert pick(1) is None  # 0.75 GB usable: nothing fits
    by_name = {r["name"]: r for r in rows}
    by_name["gated-best"].update(usable=True)  # once on disk (login done), the gated one is the best
    assert pick(16) == "gated-best"
    out = _listing({**machine, "SUMMARIZE_CATALOG": str(catalog)})[0]
    ram = models.total_ram()
    expected = {True: "big", False: "small"}[ram * models.RAM_SHARE / 1e9 >= 4]
    assert out.splitlines()[-1].endswith(f"summarize models pull {expected}, then summarize FILE --model {expected}")
