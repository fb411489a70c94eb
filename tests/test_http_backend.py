"""HTTP backend protocol tests against scripted fake servers on 127.0.0.1 (no model runs):
llama-server, ollama and vLLM dialects, SSE / NDJSON edge cases, retries, timeouts, auth."""
from __future__ import annotations

import time

import pytest

from summarize import Summarizer
from summarize.backends import GenSettings, RemoteOptions
from summarize.backends.http import HttpBackend
from summarize.backends.remote import parse
from summarize.backends.transport import ServerError, Transport, sse_events
from summarize.errors import SummarizeError, UsageError
from summarize.prompts import Prompt

from .fakeserver import DIE, FakeServer, free_port, ndjson, sse

FRENCH = "Le conseil municipal a voté un plan pour le vélo dans la ville, avec de nouvelles pistes cyclables."
FAST = {"backoff": 0.01}


def words(text: str) -> int:
    return len(text.split())


# -- llama-server -------------------------------------------------------------------------
def llama_server(pieces=(FRENCH,), truncated=False, slots=2) -> FakeServer:
    def tokenize(path, body, headers):
        return 200, {"tokens": list(range(words(body["content"]) + (1 if body.get("add_special") else 0)))}

    def completion(path, body, headers):
        events = [{"content": p, "stop": False} for p in pieces]
        events.append({"content": "", "stop": True, "stop_type": "eos", "tokens_evaluated": len(body["prompt"]),
                       "tokens_predicted": 7, "truncated": truncated})
        return 200, sse(*events, done=False)

    return FakeServer({
        ("GET", "/props"): lambda *a: (200, {"default_generation_settings": {"n_ctx": 3000}, "total_slots": slots,
                                             "chat_template": "{{ messages }}", "model_path": "/nowhere/m.gguf"}),
        ("GET", "/v1/models"): lambda *a: (200, {"data": [{"id": "m.gguf", "owned_by": "llamacpp",
                                                           "meta": {"size": 1234}}]}),
        ("POST", "/tokenize"): tokenize,
        ("POST", "/apply-template"): lambda p, b, h: (200, {"prompt": "<u> " + " ".join(m["content"] for m in
                                                                                       b["messages"]) + " <a>"}),
        ("POST", "/completion"): completion,
    })


def test_llama_server_is_probed_counts_exactly_and_streams():
    with llama_server(pieces=("Le conseil ", "municipal a voté.")) as srv:
        backend = HttpBackend(srv.url)
        assert (backend.kind, backend.n_ctx, backend.concurrency) == ("llama-server", 3000, 2)
        assert backend.count_text("un deux trois") == 3
        chat = Prompt(messages=(("system", "sois bref"), ("user", "un texte de cinq mots")))
        assert backend.count_prompt(chat) == words("<u> sois bref un texte de cinq mots <a>") + 1
        streamed: list[str] = []
        gen = backend.generate(Prompt(text="Article : un deux trois", stop=("\n\n",)), GenSettings(max_tokens=50),
                               streamed.append)
        assert streamed == ["Le conseil ", "municipal a voté."] and gen.text == "".join(streamed)
        assert (gen.tokens_in, gen.tokens_out, gen.finish) == (6, 7, "stop")
        body = srv.bodies("/completion")[0]
        assert body["prompt"] == list(range(6))  # the counted ids are what is sent
        assert body["n_predict"] == 50 and body["temperature"] == 0.0 and body["stop"] == ["\n\n"]
        kind, weak = backend.identity_source()
        assert kind == "weak" and weak.startswith("weak:") and srv.url not in weak
        backend.close()


def test_llama_server_truncation_flag_is_an_error():
    with llama_server(truncated=True) as srv:
        backend = HttpBackend(srv.url)
        with pytest.raises(ServerError, match="truncated the prompt"):
            backend.generate(Prompt(text="un deux"), GenSettings(max_tokens=20))


