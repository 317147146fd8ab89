"""httpx-level smoke tests against a real llama-server on the tiny model.

They pin down the wire behaviour that llm-lsp relies on; OBSERVED.md in this directory summarises it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from .llama import LlamaServer
from .tinymodel import EOS_ID, FIM_MID_ID, FIM_PRE_ID, FIM_SUF_ID, N_CTX_TRAIN, write_tiny_model

pytestmark = pytest.mark.realserver

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# llama-server closes the TCP connection right after every streamed response even though it sent
# "Keep-Alive: timeout=5, max=100"; a pooled connection reused just after a stream fails with
# httpx.RemoteProtocolError("Server disconnected without sending a response"). Streaming requests therefore
# say "Connection: close" (see test_stream_end_closes_connection).
STREAM_HEADERS = {"Connection": "close"}


@dataclass
class SSE:
    status: int
    headers: httpx.Headers
    data: list[str] = field(default_factory=list)  # raw `data:` payloads, in order
    comments: list[str] = field(default_factory=list)  # lines starting with ':'
    other: list[str] = field(default_factory=list)  # any other non-empty line (event:, id:, ...)
    body: str = ""  # the whole body when the status is not 200

    @property
    def json(self) -> list[dict]:
        return [json.loads(d) for d in self.data if d != "[DONE]"]


def read_sse(client: httpx.Client, url: str, body: dict, *, max_events: int | None = None) -> SSE:
    """POST ``body`` and read the SSE stream (stop after ``max_events`` data events, closing the connection)."""
    with client.stream("POST", url, json=body, headers=STREAM_HEADERS) as r:
        out = SSE(r.status_code, r.headers)
        if r.status_code != 200:
            out.body = r.read().decode()
            return out
        for line in r.iter_lines():
            if not line:
                continue
            if line.startswith(":"):
                out.comments.append(line)
            elif line.startswith("data: "):
                out.data.append(line[len("data: ") :])
                if max_events is not None and len(out.data) >= max_events:
                    break
            else:
                out.other.append(line)
    return out


@pytest.fixture
def client(llama_url: str):
    with httpx.Client(base_url=llama_url, timeout=TIMEOUT, trust_env=False) as c:
        yield c


def _slots_idle(client: httpx.Client, timeout: float = 5.0) -> float:
    """Wait until no slot is processing; return how long it took."""
    t0 = time.monotonic()
    while True:
        slots = client.get("/slots").json()
        if not any(s["is_processing"] for s in slots):
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, f"slots still busy: {slots}"
        time.sleep(0.005)


# --- discovery -------------------------------------------------------------------------------------------


def test_fixture_is_fast_and_local(llama_server: LlamaServer) -> None:
    assert llama_server.url.startswith("http://127.0.0.1:")
    assert llama_server.startup_seconds is not None and llama_server.startup_seconds < 10
    assert llama_server.pid and llama_server.is_running()
    assert llama_server.health_polls[-1] == 'HTTP 200 {"status":"ok"}'


def test_health(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["server"] == "llama.cpp"
    assert r.json() == {"status": "ok"}


def test_models_meta(client: httpx.Client, llama_server: LlamaServer) -> None:
    r = client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    [model] = body["data"]
    assert model["id"] == str(llama_server.model)  # the -m argument verbatim (no --alias given)
    assert model["object"] == "model"
    assert model["owned_by"] == "llamacpp"
    meta = model["meta"]
    assert meta["n_ctx_train"] == N_CTX_TRAIN
    assert meta["n_ctx"] == llama_server.n_ctx // llama_server.parallel
    assert meta["n_vocab"] == 273
    assert isinstance(meta["n_params"], int) and meta["n_params"] > 0
    # An Ollama-/api/tags-like list rides along under "models"; /models is an alias of /v1/models.
    assert body["models"][0]["model"] == str(llama_server.model)
    assert client.get("/models").json() == body


def test_props(client: httpx.Client, llama_server: LlamaServer) -> None:
    r = client.get("/props")
    assert r.status_code == 200
    props = r.json()
    assert props["default_generation_settings"]["n_ctx"] == llama_server.n_ctx // llama_server.parallel
    assert props["total_slots"] == llama_server.parallel
    assert props["model_path"] == str(llama_server.model)
    assert "<|im_start|>" in props["chat_template"]


def test_not_ollama(client: httpx.Client) -> None:
    """Fingerprinting: llama-server has no `GET /` text and no /api/tags (404 with an OpenAI-style error)."""
    for path in ("/", "/api/tags", "/api/version"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json() == {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}


# --- /infill ---------------------------------------------------------------------------------------------


def test_infill_streams_native_sse(client: httpx.Client, llama_server: LlamaServer) -> None:
    body = {
        "input_prefix": "def add(a, b):\n    ",
        "input_suffix": "\n\nprint(add(1, 2))\n",
        "n_predict": 8,
        "stream": True,
    }
    sse = read_sse(client, "/infill", body)
    assert sse.status == 200
    assert sse.headers["content-type"] == "text/event-stream"
    assert "[DONE]" not in sse.data
    assert not sse.other and not sse.comments
    *partial, final = sse.json
    assert len(partial) == 8  # one event per token here
    for i, c in enumerate(partial, 1):
        assert list(c) == ["index", "content", "tokens", "stop", "id_slot", "tokens_predicted", "tokens_evaluated"]
        assert c["stop"] is False
        assert c["id_slot"] == -1
        assert c["tokens_predicted"] == i
        assert isinstance(c["content"], str) and len(c["tokens"]) == 1
    assert final["stop"] is True
    assert final["content"] == ""  # the text is only in the partial chunks
    assert final["tokens"] == []
    assert final["stop_type"] == "limit"
    assert final["stopping_word"] == ""
    assert final["tokens_predicted"] == 8
    assert final["truncated"] is False
    assert final["model"] == str(llama_server.model)
    assert final["id_slot"] in range(llama_server.parallel)
    assert {"timings", "generation_settings", "prompt", "has_new_line", "tokens_cached"} <= set(final)
    # the FIM prompt llama.cpp builds (repo-level pattern; FIM_REP/FIM_SEP are used because the vocab has them)
    assert final["prompt"] == (
        "<|repo_name|>myproject\n<|file_sep|>filename\n"
        "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>"
    )
    assert "".join(c["content"] for c in partial)


def test_infill_non_stream(client: httpx.Client) -> None:
    r = client.post("/infill", json={"input_prefix": "x = ", "input_suffix": "\n", "n_predict": 4})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    res = r.json()
    assert res["stop"] is True
    assert res["tokens_predicted"] == 4
    assert isinstance(res["content"], str) and res["content"]
    assert res["tokens"] == []
    assert res["stop_type"] == "limit"


def test_infill_n_predict_zero_still_generates_one_token(client: httpx.Client) -> None:
    res = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "n_predict": 0}).json()
    assert res["tokens_predicted"] == 1


def test_infill_greedy_is_deterministic(client: httpx.Client) -> None:
    body = {"input_prefix": "a", "input_suffix": "b", "n_predict": 6, "temperature": 0}
    a = client.post("/infill", json=body).json()["content"]
    b = client.post("/infill", json=body).json()["content"]
    assert a == b


def test_infill_stop_string(client: httpx.Client) -> None:
    # The tiny model never emits end-of-generation; it stops at n_predict or on a stop string.
    body = {"input_prefix": "q", "input_suffix": "", "n_predict": 24, "temperature": 0}
    text = client.post("/infill", json=body).json()["content"]
    stop = text[4:6]
    res = client.post("/infill", json={**body, "stop": [stop]}).json()
    assert res["stop_type"] == "word"
    assert res["stopping_word"] == stop
    assert res["content"] == text[: text.index(stop)]  # the stop string is not included

    sse = read_sse(client, "/infill", {**body, "stop": [stop], "stream": True})
    *partial, final = sse.json
    assert "".join(c["content"] for c in partial) == text[: text.index(stop)]
    assert final["stop_type"] == "word" and final["stopping_word"] == stop


def test_infill_input_extra_is_used(client: httpx.Client) -> None:
    base = {"input_prefix": "x = ", "input_suffix": "\n", "n_predict": 1}
    extra = [{"filename": "util.py", "text": "def helper():\n    return 42\n"}]
    res = client.post("/infill", json={**base, "input_extra": extra}).json()
    assert res["prompt"].startswith("<|repo_name|>myproject\n<|file_sep|>util.py\ndef helper():\n    return 42\n")
    assert res["prompt"].endswith("<|file_sep|>filename\n<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>")
    without = client.post("/infill", json=base).json()
    assert res["tokens_evaluated"] > without["tokens_evaluated"] + len("def helper()")


def test_infill_truncates_long_input_silently(client: httpx.Client, llama_server: LlamaServer) -> None:
    """Prefix keeps its last 3*n_batch/4 tokens, suffix its first n_batch/4-2: never an error, `truncated` false."""
    body = {"input_prefix": "x" * 5000, "input_suffix": "y" * 5000, "n_predict": 2}
    res = client.post("/infill", json=body).json()
    n_batch = llama_server.batch
    prefix, suffix = res["prompt"].split("<|fim_prefix|>")[1].split("<|fim_middle|>")[0].split("<|fim_suffix|>")
    assert prefix == "x" * (3 * n_batch // 4)  # one token per byte with this vocabulary
    assert suffix == "y" * (n_batch // 4 - 2)
    assert res["truncated"] is False


def test_infill_errors(client: httpx.Client) -> None:
    def error(body: object) -> tuple[int, dict]:
        r = client.post("/infill", json=body)
        return r.status_code, r.json()

    status, err = error({"input_prefix": "x", "input_suffix": "y", "input_extra": "nope"})
    assert status == 400
    assert err == {
        "error": {
            "code": 400,
            "message": '"input_extra" must be an array of {"filename": string, "text": string}',
            "type": "invalid_request_error",
        }
    }
    status, err = error({"input_prefix": "x", "input_suffix": "y", "input_extra": [{"filename": "f"}]})
    assert status == 400 and err["error"]["type"] == "invalid_request_error"
    # missing fields: a 400 whose message is a raw nlohmann::json exception
    status, err = error({"input_suffix": "y"})
    assert status == 400
    assert err["error"]["message"] == "[json.exception.out_of_range.403] key 'input_prefix' not found"
    status, err = error({"input_prefix": "y", "stream": True})
    assert status == 400  # plain JSON, not SSE, even with stream:true
    assert err["error"]["message"] == "[json.exception.out_of_range.403] key 'input_suffix' not found"
    r = client.post("/infill", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("[json.exception.parse_error.101]")


def test_infill_without_fim_tokens_is_501(llama_binary: Path, tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "no-fim.gguf", fim=False)
    with LlamaServer(llama_binary, model, log_path=tmp_path / "server.log", parallel=1, n_ctx=512) as server:
        r = httpx.post(
            server.url + "/infill",
            json={"input_prefix": "a", "input_suffix": "b", "n_predict": 2, "stream": True},
            trust_env=False,
        )
        assert r.status_code == 501
        assert r.json() == {
            "error": {
                "code": 501,
                "message": "Infill is not supported by this model: prefix token is missing. "
                "suffix token is missing. middle token is missing. ",
                "type": "not_supported_error",
            }
        }
        # the OpenAI endpoints still work
        r = httpx.post(server.url + "/v1/completions", json={"prompt": "a", "max_tokens": 2}, trust_env=False)
        assert r.status_code == 200


# --- other completion endpoints ----------------------------------------------------------------------------


def test_completion_native_stream(client: httpx.Client) -> None:
    sse = read_sse(client, "/completion", {"prompt": "hello", "n_predict": 5, "stream": True})
    assert sse.status == 200
    assert "[DONE]" not in sse.data
    *partial, final = sse.json
    assert len(partial) == 5 and all(c["stop"] is False for c in partial)
    assert final["stop"] is True and final["content"] == "" and "timings" in final


def test_v1_completions_stream(client: httpx.Client, llama_server: LlamaServer) -> None:
    sse = read_sse(client, "/v1/completions", {"prompt": "hello", "max_tokens": 5, "stream": True})
    assert sse.status == 200
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.data[-1] == "[DONE]"
    chunks = sse.json
    assert len(chunks) == 6  # 5 tokens + a final chunk with empty text
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for c in chunks:
        assert c["object"] == "text_completion"
        assert c["model"] == str(llama_server.model)
        [choice] = c["choices"]
        assert choice["index"] == 0 and choice["logprobs"] is None
    *partial, final = chunks
    assert all(c["choices"][0]["finish_reason"] is None for c in partial)
    assert all("usage" not in c for c in partial)
    assert final["choices"][0] == {"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}
    assert final["usage"]["completion_tokens"] == 5  # usage comes without stream_options.include_usage
    assert "timings" in final
    assert "".join(c["choices"][0]["text"] for c in partial)


def test_v1_completions_suffix_is_ignored(client: httpx.Client) -> None:
    plain = client.post("/v1/completions", json={"prompt": "abc", "max_tokens": 2}).json()
    fim = client.post("/v1/completions", json={"prompt": "abc", "suffix": "xyz", "max_tokens": 2}).json()
    assert fim["choices"][0]["finish_reason"] == "length"
    # accepted without error, but no FIM: the suffix is not even tokenized (use /infill)
    assert fim["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]


def test_v1_model_name_is_not_checked(client: httpx.Client) -> None:
    r = client.post("/v1/completions", json={"model": "no-such-model", "prompt": "a", "max_tokens": 1})
    assert r.status_code == 200


def test_v1_chat_completions_stream(client: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stream": True}
    sse = read_sse(client, "/v1/chat/completions", body)
    assert sse.status == 200
    assert sse.data[-1] == "[DONE]"
    chunks = sse.json
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    first, *middle, final = chunks
    assert first["choices"][0] == {"finish_reason": None, "index": 0, "delta": {"role": "assistant", "content": None}}
    assert len(middle) == 5
    assert all(list(c["choices"][0]["delta"]) == ["content"] for c in middle)
    assert final["choices"][0] == {"finish_reason": "length", "index": 0, "delta": {}}
    assert "usage" not in final and "timings" in final
    assert "".join(c["choices"][0]["delta"]["content"] for c in middle)


def test_v1_chat_completions_stream_include_usage(client: httpx.Client) -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sse = read_sse(client, "/v1/chat/completions", body)
    assert sse.data[-1] == "[DONE]"
    *_, finish, usage = sse.json
    assert finish["choices"][0]["finish_reason"] == "length" and "timings" not in finish
    assert usage["choices"] == []  # usage (and timings) come in an extra chunk without choices
    assert usage["usage"]["completion_tokens"] == 3 and "timings" in usage


def test_v1_chat_errors(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={"max_tokens": 3})
    assert r.status_code == 400
    assert r.json() == {"error": {"code": 400, "message": "'messages' is required", "type": "invalid_request_error"}}


def test_prompt_over_context_is_400(client: httpx.Client, llama_server: LlamaServer) -> None:
    n_ctx = llama_server.n_ctx // llama_server.parallel
    sse = read_sse(client, "/v1/completions", {"prompt": "x " * 1000, "max_tokens": 2, "stream": True})
    assert sse.status == 400  # before the stream starts: plain JSON
    err = json.loads(sse.body)["error"]
    assert err["type"] == "exceed_context_size_error"
    assert err["n_ctx"] == n_ctx and err["n_prompt_tokens"] == 2000
    assert (
        err["message"]
        == f"request (2000 tokens) exceeds the available context size ({n_ctx} tokens), try increasing it"
    )


# --- connection handling and cancellation -----------------------------------------------------------------


def _raw_request(port: int, path: str, body: bytes, wait: float = 0.5) -> tuple[bytes, float]:
    """Send one keep-alive HTTP/1.1 request; return everything read until EOF and when EOF came."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        s.sendall(head.encode() + body)
        t0 = time.monotonic()
        data = b""
        s.settimeout(wait)
        try:
            while chunk := s.recv(65536):
                data += chunk
        except TimeoutError:
            return data, float("inf")
        return data, time.monotonic() - t0


