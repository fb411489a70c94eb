"""Issues 13 (B) and 22: `models pull` installs only a file whose size and sha256 match the
catalog, downloads it from the pinned revision, resumes a cut download and never gives a
partial file the final name.

The sources are real and local: a mirror folder ($SUMMARIZE_MODEL_MIRROR, file:// URL) and a
Hub-like HTTP server on 127.0.0.1 (tests/fileserver.py, with range requests and scripted cuts),
so the real CLI, transfer, verification and refusal paths run without the Internet.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from summarize import download, models
from summarize.errors import ModelError, UsageError
from summarize.pull_view import RichPull

from .conftest import ROOT, run_cli
from .fileserver import FileServer

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
            assert len(pin.sha256) == 64 and (pin.size is None or pin.size > 1_000_000), name
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


# -- issue 22: the catalog's pins, revisions, resume ----------------------------------------
ISSUE_22_PINS = {  # key: (repo, file, sha256, bytes, revision), as the issue quotes them
    "qwen2.5-3b": ("Qwen/Qwen2.5-3B-Instruct-GGUF", "qwen2.5-3b-instruct-q4_k_m.gguf",
                   "626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d", 2104932768,
                   "7dabda4d13d513e3e842b20f0d435c732f172cbe"),
    "mistral-7b": ("TheBloke/Mistral-7B-Instruct-v0.2-GGUF", "mistral-7b-instruct-v0.2.Q4_K_M.gguf",
                   "3e0039fd0273fcbebb49228943b17831aadd55cbcbf56f0af00499be2040ccf9", 4368439584,
                   "3a6fbf4a41a1d52e415a4958cde6856d34b2db93"),
    "gemma3-4b": ("google/gemma-3-4b-it-qat-q4_0-gguf", "gemma-3-4b-it-q4_0.gguf",
                  "76aed0a8285b83102f18b5d60e53c70d09eb4e9917a20ce8956bd546452b56e2", 3155051328,
                  "15f73f5eee9c28f53afefef5723e29680c2fc78a"),
    "qwen2.5-1.5b": ("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf",
                     "6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e", 1117320736,
                     "91cad51170dc346986eccefdc2dd33a9da36ead9"),
    "qwen2.5-0.5b": ("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf",
                     "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db", 491400032,
                     "9217f5db79a29953eb74d5343926648285ec7e67"),
    "gemma3-1b": ("ggml-org/gemma-3-1b-it-GGUF", "gemma-3-1b-it-Q4_K_M.gguf",
                  "8ccc5cd1f1b3602548715ae25a66ed73fd5dc68a210412eea643eb20eb75a135", 806058240,
                  "f9c28bcd85737ffc5aef028638d3341d49869c27"),
    "gemma3-4b-open": ("ggml-org/gemma-3-4b-it-GGUF", "gemma-3-4b-it-Q4_K_M.gguf",
                       "882e8d2db44dc554fb0ea5077cb7e4bc49e7342a1f0da57901c0802ea21a0863", 2489757856,
                       "d0976223747697cb51e056d85c532013931fe52e"),
    "llama3.2-1b": ("bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                    "6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83", 807694464,
                    "067b946cf014b7c697f3654f621d577a3e3afd1c"),
    "llama3.2-3b": ("bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
                    "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff", 2019377696,
                    "5ab33fa94d1d04e903623ae72c95d1696f09f9e8"),
}
REV = "0123456789abcdef0123456789abcdef01234567"
HUB_PATH = f"/{REPO}/resolve/{REV}/{FILE}"
SHA = hashlib.sha256(CONTENT).hexdigest()


def test_catalog_carries_the_issue_pins_with_their_revisions(monkeypatch):
    monkeypatch.delenv("SUMMARIZE_CATALOG", raising=False)
    catalog = models.load_catalog()
    for key, (repo, file, sha, size, revision) in ISSUE_22_PINS.items():
        entry = catalog[key]
        assert (entry["repo"], entry["file"], entry.get("revision")) == (repo, file, revision), key
        assert download.pin_of(entry) == download.Pin(sha, size), key
        assert download.file_url(entry) == f"https://huggingface.co/{repo}/resolve/{revision}/{file}"
    lucie = download.pin_of(catalog["lucie-7b"])  # digest from one source, no size: sha256 only
    assert lucie is not None and lucie.size is None
    assert download.pin_of(catalog["croissant-1.3b"]) is None  # no digest found anywhere: refused


def _hub_env(tmp_path: Path, server: FileServer, catalog: Path) -> dict[str, str]:
    return {"SUMMARIZE_CATALOG": str(catalog), "SUMMARIZE_MODEL_MIRROR": "", "HF_ENDPOINT": server.url,
            "HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": "",
            "SUMMARIZE_MODELS_DIR": str(tmp_path / "models"), "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache")}


def _pinned_catalog(tmp_path: Path, sha: str = SHA, size: int | None = len(CONTENT)) -> Path:
    path = _catalog(tmp_path, sha, size)
    path.write_text(path.read_text() + f'revision = "{REV}"\n')
    return path


def test_pull_downloads_from_the_pinned_revision(tmp_path):
    with FileServer({HUB_PATH: CONTENT}) as server:
        proc = run_cli("models", "pull", "petit", env=_hub_env(tmp_path, server, _pinned_catalog(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert [path for path, _ in server.requests] == [HUB_PATH]  # the revision, never `main`
    assert (tmp_path / "models" / FILE).read_bytes() == CONTENT
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [FILE]


def test_mirror_prefers_the_pinned_revision(tmp_path):
    catalog = _pinned_catalog(tmp_path)
    env = _env(tmp_path, catalog, CONTENT[:-1] + b"!")  # REPO/FILE: another revision of the file
    (tmp_path / "mirror" / REPO / "resolve" / REV).mkdir(parents=True)
    (tmp_path / "mirror" / REPO / "resolve" / REV / FILE).write_bytes(CONTENT)
    proc = run_cli("models", "pull", "petit", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "models" / FILE).read_bytes() == CONTENT


def test_a_cut_download_resumes_with_a_range_request(tmp_path):
    with FileServer({HUB_PATH: CONTENT}) as server:
        server.faults = [("cut", 5000), ("cut", 3000)]  # two dropped connections, then a whole answer
        proc = run_cli("models", "pull", "petit", env=_hub_env(tmp_path, server, _pinned_catalog(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert [h.get("range") for _, h in server.requests] == [None, "bytes=5000-", "bytes=8000-"]
    assert (tmp_path / "models" / FILE).read_bytes() == CONTENT
    assert not (tmp_path / "models" / f"{FILE}.part").exists()


def test_a_killed_pull_leaves_only_a_part_that_the_next_pull_resumes(tmp_path):
    catalog = _pinned_catalog(tmp_path)
    part = tmp_path / "models" / f"{FILE}.part"
    with FileServer({HUB_PATH: CONTENT}) as server:
        server.faults = [("stall", 6000)]
        env = {**os.environ, **_hub_env(tmp_path, server, catalog)}
        proc = subprocess.Popen([sys.executable, "-m", "summarize", "models", "pull", "petit"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size == 6000) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()  # SIGKILL mid-body: no cleanup code runs
        proc.wait(30)
        assert part.stat().st_size == 6000 and not (tmp_path / "models" / FILE).exists()
        listed = {r["name"]: r for r in models_rows(env)}
        assert listed["petit"]["partial"] == 6000
        again = run_cli("models", "pull", "petit", env=_hub_env(tmp_path, server, catalog))
    assert again.returncode == 0, again.stderr
    assert server.requests[-1][1].get("range") == "bytes=6000-"
    assert (tmp_path / "models" / FILE).read_bytes() == CONTENT and not part.exists()


def models_rows(env: dict[str, str]) -> list[dict]:
    import json

    proc = subprocess.run([sys.executable, "-m", "summarize", "models", "--format", "json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_part_of_another_file_is_refused_and_removed(tmp_path):
    """A leftover part that is not a prefix of the pinned file: the digest check catches it."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / f"{FILE}.part").write_bytes(b"XXXX" + CONTENT[4:5000])
    with FileServer({HUB_PATH: CONTENT}) as server:
        proc = run_cli("models", "pull", "petit", env=_hub_env(tmp_path, server, _pinned_catalog(tmp_path)))
    _one_line(proc, 1, FILE, "does not match", "sha256", "removed")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_wrong_size_is_refused_before_the_body_is_read(tmp_path):
    with FileServer({HUB_PATH: CONTENT + b"more"}) as server:
        proc = run_cli("models", "pull", "petit", env=_hub_env(tmp_path, server, _pinned_catalog(tmp_path)))
    _one_line(proc, 1, FILE, "does not match", f"size {len(CONTENT) + 4}", "refused before downloading")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_digest_only_pin_installs_the_matching_file(tmp_path):
    with FileServer({HUB_PATH: CONTENT}) as server:
        env = _hub_env(tmp_path, server, _pinned_catalog(tmp_path, size=None))
        assert run_cli("models", "pull", "petit", env=env).returncode == 0
    assert (tmp_path / "models" / FILE).read_bytes() == CONTENT