# -- ollama ---------------------------------------------------------------------------------
def ollama(evaluated=None, num_ctx_seen=None, die=False) -> FakeServer:
    def generate(path, body, headers):
        num_ctx_seen.append(body["options"]["num_ctx"]) if num_ctx_seen is not None else None
        n = evaluated if evaluated is not None else words(body.get("prompt") or "x") + 1
        events = [{"response": "Le conseil municipal ", "done": False}, {"response": "a voté.", "done": False}]
        if die:
            return 200, ndjson(*events) + [DIE]
        return 200, ndjson(*events, {"response": "", "done": True, "done_reason": "stop", "prompt_eval_count": n,
                                     "eval_count": 9})

    return FakeServer({
        ("GET", "/props"): lambda *a: (404, "404 page not found"),
        ("GET", "/api/version"): lambda *a: (200, {"version": "0.12.0"}),
        ("GET", "/api/tags"): lambda *a: (200, {"models": [{"name": "qwen2.5:3b", "digest": "abc123", "size": 99},
                                                           {"name": "llama3.2:latest", "digest": "def456"}]}),
        ("POST", "/api/show"): lambda *a: (200, {"template": "{{ .Prompt }}",
                                                 "model_info": {"qwen2.context_length": 32768}}),
        ("POST", "/api/generate"): generate,
    })


def test_ollama_gets_one_num_ctx_per_job_and_a_digest_identity():
    seen: list[int] = []
    with ollama(num_ctx_seen=seen) as srv:
        backend = HttpBackend(srv.url + "#qwen2.5:3b", ctx=6000)
        assert (backend.kind, backend.n_ctx, backend.concurrency, backend.has_chat_template) == \
            ("ollama", 6000, 1, False)
        for text in ("court", "un texte nettement plus long que le premier " * 20):
            gen = backend.generate(Prompt(text=text), GenSettings(max_tokens=40))
            assert gen.text == "Le conseil municipal a voté." and gen.tokens_out == 9
        assert seen == [6000, 6000]
        assert srv.bodies("/api/generate")[0]["raw"] is True
        assert backend.identity_source() == ("digest", "ollama:abc123")
        assert backend.count_text("bonjour à tous") >= 3  # estimated, with a margin


def test_ollama_with_several_models_needs_a_name():
    with ollama() as srv:
        with pytest.raises(UsageError, match="holds 2 models.*#NAME"):
            HttpBackend(srv.url)
        assert HttpBackend(srv.url + "#llama3.2").info.model == "llama3.2:latest"


def test_ollama_truncation_is_detected_and_nothing_is_cached(cache_dir):
    with ollama(evaluated=4090) as srv:  # the server says it filled num_ctx: it cut the prompt
        s = Summarizer(srv.url + "#qwen2.5:3b", cache_dir=str(cache_dir), length="short")
        with pytest.raises(ServerError, match="truncated the prompt"):
            s.summarize_text(FRENCH * 3)
        assert s.cache.stats()["total_entries"] == 0
        s.close()


def test_ollama_vanishing_mid_stream_is_one_clean_error():
    with ollama(die=True) as srv:
        backend = HttpBackend(srv.url + "#qwen2.5:3b", transport=FAST)
        with pytest.raises(ServerError) as err:
            backend.generate(Prompt(text="un texte"), GenSettings(max_tokens=20))
        assert "broke off" in str(err.value) and "\n" not in str(err.value)