def test_stream_end_closes_connection(llama_server: LlamaServer) -> None:
    body = json.dumps({"input_prefix": "a", "input_suffix": "b", "n_predict": 2, "stream": True}).encode()
    data, eof_after = _raw_request(llama_server.port, "/infill", body, wait=5.0)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Keep-Alive: timeout=5, max=100" in head
    assert rest.endswith(b"\r\n0\r\n\r\n")
    assert eof_after < 1.0  # ...and yet the server closes the connection right away
    # non-streamed responses do keep the connection open
    body = json.dumps({"input_prefix": "a", "input_suffix": "b", "n_predict": 2}).encode()
    data, eof_after = _raw_request(llama_server.port, "/infill", body)
    assert b"Content-Length:" in data and eof_after == float("inf")


def test_connection_close_makes_stream_then_post_safe(client: httpx.Client) -> None:
    for _ in range(20):
        read_sse(client, "/infill", {"input_prefix": "a", "input_suffix": "b", "n_predict": 2, "stream": True})
        r = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "n_predict": 1})
        assert r.status_code == 200


def test_disconnect_cancels_generation(client: httpx.Client, llama_server: LlamaServer) -> None:
    body = {"input_prefix": "p", "input_suffix": "s", "n_predict": 100_000, "stream": True}
    log_mark = llama_server.log_path.stat().st_size
    sse = read_sse(client, "/infill", body, max_events=3)  # closes the connection after 3 events
    assert sse.status == 200 and len(sse.data) == 3
    _slots_idle(client)  # released promptly (a full run would generate ~1000 tokens)
    with open(llama_server.log_path, errors="replace") as f:
        f.seek(log_mark)
        log = f.read()
    assert "stop: cancel task" in log
    # ... and the server keeps serving.
    r = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "n_predict": 2})
    assert r.status_code == 200 and r.json()["tokens_predicted"] == 2
    assert llama_server.is_running()