def test_gated_repository_refusal_is_one_line(tmp_path):
    with FileServer({}) as server:
        server.faults = [("status", 401)]
        proc = run_cli("models", "pull", "petit", env=_hub_env(tmp_path, server, _pinned_catalog(tmp_path)))
    _one_line(proc, 1, "refused", "gated", "HF_TOKEN")
    assert list((tmp_path / "models").iterdir()) == []  # no empty part left behind


def test_the_token_goes_to_the_hub_only_not_to_the_host_it_redirects_to(tmp_path):
    with FileServer({"/cdn/blob": CONTENT}) as server:
        server.faults = [("redirect", f"http://localhost:{server.port}/cdn/blob")]
        env = {**_hub_env(tmp_path, server, _pinned_catalog(tmp_path)), "HF_TOKEN": "hf_secret"}
        proc = run_cli("models", "pull", "petit", env=env)
    assert proc.returncode == 0, proc.stderr
    (first, h1), (second, h2) = server.requests
    assert first == HUB_PATH and h1.get("authorization") == "Bearer hf_secret"
    assert second == "/cdn/blob" and "authorization" not in h2


def test_progress_bar_shows_bytes_speed_and_eta(tmp_path, monkeypatch):
    catalog = _pinned_catalog(tmp_path)
    for key, value in _env(tmp_path, catalog, CONTENT).items():
        monkeypatch.setenv(key, value)
    screen = io.StringIO()
    view = RichPull(Console(file=screen, force_terminal=True, width=120))
    path = models.pull("petit", progress=view)
    assert path.read_bytes() == CONTENT
    shown = screen.getvalue()
    assert FILE in shown and "16.4/16.4 kB" in shown and "sha256" in shown  # download, then verification


def test_an_unpinned_entry_names_the_page_that_shows_its_pin(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_CATALOG", str(_catalog(tmp_path, None, None)))
    with pytest.raises(UsageError) as err:
        models.pull("petit")
    assert f"summarize models pull petit --sha256 HEX --size BYTES" in str(err.value)
    assert f"https://huggingface.co/{REPO}/blob/main/{FILE}" in str(err.value)


def test_wrong_digest_from_the_mirror_raises_model_error(tmp_path, monkeypatch):
    for key, value in _env(tmp_path, _pinned_catalog(tmp_path, sha="1" * 64), CONTENT).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ModelError, match="it was removed"):
        models.pull("petit")
    assert list((tmp_path / "models").iterdir()) == []