# -- vLLM -----------------------------------------------------------------------------------
def vllm(usage=True) -> FakeServer:
    def tokenize(path, body, headers):
        n = sum(words(m["content"]) + 3 for m in body["messages"]) if "messages" in body else \
            words(body["prompt"]) + (1 if body.get("add_special_tokens") else 0)
        return 200, {"count": n, "max_model_len": 8192, "tokens": list(range(n))}

    def completions(path, body, headers):
        key = "delta" if "messages" in body else None
        chunk = (lambda t, f=None: {"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": f}]}) if key \
            else (lambda t, f=None: {"choices": [{"index": 0, "text": t, "finish_reason": f}]})
        tail = [{"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4}}] if usage else []
        return 200, sse(chunk("Le conseil "), chunk("a voté.", "length"), *tail)

    return FakeServer({
        ("GET", "/props"): lambda *a: (404, {"detail": "Not Found"}),
        ("GET", "/api/version"): lambda *a: (404, {"detail": "Not Found"}),
        ("GET", "/v1/models"): lambda *a: (200, {"data": [{"id": "mistral-7b", "owned_by": "vllm",
                                                           "max_model_len": 8192}]}),
        ("POST", "/tokenize"): tokenize,
        ("POST", "/v1/completions"): completions,
        ("POST", "/v1/chat/completions"): completions,
    })


def test_vllm_counts_with_its_tokenizer_and_reads_usage():
    with vllm() as srv:
        backend = HttpBackend(srv.url + "/v1")  # the OpenAI-style base URL works too
        assert (backend.kind, backend.n_ctx, backend.has_chat_template) == ("vllm", 8192, True)
        chat = Prompt(messages=(("user", "résume ce texte"),))
        assert backend.count_prompt(chat) == 6
        gen = backend.generate(chat, GenSettings(max_tokens=30))
        assert (gen.text, gen.tokens_in, gen.tokens_out, gen.finish) == ("Le conseil a voté.", 11, 4, "length")
        body = srv.bodies("/v1/chat/completions")[0]
        assert body["model"] == "mistral-7b" and body["max_tokens"] == 30 and body["stream"] is True
        assert backend.identity_source()[0] == "weak"


def test_vllm_prompt_shorter_than_counted_is_truncation():
    with vllm() as srv:
        backend = HttpBackend(srv.url)
        long_prompt = Prompt(text="mot " * 40)  # counted 41, the server says it evaluated 11
        with pytest.raises(ServerError, match="truncated"):
            backend.generate(long_prompt, GenSettings(max_tokens=30))


# -- SSE / NDJSON edge cases ------------------------------------------------------------------
def test_sse_parser_edge_cases():
    lines = [": keep-alive comment", "data:{\"a\": 1}", "", "data: {\"b\":", "data: 2}", "", "event: ping",
             "data: {\"c\": 3}\r", "\r", "data: [DONE]", "data: {\"after\": 1}", ""]
    assert list(sse_events(iter(lines))) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert list(sse_events(iter(["data: {\"last\": true}"]))) == [{"last": True}]  # no final blank line
    with pytest.raises(ServerError, match="mid-answer.*boom"):
        list(sse_events(iter(["data: {\"x\": 1}", "", "error: {\"message\": \"boom\"}"])))
    with pytest.raises(ServerError, match="mid-answer.*slot"):
        list(sse_events(iter(["event: error", "data: {\"message\": \"slot unavailable\"}", ""])))
    with pytest.raises(ServerError, match="malformed"):
        list(sse_events(iter(["data: {not json", ""])))


def test_stream_without_a_finish_is_an_error():
    with vllm() as srv:
        srv.routes[("POST", "/v1/completions")] = lambda *a: (200, sse({"choices": [{"text": "Le con"}]}))
        backend = HttpBackend(srv.url)
        with pytest.raises(ServerError, match="without finishing"):
            backend.generate(Prompt(text="un texte"), GenSettings(max_tokens=30))


def test_ndjson_error_line_mid_stream():
    with ollama() as srv:
        srv.routes[("POST", "/api/generate")] = lambda *a: (200, ndjson({"response": "Le", "done": False}, {},
                                                                        {"error": "model crashed"}))
        backend = HttpBackend(srv.url + "#qwen2.5:3b")
        with pytest.raises(ServerError, match="model crashed"):
            backend.generate(Prompt(text="un texte"), GenSettings(max_tokens=30))


# -- retries, timeouts, auth ---------------------------------------------------------------------
def test_5xx_and_429_are_retried_with_backoff_then_succeed():
    answers = iter([(503, {"error": "loading"}), (429, {"error": "busy"})])
    with vllm() as srv:
        ok = srv.routes[("POST", "/v1/completions")]
        srv.routes[("POST", "/v1/completions")] = lambda *a: next(answers, None) or ok(*a)
        backend = HttpBackend(srv.url, transport=FAST)
        gen = backend.generate(Prompt(text="un"), GenSettings(max_tokens=30))
        assert gen.text == "Le conseil a voté." and srv.paths().count("/v1/completions") == 3


def test_400_is_never_retried_and_says_why():
    with vllm() as srv:
        srv.routes[("POST", "/v1/completions")] = lambda *a: (400, {"error": {"message": "bad top_k"}})
        backend = HttpBackend(srv.url, transport=FAST)
        with pytest.raises(ServerError, match="HTTP 400 .bad top_k"):
            backend.generate(Prompt(text="un"), GenSettings(max_tokens=30))
        assert srv.paths().count("/v1/completions") == 1


def test_persistent_5xx_gives_up_after_bounded_retries():
    with vllm() as srv:
        srv.routes[("POST", "/v1/completions")] = lambda *a: (502, {"error": "bad gateway"})
        backend = HttpBackend(srv.url, transport=FAST)
        with pytest.raises(ServerError, match="HTTP 502"):
            backend.generate(Prompt(text="un"), GenSettings(max_tokens=30))
        assert srv.paths().count("/v1/completions") == 4  # the first try and 3 retries


def test_connection_refused_is_retried_then_one_line():
    transport = Transport(parse(f"http://127.0.0.1:{free_port()}"), None, backoff=0.01)
    started = time.perf_counter()
    with pytest.raises(ServerError, match="cannot reach the server") as err:
        transport.get_json("/v1/models")
    assert transport.requests == 4 and time.perf_counter() - started < 5 and "\n" not in str(err.value)


def test_read_timeout_is_reported():
    with vllm() as srv:
        srv.delay = 1.0
        transport = Transport(parse(srv.url), None, read_timeout=0.2)
        with pytest.raises(ServerError, match="did not answer within"):
            transport.get_json("/v1/models")


def test_bearer_key_is_sent_and_scrubbed_from_errors(monkeypatch):
    secret = "sk-test-5ecr3t-0123456789"
    monkeypatch.setenv("MY_KEY", secret)
    with vllm() as srv:
        backend = HttpBackend(srv.url, options=RemoteOptions(api_key_env="MY_KEY"))
        assert all(h.get("authorization") == f"Bearer {secret}" for _, _, _, h in srv.requests)
        srv.routes[("POST", "/v1/completions")] = lambda *a: (401, {"error": f"invalid key {secret}"})
        with pytest.raises(ServerError) as err:
            backend.generate(Prompt(text="un"), GenSettings(max_tokens=30))
        assert secret not in str(err.value) and "***" in str(err.value) and "API_KEY" in str(err.value)


def test_cloud_keys_are_never_forwarded(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cloud")
    with pytest.raises(UsageError, match="refusing to send"):
        RemoteOptions(api_key_env="OPENAI_API_KEY").api_key()
    monkeypatch.delenv("SUMMARIZE_API_KEY", raising=False)
    assert RemoteOptions().api_key() is None  # OPENAI_API_KEY is not a fallback


@pytest.mark.parametrize("url, message", [("http://user:pw@127.0.0.1:8080", "credentials"),
                                          ("http://127.0.0.1:8080/?key=1", "query"), ("http://:8080", "no host")])
def test_bad_server_urls_are_one_line_usage_errors(url, message):
    with pytest.raises(SummarizeError, match=message) as err:
        parse(url)
    assert "pw" not in str(err.value)


# -- the cache never needs the server twice ------------------------------------------------------
def test_second_run_sends_no_request_and_identity_is_remembered(cache_dir):
    with llama_server() as srv:
        first = Summarizer(srv.url, cache_dir=str(cache_dir), length="short")
        result = first.summarize_text(FRENCH * 2)
        first.close()
        assert not result.cache_hit and result.model_sha256.startswith("weak:")
        sent = len(srv.requests)
        again = Summarizer(srv.url, cache_dir=str(cache_dir), length="short")
        assert again.summarize_text(FRENCH * 2).cache_hit
        again.close()
        assert len(srv.requests) == sent


def test_prefetch_keeps_at_most_jobs_requests_in_flight():
    with llama_server(slots=4) as srv:
        srv.delay = 0.2
        backend = HttpBackend(srv.url, options=RemoteOptions(jobs=2))
        prompts = [Prompt(text=f"document {i}") for i in range(6)]
        backend.prefetch(prompts, GenSettings(max_tokens=20))
        assert srv.max_in_flight == 2
        sent = len(srv.requests)
        assert backend.generate(prompts[3], GenSettings(max_tokens=20)).text == FRENCH
        assert len(srv.requests) == sent  # served from the prefetch
