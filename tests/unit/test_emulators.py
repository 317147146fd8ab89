"""The loopback emulators speak the wire formats of shared/PROTOCOLS.md: proven here with httpx and raw sockets."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.emulators import DEFAULT_TEXT, LMStudioEmulator, OllamaEmulator, OpenAICompatEmulator, tokenize

CODER = "qwen2.5-coder:1.5b"
CHAT_ONLY = "llama3.2:1b"


@pytest.fixture
def ollama() -> Iterator[OllamaEmulator]:
    with OllamaEmulator() as emu:
        yield emu
        assert emu.server_errors == []


@pytest.fixture
def openai() -> Iterator[OpenAICompatEmulator]:
    with OpenAICompatEmulator() as emu:
        yield emu
        assert emu.server_errors == []


@pytest.fixture
def lmstudio() -> Iterator[LMStudioEmulator]:
    with LMStudioEmulator() as emu:
        yield emu
        assert emu.server_errors == []


def raw_request(port: int, data: bytes) -> tuple[str, dict[str, str], list[bytes]]:
    """Send raw bytes; return the status line, headers and the body as its HTTP chunks (or one piece)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        f = sock.makefile("rb")
        status = f.readline().decode().strip()
        headers: dict[str, str] = {}
        while (line := f.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while (size := int(f.readline().strip(), 16)) != 0:
                chunks.append(f.read(size))
                assert f.read(2) == b"\r\n"
            assert f.read(2) == b"\r\n"
            return status, headers, chunks
        return status, headers, [f.read(int(headers.get("content-length", "0")))]


def post_raw(port: int, path: str, body: dict) -> tuple[str, dict[str, str], list[bytes]]:
    payload = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return raw_request(port, head.encode() + b"Connection: close\r\n\r\n" + payload)


def sse_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


# -- tokenisation -------------------------------------------------------------------------------


def test_tokenize_round_trips() -> None:
    text = "def f(x):\n    return x+1  # ok"
    assert "".join(tokenize(text)) == text
    assert tokenize("a  b(") == ["a", "  ", "b", "("]


# -- Ollama: fingerprint and discovery ----------------------------------------------------------


def test_ollama_root_version_and_head(ollama: OllamaEmulator) -> None:
    r = httpx.get(ollama.url + "/")
    assert r.status_code == 200 and r.text == "Ollama is running"
    assert r.headers["content-type"].startswith("text/plain")
    assert httpx.get(ollama.url + "/api/version").json() == {"version": ollama.version}
    head = httpx.head(ollama.url + "/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "17"


def test_ollama_tags_show_ps(ollama: OllamaEmulator) -> None:
    tags = httpx.get(ollama.url + "/api/tags").json()["models"]
    first = next(m for m in tags if m["name"] == CODER)
    assert set(first) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert set(first["details"]) == {
        "parent_model",
        "format",
        "family",
        "families",
        "parameter_size",
        "quantization_level",
    }
    show = httpx.post(ollama.url + "/api/show", json={"model": CODER}).json()
    assert show["model_info"]["general.architecture"] == "qwen2"
    assert show["model_info"]["qwen2.context_length"] == 32768
    assert show["capabilities"] == ["completion", "insert"] and ".Suffix" in show["template"]
    assert {"modelfile", "parameters", "details", "modified_at"} <= set(show)
    missing = httpx.post(ollama.url + "/api/show", json={"model": "nope"})
    assert missing.status_code == 404 and missing.json() == {"error": "model 'nope' not found"}
    assert httpx.get(ollama.url + "/api/ps").json() == {"models": []}
    ollama.add_model("tiny", family="llama", context_length=2048, loaded=True)
    ps = httpx.get(ollama.url + "/api/ps").json()["models"]
    assert [m["name"] for m in ps] == ["tiny:latest"]
    assert {"size", "size_vram", "expires_at", "context_length", "details"} <= set(ps[0])
    assert (
        httpx.post(ollama.url + "/api/show", json={"model": "tiny"}).json()["model_info"]["llama.context_length"]
        == 2048
    )
    ollama.remove_model("tiny")
    assert httpx.post(ollama.url + "/api/show", json={"model": "tiny:latest"}).status_code == 404


def test_ollama_v1_models_null_when_empty() -> None:
    with OllamaEmulator(models=[]) as emu:
        r = httpx.get(emu.url + "/v1/models")
        assert r.status_code == 200 and r.json() == {"object": "list", "data": None}
        assert b'"data":null' in r.content
        emu.add_model("me/custom:7b")
        assert httpx.get(emu.url + "/v1/models").json()["data"][0]["owned_by"] == "me"


def test_ollama_unknown_path_and_wrong_method(ollama: OllamaEmulator) -> None:
    r = httpx.post(ollama.url + "/api/nothing", json={})
    assert r.status_code == 404 and r.text == "404 page not found"
    assert r.headers["content-type"].startswith("text/plain")
    assert httpx.get(ollama.url + "/api/generate").status_code == 405


def test_ollama_bad_json_and_missing_model(ollama: OllamaEmulator) -> None:
    r = httpx.post(ollama.url + "/api/generate", content=b"{not json")
    assert r.status_code == 400 and "error" in r.json()
    assert httpx.post(ollama.url + "/api/generate").json() == {"error": "missing request body"}
    assert httpx.post(ollama.url + "/api/generate", json={"prompt": "x"}).json() == {"error": "model is required"}
    assert ollama.generation_count == 0 and len(ollama.requests) == 3


# -- Ollama: generation -----------------------------------------------------------------------


def test_ollama_generate_ndjson_framing(ollama: OllamaEmulator) -> None:
    status, headers, chunks = post_raw(ollama.port, "/api/generate", {"model": CODER, "prompt": "def add(a, b):\n"})
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/x-ndjson" and headers["transfer-encoding"] == "chunked"
    assert all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in chunks)  # one NDJSON line per HTTP chunk
    lines = [json.loads(c) for c in chunks]
    *tokens, final = lines
    assert len(tokens) == len(tokenize(DEFAULT_TEXT))
    assert all(set(t) == {"model", "created_at", "response", "done"} and t["done"] is False for t in tokens)
    assert "".join(t["response"] for t in tokens) == DEFAULT_TEXT
    assert final["done"] is True and final["done_reason"] == "stop" and final["response"] == ""
    for key in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count"):
        assert isinstance(final[key], int) and final[key] > 0, key
    assert final["eval_count"] == len(tokens)
    gen = ollama.generations[0]
    assert gen.completed and gen.tokens_sent == gen.tokens_total == len(tokens) and not gen.disconnected


def test_ollama_generate_non_stream_and_load(ollama: OllamaEmulator) -> None:
    r = httpx.post(ollama.url + "/api/generate", json={"model": CODER, "prompt": "x", "stream": False})
    body = r.json()
    assert r.headers["content-type"].startswith("application/json")
    assert body["response"] == DEFAULT_TEXT and body["done"] is True and body["done_reason"] == "stop"
    load = httpx.post(ollama.url + "/api/generate", json={"model": CODER}).json()
    assert load["done"] is True and load["done_reason"] == "load" and load["response"] == ""
    assert ollama.generation_count == 1


def test_ollama_num_predict_stop_and_callable_text(ollama: OllamaEmulator) -> None:
    ollama.response_text = lambda path, body: f"{body['prompt']} one two three\nfour"
    opts = {"model": CODER, "prompt": "P", "stream": False}
    r = httpx.post(ollama.url + "/api/generate", json={**opts, "options": {"num_predict": 3}}).json()
    assert r["response"] == "P one" and r["done_reason"] == "length" and r["eval_count"] == 3
    r = httpx.post(ollama.url + "/api/generate", json={**opts, "options": {"stop": ["\n", "two"]}}).json()
    assert r["response"] == "P one " and r["done_reason"] == "stop"
    assert [g.done_reason for g in ollama.generations] == ["length", "stop"]


def test_ollama_suffix_needs_insert_capability(ollama: OllamaEmulator) -> None:
    ok = httpx.post(ollama.url + "/api/generate", json={"model": CODER, "prompt": "a", "suffix": "b", "stream": False})
    assert ok.status_code == 200
    bad = httpx.post(ollama.url + "/api/generate", json={"model": CHAT_ONLY, "prompt": "a", "suffix": "b"})
    assert bad.status_code == 400 and bad.json() == {"error": f"{CHAT_ONLY} does not support insert"}
    v1 = httpx.post(ollama.url + "/v1/completions", json={"model": CHAT_ONLY, "prompt": "a", "suffix": "b"})
    assert v1.status_code == 400 and v1.json()["error"]["type"] == "invalid_request_error"


def test_ollama_unknown_model_404(ollama: OllamaEmulator) -> None:
    for path, extra in (("/api/generate", {"prompt": "x"}), ("/api/chat", {"messages": [{"role": "user"}]})):
        r = httpx.post(ollama.url + path, json={"model": "ghost", **extra})
        assert r.status_code == 404 and r.json() == {"error": "model 'ghost' not found"}
    v1 = httpx.post(ollama.url + "/v1/chat/completions", json={"model": "ghost", "messages": []})
    assert v1.status_code == 404
    assert v1.json() == {
        "error": {"message": "model 'ghost' not found", "type": "not_found_error", "param": None, "code": None}
    }
    assert ollama.generation_count == 0


def test_ollama_chat_stream(ollama: OllamaEmulator) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    with httpx.stream("POST", ollama.url + "/api/chat", json={"model": CHAT_ONLY, "messages": msgs}) as r:
        lines = [json.loads(line) for line in r.iter_lines()]
    assert all(line["message"]["role"] == "assistant" for line in lines)
    assert "".join(line["message"]["content"] for line in lines) == DEFAULT_TEXT
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"
    whole = httpx.post(ollama.url + "/api/chat", json={"model": CHAT_ONLY, "messages": msgs, "stream": False}).json()
    assert whole["message"] == {"role": "assistant", "content": DEFAULT_TEXT}


def test_ollama_embeddings(ollama: OllamaEmulator) -> None:
    r = httpx.post(ollama.url + "/api/embed", json={"model": "nomic-embed-text", "input": ["a", "b"]}).json()
    assert len(r["embeddings"]) == 2 and r["embeddings"][0] != r["embeddings"][1]
    assert all(math.isclose(math.sqrt(sum(v * v for v in e)), 1.0) for e in r["embeddings"])
    single = httpx.post(ollama.url + "/api/embed", json={"model": "nomic-embed-text", "input": "a"}).json()
    assert single["embeddings"] == r["embeddings"][:1]  # deterministic
    legacy = httpx.post(ollama.url + "/api/embeddings", json={"model": "nomic-embed-text", "prompt": "a"}).json()
    assert legacy == {"embedding": r["embeddings"][0]}


def test_ollama_openai_compatible_stream(ollama: OllamaEmulator) -> None:
    body = {"model": CODER, "prompt": "def f(", "suffix": ")", "stream": True}
    r = httpx.post(ollama.url + "/v1/completions", json=body)
    events = sse_events(r.text)
    assert r.headers["content-type"] == "text/event-stream" and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == DEFAULT_TEXT
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[0]["object"] == "text_completion"


def test_ollama_api_key(ollama: OllamaEmulator) -> None:
    ollama.api_key = "sekret"
    r = httpx.get(ollama.url + "/api/tags")
    assert r.status_code == 401 and r.json() == {"error": "unauthorized"}
    ok = httpx.get(ollama.url + "/api/tags", headers={"Authorization": "Bearer sekret"})
    assert ok.status_code == 200
    assert ollama.requests[-1].headers["authorization"] == "Bearer sekret"
    method, path, headers, body = ollama.requests[-1]  # records unpack as 4-tuples
    assert (method, path, headers["authorization"], body) == ("GET", "/api/tags", "Bearer sekret", None)


# -- Ollama: failure injection ----------------------------------------------------------------


def test_ollama_midstream_error_under_200(ollama: OllamaEmulator) -> None:
    ollama.midstream_error = ("out of memory", 2)
    with httpx.stream("POST", ollama.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as r:
        assert r.status_code == 200
        lines = [json.loads(line) for line in r.iter_lines()]
    assert [line.get("response") for line in lines[:2]] == ["    ", "return"]
    assert lines[2:] == [{"error": "out of memory"}]
    gen = ollama.generations[0]
    assert gen.error == "out of memory" and not gen.completed and gen.tokens_sent == 2


def test_ollama_malformed_stream(ollama: OllamaEmulator) -> None:
    ollama.malformed_stream = True
    with httpx.stream("POST", ollama.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as r:
        lines = list(r.iter_lines())
    json.loads(lines[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[1])


def test_fail_next_counts_down(ollama: OllamaEmulator) -> None:
    ollama.fail_next(500, {"error": "boom"}, count=2)
    req = {"model": CODER, "prompt": "x", "stream": False}
    results = [httpx.post(ollama.url + "/api/generate", json=req) for _ in range(3)]
    assert [r.status_code for r in results] == [500, 500, 200]
    assert results[0].json() == {"error": "boom"}
    assert httpx.get(ollama.url + "/api/tags").status_code == 200  # not a generation: unaffected
    ollama.fail_next(503, "plain text", content_type="text/plain")
    r = httpx.post(ollama.url + "/api/generate", json=req)
    assert (r.status_code, r.text, r.headers["content-type"]) == (503, "plain text", "text/plain")
    assert ollama.generation_count == 1


def test_max_queue_answers_503(ollama: OllamaEmulator) -> None:
    ollama.slots, ollama.max_queue, ollama.token_delay = 1, 0, 0.05
    with httpx.stream("POST", ollama.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as first:
        first_lines = first.iter_lines()  # keep a reference: a collected generator closes the stream
        next(first_lines)
        busy = httpx.post(ollama.url + "/api/generate", json={"model": CODER, "prompt": "y"})
        first.close()
    assert busy.status_code == 503
    assert busy.json() == {"error": "server busy, please try again.  maximum pending requests exceeded"}


# -- slots, disconnects, lifecycle ----------------------------------------------------------


@pytest.mark.asyncio
async def test_one_slot_runs_requests_one_after_the_other(ollama: OllamaEmulator) -> None:
    ollama.slots, ollama.token_delay = 1, 0.01
    async with httpx.AsyncClient(base_url=ollama.url) as client:
        req = {"model": CODER, "prompt": "x", "stream": False}
        results = await asyncio.gather(*(client.post("/api/generate", json=req) for _ in range(2)))
    assert [r.status_code for r in results] == [200, 200]
    first, second = sorted(ollama.generations, key=lambda g: g.started_at or 0)
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at
    assert second.started_at - second.queued_at > 0.05  # it waited in the queue


def test_disconnect_is_detected_and_generation_stops(ollama: OllamaEmulator) -> None:
    ollama.token_delay = 0.05
    ollama.response_text = " ".join(["tok"] * 100)
    with httpx.Client() as client:
        with client.stream("POST", ollama.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as r:
            lines = r.iter_lines()
            next(lines), next(lines)
        closed_at = time.monotonic()
    assert ollama.wait_for(lambda: ollama.disconnect_count == 1, timeout=2)
    gen = ollama.generations[0]
    assert gen.disconnected and gen.disconnected_at is not None and not gen.completed
    assert gen.disconnected_at - closed_at < 0.5
    assert 2 <= gen.tokens_sent <= 4 and gen.tokens_after_disconnect == 0
    assert ollama.wait_for(lambda: gen.finished_at is not None, timeout=1)
    sent = gen.tokens_sent
    time.sleep(0.15)
    assert gen.tokens_sent == sent


def test_disconnect_seen_while_the_server_is_silent(ollama: OllamaEmulator) -> None:
    """Detection does not wait for the next write: the server is mid-pause when the client leaves."""
    ollama.token_delay = 30.0
    with httpx.stream("POST", ollama.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as r:
        lines = r.iter_lines()
        next(lines)
    assert ollama.wait_for(lambda: ollama.disconnect_count == 1, timeout=2)
    assert ollama.wait_for(lambda: ollama.generations[0].finished_at is not None, timeout=2)
    assert ollama.generations[0].tokens_sent == 1


def test_disconnect_while_queued(ollama: OllamaEmulator) -> None:
    ollama.slots, ollama.token_delay = 1, 0.05
    with httpx.stream("POST", ollama.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as first:
        first_lines = first.iter_lines()  # keep a reference: a collected generator closes the stream
        next(first_lines)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(ollama.url + "/api/generate", json={"model": CODER, "prompt": "y"}, timeout=0.2)
        assert ollama.wait_for(lambda: ollama.disconnect_count == 1, timeout=2)
        queued = ollama.generations[1]
        assert queued.disconnected and queued.started_at is None and queued.tokens_sent == 0
        first.close()


def test_keep_alive_reuses_one_connection(ollama: OllamaEmulator) -> None:
    with httpx.Client(base_url=ollama.url) as client:
        for _ in range(3):
            with client.stream("POST", "/api/generate", json={"model": CODER, "prompt": "x"}) as r:
                r.read()
            client.get("/api/tags")
    assert ollama.connection_count == 1


def test_chunked_request_body(ollama: OllamaEmulator) -> None:
    payload = json.dumps({"model": CODER, "prompt": "x", "stream": False}).encode()
    half = len(payload) // 2
    body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, payload[:half], len(payload) - half, payload[half:])
    head = b"POST /api/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    status, _, (content,) = raw_request(ollama.port, head + body)
    assert status == "HTTP/1.1 200 OK" and json.loads(content)["response"] == DEFAULT_TEXT
    assert ollama.requests[0].body["model"] == CODER


def test_stop_drops_connections_and_restart_keeps_port() -> None:
    emu = OllamaEmulator().start()
    try:
        port = emu.port
        emu.token_delay = 0.05
        emu.response_text = "x " * 200
        with httpx.Client() as client:
            with client.stream("POST", emu.url + "/api/generate", json={"model": CODER, "prompt": "x"}) as r:
                lines = r.iter_lines()
                next(lines)
                emu.stop()
                with pytest.raises(httpx.HTTPError):
                    for _ in lines:
                        pass
            with pytest.raises(httpx.ConnectError):
                client.get(emu.url + "/")
            assert emu.generations[0].aborted and not emu.generations[0].disconnected
            emu.start()
            assert emu.port == port
            assert client.get(emu.url + "/").text == "Ollama is running"
    finally:
        emu.stop()


def test_fixed_port_and_first_token_delay() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with OllamaEmulator(port=free) as emu:
        assert emu.url == f"http://127.0.0.1:{free}"
        emu.first_token_delay = 0.1
        t0 = time.monotonic()
        httpx.post(emu.url + "/api/generate", json={"model": CODER, "prompt": "x", "stream": False})
        assert time.monotonic() - t0 >= 0.1
        gen = emu.generations[0]
        assert gen.first_token_at is not None and gen.started_at is not None
        assert gen.first_token_at - gen.started_at >= 0.1


def test_reset_restores_defaults(ollama: OllamaEmulator) -> None:
    ollama.response_text, ollama.slots, ollama.midstream_error = "zzz", 1, ("x", 0)
    ollama.fail_next(500)
    httpx.get(ollama.url + "/api/tags")
    ollama.reset()
    assert (ollama.requests, ollama.generations, ollama.slots, ollama.midstream_error) == ([], [], None, None)
    r = httpx.post(ollama.url + "/api/generate", json={"model": CODER, "prompt": "x", "stream": False})
    assert r.json()["response"] == DEFAULT_TEXT
    assert CODER in ollama.models


def test_wait_for_from_another_thread(ollama: OllamaEmulator) -> None:
    threading.Timer(0.05, lambda: httpx.get(ollama.url + "/api/tags")).start()
    assert ollama.wait_for(lambda: len(ollama.requests) == 1, timeout=2)
    assert not ollama.wait_for(lambda: False, timeout=0.01)


# -- OpenAI-compatible ----------------------------------------------------------------------


def test_openai_models_and_errors(openai: OpenAICompatEmulator) -> None:
    data = httpx.get(openai.url + "/v1/models").json()
    assert data["object"] == "list" and {"id", "object", "owned_by"} <= set(data["data"][0])
    r = httpx.post(openai.url + "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user"}]})
    err = r.json()["error"]
    assert r.status_code == 404 and set(err) == {"message", "type", "param", "code"}
    assert err["code"] == "model_not_found"
    openai.api_key = "k"
    assert httpx.get(openai.url + "/v1/models").status_code == 401
    assert httpx.get(openai.url + "/v1/models", headers={"authorization": "Bearer k"}).status_code == 200


def test_openai_chat_sse_usage_and_done(openai: OpenAICompatEmulator) -> None:
    openai.sse_comments = True
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, headers, chunks = post_raw(openai.port, "/v1/chat/completions", body)
    assert status == "HTTP/1.1 200 OK" and headers["content-type"] == "text/event-stream"
    assert b": keep-alive\n\n" in chunks
    events = [c.decode()[len("data: ") :].rstrip("\n") for c in chunks if c.startswith(b"data: ")]
    assert events[-1] == "[DONE]"
    objs = [json.loads(e) for e in events[:-1]]
    assert objs[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [o for o in objs if o["choices"]]
    assert all(o["object"] == "chat.completion.chunk" for o in objs)
    assert "".join(o["choices"][0]["delta"].get("content", "") for o in content) == DEFAULT_TEXT
    assert [o["choices"][0]["finish_reason"] for o in content][-2:] == [None, "stop"]
    usage = objs[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(tokenize(DEFAULT_TEXT))


def test_openai_completions_max_tokens_stop_and_whole(openai: OpenAICompatEmulator) -> None:
    openai.response_text = "alpha beta gamma"
    r = httpx.post(openai.url + "/v1/completions", json={"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 2})
    body = r.json()
    assert body["object"] == "text_completion" and body["choices"][0]["text"] == "alpha "
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 2
    req = {"model": "gpt-4o-mini", "prompt": "x", "stop": "gamma", "stream": True}
    events = sse_events(httpx.post(openai.url + "/v1/completions", json=req).text)
    texts = [json.loads(e)["choices"][0] for e in events[:-1]]
    assert "".join(t["text"] for t in texts) == "alpha beta " and texts[-1]["finish_reason"] == "stop"
    chat = httpx.post(openai.url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"a": 1}]})
    assert chat.json()["choices"][0]["message"] == {"role": "assistant", "content": "alpha beta gamma"}


def test_openai_429_retry_after_and_midstream_error(openai: OpenAICompatEmulator) -> None:
    openai.fail_next(429)
    req = {"model": "gpt-4o-mini", "prompt": "x", "stream": True}
    r = httpx.post(openai.url + "/v1/completions", json=req)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    openai.midstream_error = ("overloaded", 1)
    events = sse_events(httpx.post(openai.url + "/v1/completions", json=req).text)
    assert len(events) == 2 and "[DONE]" not in events
    assert json.loads(events[1])["error"]["message"] == "overloaded"


def test_openai_custom_base_path_and_unknown_url() -> None:
    with OpenAICompatEmulator(base_path="/api/v1", models=["m"]) as emu:
        assert httpx.get(emu.url + "/api/v1/models").json()["data"][0]["id"] == "m"
        r = httpx.post(emu.url + "/v1/chat/completions", json={})
        assert r.status_code == 404 and "Invalid URL" in r.json()["error"]["message"]


# -- LM Studio ------------------------------------------------------------------------------


def test_lmstudio_greeting_and_native_models(lmstudio: LMStudioEmulator) -> None:
    assert httpx.get(lmstudio.url + "/lmstudio-greeting").json() == {"lmstudio": True}
    v0 = httpx.get(lmstudio.url + "/api/v0/models").json()["data"]
    assert set(v0[0]) == {
        "id",
        "type",
        "publisher",
        "arch",
        "compatibility_type",
        "quantization",
        "state",
        "max_context_length",
        "capabilities",
    }
    assert [(m["type"], m["state"]) for m in v0] == [("llm", "loaded"), ("embeddings", "not-loaded")]
    v1 = httpx.get(lmstudio.url + "/api/v1/models").json()["models"]
    assert set(v1[0]) == {
        "type",
        "key",
        "display_name",
        "architecture",
        "quantization",
        "size_bytes",
        "loaded_instances",
        "max_context_length",
        "capabilities",
    }
    assert v1[0]["loaded_instances"][0]["config"]["context_length"] == 4096
    assert v1[1]["type"] == "embedding" and v1[1]["loaded_instances"] == []
    assert set(v1[0]["capabilities"]) == {"vision", "trained_for_tool_use"}


def test_lmstudio_unknown_endpoint_quirk(lmstudio: LMStudioEmulator) -> None:
    r = httpx.post(lmstudio.url + "/x", json={})
    assert r.status_code == 200 and r.json() == {"error": "Unexpected endpoint or method. (POST /x)"}
    lmstudio.rest_v1 = False
    old = httpx.get(lmstudio.url + "/api/v1/models")
    assert old.status_code == 200 and old.json() == {"error": "Unexpected endpoint or method. (GET /api/v1/models)"}
    lmstudio.rest_v0 = False
    assert "error" in httpx.get(lmstudio.url + "/api/v0/models").json()


def test_lmstudio_bad_model_and_jit(lmstudio: LMStudioEmulator) -> None:
    r = httpx.post(lmstudio.url + "/v1/completions", json={"model": "ghost", "prompt": "x"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["message"].startswith('Invalid model identifier "ghost".')
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", "model", "model_not_found")
    lmstudio.jit_loading = False
    assert [m["id"] for m in httpx.get(lmstudio.url + "/v1/models").json()["data"]] == ["qwen2.5-coder-1.5b-instruct"]
    lmstudio.models["qwen2.5-coder-1.5b-instruct"].state = "not-loaded"
    r = httpx.post(lmstudio.url + "/v1/completions", json={"model": "qwen2.5-coder-1.5b-instruct", "prompt": "x"})
    assert r.status_code == 400 and r.json() == {
        "error": "No models loaded. Please load a model in the developer page or use the `lms load` command."
    }
    lmstudio.jit_loading = True
    r = httpx.post(lmstudio.url + "/v1/completions", json={"model": "qwen2.5-coder-1.5b-instruct", "prompt": "<P>"})
    assert r.status_code == 200 and lmstudio.models["qwen2.5-coder-1.5b-instruct"].state == "loaded"
    assert lmstudio.generations[-1].body["prompt"] == "<P>"  # recorded as sent: no template


@pytest.mark.asyncio
async def test_lmstudio_async_stream(lmstudio: LMStudioEmulator) -> None:
    lmstudio.token_delay = 0.001
    req = {"model": "qwen2.5-coder-1.5b-instruct", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient(base_url=lmstudio.url) as client:
        async with client.stream("POST", "/v1/chat/completions", json=req) as r:
            events = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert await lmstudio.wait_for_async(lambda: lmstudio.generations[0].completed)
