"""Issue 13 (B): `models pull` installs only a file whose size and sha256 match the catalog.

The download source is a local mirror folder ($SUMMARIZE_MODEL_MIRROR, file:// URL), so the
real CLI, verification and refusal paths run without network.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from summarize import download, models
from summarize.errors import UsageError

from .conftest import run_cli

CONTENT = b"GGUF" + bytes(range(256)) * 64
REPO, FILE = "org/Petit-Modele-GGUF", "petit-modele-q4_k_m.gguf"


def _catalog(tmp_path: Path, sha: str | None, size: int | None) -> Path:
    pins = (f'sha256 = "{sha}"\n' if sha else "") + (f"size = {size}\n" if size else "")
    path = tmp_path / "catalog.toml"
    path.write_text(f'[petit]\nrepo = "{REPO}"\nfile = "{FILE}"\nlicense = "MIT"\ncontext = 2048\n{pins}')
    return path


def _env(tmp_path: Path, catalog: Path, mirror_content: bytes | None) -> dict[str, str]:
    mirror = tmp_path / "mirror"
    if mirror_content is not None:
        (mirror / REPO).mkdir(parents=True, exist_ok=True)
        (mirror / REPO / FILE).write_bytes(mirror_content)
    return {"SUMMARIZE_CATALOG": str(catalog), "SUMMARIZE_MODEL_MIRROR": mirror.as_uri() if mirror.exists() else "",
            "SUMMARIZE_MODELS_DIR": str(tmp_path / "models"), "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache")}


def _one_line(proc, code: int, *words: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code and len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and all(w in lines[0] for w in words), lines[0]


def test_pull_accepts_the_pinned_file(tmp_path):
    catalog = _catalog(tmp_path, hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))
    proc = run_cli("models", "pull", "petit", env=_env(tmp_path, catalog, CONTENT))
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / "models" / FILE
    assert proc.stdout.strip() == str(installed) and installed.read_bytes() == CONTENT
    assert [p.name for p in (tmp_path / "models").iterdir()] == [FILE]  # no staging left behind


@pytest.mark.parametrize("served, words", [
    (CONTENT[:-1] + b"!", "sha256"),  # same size, one byte differs
    (CONTENT[:-10], "size"),  # truncated
])
def test_pull_refuses_and_removes_a_mismatching_file(tmp_path, served, words):
    catalog = _catalog(tmp_path, hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))
    proc = run_cli("models", "pull", "petit", env=_env(tmp_path, catalog, served))
    _one_line(proc, 1, FILE, "does not match", words, "removed")
    assert list((tmp_path / "models").iterdir()) == []  # neither the file nor a partial copy remains


def test_pull_refuses_an_entry_without_pins_before_any_download(tmp_path):
    catalog = _catalog(tmp_path, None, None)
    proc = run_cli("models", "pull", "petit", env=_env(tmp_path, catalog, CONTENT))
    _one_line(proc, 2, "petit", "no pinned sha256", "--sha256")
    assert not (tmp_path / "models" / FILE).exists()


def test_user_given_pins_verify_an_unpinned_entry(tmp_path):
    catalog = _catalog(tmp_path, None, None)
    env = _env(tmp_path, catalog, CONTENT)
    sha = hashlib.sha256(CONTENT).hexdigest()
    bad = run_cli("models", "pull", "petit", "--sha256", "0" * 64, "--size", str(len(CONTENT)), env=env)
    _one_line(bad, 1, "does not match")
    _one_line(run_cli("models", "pull", "petit", "--sha256", sha, env=env), 2, "--size")
    ok = run_cli("models", "pull", "petit", "--sha256", sha, "--size", str(len(CONTENT)), env=env)
    assert ok.returncode == 0 and (tmp_path / "models" / FILE).read_bytes() == CONTENT, ok.stderr


def test_existing_mismatching_file_is_reported_not_overwritten(tmp_path):
    catalog = _catalog(tmp_path, hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / FILE).write_bytes(b"GGUF mine")
    proc = run_cli("models", "pull", "petit", env=_env(tmp_path, catalog, CONTENT))
    _one_line(proc, 1, "existing", "does not match")
    assert (tmp_path / "models" / FILE).read_bytes() == b"GGUF mine"


def test_missing_mirror_file_is_one_line(tmp_path):
    catalog = _catalog(tmp_path, hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))
    env = _env(tmp_path, catalog, None)
    env["SUMMARIZE_MODEL_MIRROR"] = str(tmp_path / "empty-mirror")
    _one_line(run_cli("models", "pull", "petit", env=env), 1, "not in the mirror")


def test_real_catalog_entries_are_pinned_or_refused(tmp_path, monkeypatch):
    """Every catalog entry pins a well-formed sha256 and size, or `pull` refuses it up front."""
    monkeypatch.delenv("SUMMARIZE_CATALOG", raising=False)
    monkeypatch.setenv("SUMMARIZE_MODELS_DIR", str(tmp_path / "models"))
    for name, entry in models.load_catalog().items():
        pin = download.pin_of(entry)
        if pin is not None:
            assert len(pin.sha256) == 64 and pin.size > 1_000_000, name
            continue
        assert "sha256" not in entry and "size" not in entry, f"{name}: malformed pin"
        with pytest.raises(UsageError, match="no pinned sha256"):
            models.pull(name)
    rows = {r["name"]: r for r in models.available()}
    for name, entry in models.load_catalog().items():
        assert rows[name]["pinned"] is (download.pin_of(entry) is not None)


def test_mirror_url_forms(tmp_path):
    assert download.MirrorSource(tmp_path.as_uri()).root == tmp_path
    assert download.MirrorSource(str(tmp_path)).root == tmp_path
