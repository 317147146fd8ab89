"""The router end to end: two Ollama servers and an LM Studio, fallback, health, discovery and llm-lsp/* requests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from llm_lsp.features.models import plain
from tests.e2e.conftest import end_of, inline, lsp, open_doc, texts
from tests.emulators import LMStudioEmulator, OllamaEmulator

SRC = "x = "


@pytest.fixture
def fleet():
    a, b, c = OllamaEmulator(), OllamaEmulator(), LMStudioEmulator()
    for emu in (a, b, c):
        emu.start()
    a.response_text, b.response_text, c.response_text = "from_a", "from_b", "from_lms"
    b.add_model("starcoder2:3b", family="starcoder2", capabilities=["completion"], context_length=16384)
    yield a, b, c
    for emu in (a, b, c):
        emu.stop()


def settings(a, b, c, **routes: Any) -> dict[str, Any]:
    return {
        "completion": {"multiline": "never"},
        "routes": {"completion": ["ollama/qwen2.5-coder:1.5b", "backup/qwen2.5-coder:1.5b", "lmstudio/*"], **routes},
        "providers": {
            "ollama": {"baseUrl": a.url},
            "backup": {"kind": "ollama", "baseUrl": b.url},
            "lmstudio": {"baseUrl": c.url},
        },
    }


async def req(lc, method: str, params: dict[str, Any] | None = None) -> Any:
    return plain(await lc.protocol.send_request_async(method, params or {}))


async def poll(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


def provider(status: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in status["providers"] if p["id"] == pid)


async def test_kill_and_restart_a_server_mid_session(fleet):
    a, b, c = fleet
    async with lsp(settings(a, b, c)) as lc:
        notes: list[dict[str, Any]] = []
        lc.feature("llm-lsp/didChangeStatus")(lambda params: notes.append(plain(params)))
        uri = open_doc(lc, SRC)
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_a"]

        a.stop()
        lc.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=SRC + " ")],
            )
        )
        # The very next request is served by the fallback: no failed request in between.
        assert texts(await inline(lc, uri, end_of(SRC + " "))) == ["from_b"]
        assert lc.messages == []  # a working fallback is not an error for the user

        async def ollama_unavailable() -> bool:
            return provider(await req(lc, "llm-lsp/providers"), "ollama")["status"] == "unavailable"

        assert await poll(ollama_unavailable, 5)
        status = await req(lc, "llm-lsp/status")
        assert status["routes"]["completion"]["model"] == "backup/qwen2.5-coder:1.5b"
        assert "cannot reach Ollama" in provider(status, "ollama")["lastError"]
        assert any("falling back to backup/qwen2.5-coder:1.5b" in e["message"] for e in status["recentEvents"])
        assert await poll(lambda: _async(any(provider(n, "ollama")["status"] == "unavailable" for n in notes)), 3)

        served_by_b = len(b.requests_to("/api/generate"))
        for n in range(3):  # while it is down, requests go straight to the fallback
            text = SRC + " " * (n + 2)
            lc.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3 + n),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                )
            )
            assert texts(await inline(lc, uri, end_of(text))) == ["from_b"]
        assert len(b.requests_to("/api/generate")) == served_by_b + 3

        a.start()  # same port

        async def ollama_back() -> bool:
            return provider(await req(lc, "llm-lsp/providers"), "ollama")["status"] == "available"

        started = time.monotonic()
        assert await poll(ollama_back, 10)
        recovery = time.monotonic() - started
        assert recovery < 8  # picked up again within seconds (backoff is capped at 5 s)
        text = SRC + "  y"
        lc.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=10),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        assert texts(await inline(lc, uri, end_of(text))) == ["from_a"]  # preferred again
        assert await poll(lambda: _async(any(provider(n, "ollama")["status"] == "available" for n in notes[-3:])), 3)


async def _async(value: bool) -> bool:
    return value


async def test_inventory_matches_what_the_servers_advertise(fleet):
    a, b, c = fleet
    async with lsp(settings(a, b, c)) as lc:
        models = {m["id"]: m for m in (await req(lc, "llm-lsp/models"))["models"]}
        qwen = models["ollama/qwen2.5-coder:1.5b"]
        assert qwen["provider"] == "ollama" and qwen["name"] == "qwen2.5-coder:1.5b"
        assert {"completion", "chat", "fim"} <= set(qwen["capabilities"])
        assert qwen["contextLength"] == 32768 and qwen["local"] is True
        assert qwen["quantization"] == "Q4_K_M" and qwen["family"] == "qwen2" and qwen["sizeBytes"] == 986_000_000
        assert "tools" in models["ollama/llama3.2:1b"]["capabilities"]
        assert "fim" not in models["ollama/llama3.2:1b"]["capabilities"]
        assert models["backup/starcoder2:3b"]["contextLength"] == 16384
        assert "fim" in models["backup/starcoder2:3b"]["capabilities"]  # by its FIM template
        lms = models["lmstudio/qwen2.5-coder-1.5b-instruct"]
        assert lms["loaded"] is True and lms["contextLength"] == 4096  # the loaded instance's context
        emb = models["lmstudio/text-embedding-nomic-embed-text-v1.5"]
        assert emb["capabilities"] == ["embedding"] and emb["loaded"] is False

        only_embed = (await req(lc, "llm-lsp/models", {"capability": "embedding"}))["models"]
        assert {m["id"] for m in only_embed} == {
            "ollama/nomic-embed-text:latest",
            "backup/nomic-embed-text:latest",
            "lmstudio/text-embedding-nomic-embed-text-v1.5",
        }
        just_lms = (await req(lc, "llm-lsp/models", {"provider": "lmstudio"}))["models"]
        assert {m["provider"] for m in just_lms} == {"lmstudio"}

        c.add_model("deepseek-coder-1.3b", arch="llama")
        assert "lmstudio/deepseek-coder-1.3b" not in {m["id"] for m in (await req(lc, "llm-lsp/models"))["models"]}
        fresh = await req(lc, "llm-lsp/models", {"refresh": True})
        assert "lmstudio/deepseek-coder-1.3b" in {m["id"] for m in fresh["models"]}

        provs = {p["id"]: p for p in (await req(lc, "llm-lsp/providers"))["providers"]}
        assert provs["backup"]["kind"] == "ollama" and provs["backup"]["baseUrl"] == b.url
        assert provs["lmstudio"]["modelCount"] == 3 and provs["ollama"]["status"] == "available"
        assert provs["ollama"]["local"] is True and provs["ollama"]["successRate"] == 1.0

        with pytest.raises(JsonRpcException) as err:
            await req(lc, "llm-lsp/models", {"provider": "nope"})
        assert err.value.code == -32602 and "unknown provider 'nope'" in str(err.value)


async def test_wildcards_and_auto_resolve_as_documented(fleet):
    a, b, c = fleet
    a.add_model("qwen2.5:14b", family="qwen2", capabilities=["completion", "tools"], context_length=262144)
    opts = settings(a, b, c, chat=["lmstudio/*", "auto"], embed="auto")
    opts["routes"]["completion"] = ["backup/*"]
    opts["routes"]["edit"] = ["auto"]
    async with lsp(opts) as lc:
        routes = (await req(lc, "llm-lsp/status"))["routes"]
        # backup/* for completion: backup's models that can fill in the middle, native FIM first.
        assert routes["completion"]["model"] == "backup/qwen2.5-coder:1.5b"
        assert [x["model"] for x in routes["completion"]["candidates"]] == [
            "backup/qwen2.5-coder:1.5b",
            "backup/starcoder2:3b",
        ]
        # lmstudio/* first for chat, then auto: loaded local models by context length.
        assert routes["chat"]["model"] == "lmstudio/qwen2.5-coder-1.5b-instruct"
        # edit = auto: no model is loaded on Ollama, so the largest context among local chat models.
        assert routes["edit"]["model"] == "lmstudio/qwen2.5-coder-1.5b-instruct"
        assert routes["edit"]["candidates"][1]["model"] == "ollama/qwen2.5:14b"
        assert routes["embed"]["model"].endswith("nomic-embed-text:latest")


async def test_select_model_and_embed(fleet):
    a, b, c = fleet
    async with lsp(settings(a, b, c)) as lc:
        uri = open_doc(lc, SRC)
        route = await req(
            lc, "llm-lsp/selectModel", {"task": "completion", "model": "lmstudio/qwen2.5-coder-1.5b-instruct"}
        )
        assert route["model"] == "lmstudio/qwen2.5-coder-1.5b-instruct"
        assert texts(await inline(lc, uri, end_of(SRC))) == ["from_lms"]
        with pytest.raises(JsonRpcException) as err:
            await req(lc, "llm-lsp/selectModel", {"task": "completion", "model": "ollama/ghost:1b"})
        assert err.value.code == -32001 and "ghost:1b" in str(err.value)
        with pytest.raises(JsonRpcException) as err:
            await req(lc, "llm-lsp/selectModel", {"task": "dance", "model": "auto"})
        assert err.value.code == -32602 and "task" in str(err.value)
        assert (await req(lc, "llm-lsp/status"))["routes"]["completion"][
            "model"
        ] == "lmstudio/qwen2.5-coder-1.5b-instruct"

        out = await req(lc, "llm-lsp/embed", {"input": ["a", "b"], "model": "ollama/nomic-embed-text:latest"})
        assert out["model"] == "ollama/nomic-embed-text:latest" and len(out["embeddings"]) == 2
        assert abs(sum(x * x for x in out["embeddings"][0]) - 1.0) < 1e-6  # Ollama's vectors are L2-normalised
        out = await req(
            lc, "llm-lsp/embed", {"input": ["hello"], "model": "lmstudio/text-embedding-nomic-embed-text-v1.5"}
        )
        assert len(out["embeddings"]) == 1 and c.requests_to("/v1/embeddings")
        out = await req(lc, "llm-lsp/embed", {"input": ["x"]})  # the embed route
        assert out["model"].endswith("nomic-embed-text:latest")


async def test_commands_for_clients_without_ui(fleet):
    a, b, c = fleet
    async with lsp(settings(a, b, c)) as lc:
        lc.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(
            lambda params: next(x for x in params.actions if x.title == "backup/qwen2.5-coder:1.5b")
        )
        caps = lc.init_result.capabilities.execute_command_provider.commands
        assert {"llm-lsp.selectModel", "llm-lsp.refreshModels", "llm-lsp.showStatus"} <= set(caps)
        await lc.workspace_execute_command_async(types.ExecuteCommandParams(command="llm-lsp.showStatus"))
        report = lc.messages[-1].message
        assert (
            "Providers:" in report and "backup (ollama" in report and "completion: ollama/qwen2.5-coder:1.5b" in report
        )
        await lc.workspace_execute_command_async(types.ExecuteCommandParams(command="llm-lsp.refreshModels"))
        assert "model(s) from 3 provider(s)" in lc.messages[-1].message
        await lc.workspace_execute_command_async(
            types.ExecuteCommandParams(command="llm-lsp.selectModel", arguments=["completion"])
        )
        assert (await req(lc, "llm-lsp/status"))["routes"]["completion"]["model"] == "backup/qwen2.5-coder:1.5b"
