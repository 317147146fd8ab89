"""llm-lsp against a real llama.cpp server (tiny random-weight model): inline completion through /infill and
through the OpenAI-compatible /v1/completions, fallback when the model has no FIM tokens, and cancellation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from lsprotocol import types

from tests.e2e.conftest import end_of, inline, lsp, only, open_doc, texts
from tests.realserver.llama import LlamaServer
from tests.realserver.tinymodel import write_tiny_model

pytestmark = pytest.mark.realserver

SRC = "def add(a, b):\n    "
AFTER = "\n\nprint(add(1, 2))\n"


def settings(url: str, model: str, **provider: object) -> dict[str, object]:
    return {
        # temperature 0: greedy decoding, so the tiny model's gibberish is the same on every run
        "completion": {"model": f"llamacpp/{model}", "maxTokens": 16, "multiline": "always", "temperature": 0},
        "providers": only(llamacpp={"baseUrl": url, **provider}),
    }


def logs(lc) -> str:
    return "\n".join(m.message for m in lc.log_messages)


async def test_inline_completion_through_infill(llama_server):
    async with lsp(settings(llama_server.url, str(llama_server.model))) as lc:
        uri = open_doc(lc, SRC + AFTER)
        for _ in range(3):  # a stream, then reuse of the HTTP client after llama-server closed the connection
            result = await inline(lc, uri, end_of(SRC))
            assert result is not None and len(result.items) == 1 and str(result.items[0].insert_text).strip()
            lc.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=SRC + AFTER + "#")],
                )
            )
        assert "via the native FIM endpoint" in logs(lc)
        assert lc.messages == []


async def test_inline_completion_through_openai_completions_template(llama_server):
    opts = settings(llama_server.url, str(llama_server.model), fimMode="qwen2.5-coder")
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC + AFTER)
        result = await inline(lc, uri, end_of(SRC))
        assert texts(result) and texts(result)[0].strip()
        assert "the qwen2.5-coder template" in logs(lc)
        assert lc.messages == []


async def test_model_without_fim_tokens_falls_back_from_infill(llama_binary, tmp_path: Path):
    model = write_tiny_model(tmp_path / "qwen2.5-coder-nofim.gguf", fim=False)
    with LlamaServer(llama_binary, model, log_path=tmp_path / "server.log").start() as server:
        # /infill answers 501 for this model: llm-lsp remembers and uses the family's template instead.
        r = httpx.post(server.url + "/infill", json={"input_prefix": "a", "input_suffix": "b", "n_predict": 2})
        assert r.status_code == 501
        async with lsp(settings(server.url, str(model)), args=["-v"]) as lc:
            uri = open_doc(lc, SRC + AFTER)
            await inline(lc, uri, end_of(SRC))
            text = logs(lc)
            assert "/infill is not supported" in text and "qwen2.5-coder template" in text
            # The model generated text through /v1/completions (what survives post-processing is gibberish-dependent).
            generated = [ln for ln in text.splitlines() if "completion from llamacpp/" in ln]
            assert generated and "ms: ''" not in generated[0]
            assert lc.messages == []


def busy_slots(url: str) -> int:
    return sum(1 for slot in httpx.get(url + "/slots").json() if slot.get("is_processing"))


async def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return predicate()


async def test_superseded_generation_stops_on_the_real_server(llama_server):
    # A top-level blank line: no block end can stop the suggestion early, so only the token budget (or the
    # slot's context) ends the generation: long enough to supersede it mid-stream.
    opts = settings(llama_server.url, str(llama_server.model))
    opts["completion"].update(maxTokens=4000, maxLines=500)  # type: ignore[union-attr]
    text = "x = 1\n\n"
    cancels_before = llama_server.log_path.read_text(errors="replace").count("cancel task")
    async with lsp(opts) as lc:
        uri = open_doc(lc, text)
        first = asyncio.ensure_future(inline(lc, uri, end_of(text)))
        assert await wait_until(lambda: busy_slots(llama_server.url) == 1, 10), "the first generation never started"
        lc.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "y")],
            )
        )
        opts["completion"]["maxTokens"] = 4  # type: ignore[index]
        second = asyncio.ensure_future(inline(lc, uri, end_of(text + "y")))
        assert texts(await first) == []  # superseded: answered empty
        # llama-server saw the connection close and cancelled the generation ("srv  stop: cancel task").
        assert await wait_until(
            lambda: llama_server.log_path.read_text(errors="replace").count("cancel task") > cancels_before, 2
        )
        # Closing the stream made llama-server cancel the task: at most the new request's slot is busy.
        assert await wait_until(lambda: busy_slots(llama_server.url) <= 1, 2)
        await second
        assert await wait_until(lambda: busy_slots(llama_server.url) == 0, 10)
    assert httpx.get(llama_server.url + "/health").status_code == 200