async def test_async_task_cancel_cancels_generation(llama_url: str, llama_server: LlamaServer) -> None:
    """What an LSP server does on $/cancelRequest: cancel the asyncio task that is reading the stream."""
    got: list[str] = []
    started = asyncio.Event()

    async def consume(client: httpx.AsyncClient) -> None:
        body = {"input_prefix": "p", "input_suffix": "s", "n_predict": 100_000, "stream": True}
        async with client.stream("POST", "/infill", json=body, headers=STREAM_HEADERS) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    got.append(line)
                    started.set()

    async with httpx.AsyncClient(base_url=llama_url, timeout=TIMEOUT, trust_env=False) as client:
        task = asyncio.create_task(consume(client))
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        n_seen = len(got)
        t0 = time.monotonic()
        while any(s["is_processing"] for s in (await client.get("/slots")).json()):
            assert time.monotonic() - t0 < 5
            await asyncio.sleep(0.005)
        r = await client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "n_predict": 2})
        assert r.status_code == 200
    assert n_seen < 1000


def test_special_token_ids_are_fim(client: httpx.Client) -> None:
    r = client.post("/detokenize", json={"tokens": [FIM_PRE_ID, FIM_SUF_ID, FIM_MID_ID, EOS_ID]})
    assert r.status_code == 200
    assert r.json()["content"] == "<|fim_prefix|><|fim_suffix|><|fim_middle|><|endoftext|>"
