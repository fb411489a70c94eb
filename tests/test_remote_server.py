"""Issue 13, acceptance 1: summarize against a real OpenAI-compatible server on 127.0.0.1
(llama-cpp-python's server running the embedded Gemma 3 270M, tests/llamaserver.py).

A counting proxy (tests/fakeserver.py) sits between summarize and the server where the test
must see the traffic: requests sent, and how many are in flight at once."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from summarize import Summarizer
from summarize.quality import guards
from summarize.backends import GenSettings, RemoteOptions
from summarize.backends.http import HttpBackend
from summarize.backends.transport import ServerError

from .conftest import SEEDS, SHORT_SEED
from .fakeserver import Proxy
from .llamaserver import KEY, start

pytestmark = pytest.mark.slow
SHORT = SHORT_SEED.read_text(encoding="utf-8")[:1200]


@pytest.fixture
def proxy(llama_cpp_server):
    with Proxy(llama_cpp_server.port) as p:
        yield p


def _key_absent(*folders: Path, texts: tuple[str, ...] = ()) -> None:
    """The bearer key appears in no file under ``folders`` (cache DB and WAL, outputs) nor in ``texts``."""
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path
    for text in texts:
        assert KEY not in text


def test_cli_summary_over_the_server_then_a_rerun_sends_nothing(cli, cache_dir, proxy, tmp_path):
    doc = tmp_path / "article.txt"
    doc.write_text(SHORT, encoding="utf-8")
    env = {"SUMMARIZE_API_KEY": KEY}
    first = cli(str(doc), "--model", proxy.url, "--length", "short", "--format", "json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert guards.is_french(result["summary"]) and not result["cache_hit"]
    assert result["model"] == proxy.url and result["tokens_in"] > 100
    assert proxy.paths().count("/v1/completions") >= 1
    assert all(h.get("authorization") == f"Bearer {KEY}" for _, _, _, h in proxy.requests)  # the key is sent
    sent = len(proxy.requests)
    second = cli(str(doc), "--model", proxy.url, "--length", "short", "--format", "json", env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["cache_hit"] and json.loads(second.stdout)["summary"] == result["summary"]
    assert len(proxy.requests) == sent  # zero requests: the identity was remembered
    _key_absent(cache_dir, texts=(first.stdout, first.stderr, second.stdout, second.stderr))


def test_token_counts_match_the_servers(llama_cpp_server, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_API_KEY", KEY)
    s = Summarizer(llama_cpp_server.url, length="short", use_cache=False)
    backend = s.backend
    assert isinstance(backend, HttpBackend) and backend.kind == "llama-cpp-python"
    assert backend.local is not None  # a server on this machine: its GGUF gives the identity
    prompt = s.prompts.render("single", SHORT, chat=s.chat, length="short")
    settings = GenSettings(max_tokens=48)
    gen = backend.generate(prompt, settings)
    direct = httpx.post(llama_cpp_server.url + "/v1/completions", timeout=120, headers={
        "Authorization": f"Bearer {KEY}"}, json={"prompt": prompt.text, "max_tokens": 48, "temperature": 0.0,
                                                  "top_k": 40, "top_p": 0.95, "repeat_penalty": 1.1, "seed": 42,
                                                  "stop": list(prompt.stop)}).json()
    assert gen.tokens_in == direct["usage"]["prompt_tokens"] == backend.count_prompt(prompt)
    assert gen.text == direct["choices"][0]["text"]
    assert gen.tokens_out == direct["usage"]["completion_tokens"]
    assert s.model_sha256 == s.cache.file_sha256(backend.local.path)  # same weights, same identity
    s.close()


def test_batch_with_two_jobs_never_has_more_than_two_requests_in_flight(cli, cache_dir, proxy, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(sorted(SEEDS.glob("*.txt"))[:4]):
        (corpus / f"doc{i}.txt").write_text(seed.read_text(encoding="utf-8")[:700], encoding="utf-8")
    out = tmp_path / "out"
    proc = cli("batch", str(corpus), "--out", str(out), "--model", proxy.url, "--length", "short", "--jobs", "2",
               "--no-synthese", "--format", "json", env={"SUMMARIZE_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["ok"] == 4
    assert proxy.max_in_flight == 2  # two at once, never more
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["model"] for r in rows} == {proxy.url} and all(r["tokens_in"] > 0 for r in rows)
    _key_absent(cache_dir, out, texts=(proc.stdout, proc.stderr))


def test_server_killed_mid_stream_is_one_line_and_caches_nothing(gemma_path, cache_dir, tmp_path, monkeypatch, cli):
    server = start(gemma_path, tmp_path / "doomed.log")
    try:
        monkeypatch.setenv("SUMMARIZE_API_KEY", KEY)
        s = Summarizer(server.url, cache_dir=str(cache_dir), length="short")
        pieces: list[str] = []

        def kill_on_first_piece(text: str) -> None:
            pieces.append(text)
            server.kill()

        with pytest.raises(ServerError) as err:
            s.summarize_text(SHORT, on_text=kill_on_first_piece)
        assert pieces and "\n" not in str(err.value) and "nothing was cached" in str(err.value)
        assert s.cache.stats()["total_entries"] == 0
        s.close()
        doc = tmp_path / "article.txt"
        doc.write_text(SHORT, encoding="utf-8")
        proc = cli(str(doc), "--model", server.url, "--length", "short", env={"SUMMARIZE_API_KEY": KEY})
        assert proc.returncode == 1 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "cannot reach the server" in proc.stderr and KEY not in proc.stderr
    finally:
        server.kill()


def test_wrong_key_is_a_one_line_auth_error(cli, llama_cpp_server, tmp_path):
    doc = tmp_path / "article.txt"
    doc.write_text(SHORT, encoding="utf-8")
    proc = cli(str(doc), "--model", llama_cpp_server.url, env={"SUMMARIZE_API_KEY": "wrong-key"})
    assert proc.returncode == 1 and "HTTP 401" in proc.stderr and "SUMMARIZE_API_KEY" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "wrong-key" not in proc.stderr


def test_remote_options_reach_the_backend(llama_cpp_server, monkeypatch):
    monkeypatch.setenv("SERVER_KEY", KEY)
    monkeypatch.delenv("SUMMARIZE_API_KEY", raising=False)
    backend = HttpBackend(llama_cpp_server.url, ctx=4096, options=RemoteOptions(kind="openai", api_key_env="SERVER_KEY",
                                                                                  jobs=3))
    assert (backend.kind, backend.concurrency, backend.n_ctx) == ("openai", 3, 4096)
    backend.close()
