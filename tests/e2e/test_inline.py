"""Inline completion end to end: the real server process, Ollama and LM Studio emulators over loopback HTTP."""

from __future__ import annotations

from lsprotocol import types

from tests.e2e.conftest import end_of, inline, lsp, only, open_doc, texts

SOURCE = "def add(a, b):\n    "
AFTER = "\n\nprint(add(1, 2))\n"


async def test_ollama_native_fim_sends_prefix_and_suffix(ollama):
    ollama.response_text = "return a + b"
    opts = {"completion": {"model": "ollama/qwen2.5-coder:1.5b"}, "providers": only(ollama={"baseUrl": ollama.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SOURCE + AFTER)
        result = await inline(lc, uri, end_of(SOURCE))
        assert texts(result) == ["return a + b"]
        assert result.items[0].range == types.Range(start=end_of(SOURCE), end=end_of(SOURCE))
    gen = ollama.requests_to("/api/generate")
    assert len(gen) == 1
    body = gen[0].body
    assert body["prompt"] == SOURCE and body["suffix"] == AFTER
    assert body.get("raw") is not True and body["stream"] is True
    assert body["options"]["num_predict"] == 128


async def test_ollama_raw_template_for_a_model_without_insert(ollama):
    ollama.add_model("starcoder2:3b", family="starcoder2", capabilities=["completion"], template="{{ .Prompt }}")
    ollama.response_text = "return a + b"
    opts = {"completion": {"model": "ollama/starcoder2:3b"}, "providers": only(ollama={"baseUrl": ollama.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SOURCE + AFTER)
        assert texts(await inline(lc, uri, end_of(SOURCE))) == ["return a + b"]
    body = ollama.requests_to("/api/generate")[0].body
    assert body["raw"] is True and "suffix" not in body
    assert body["prompt"] == f"<fim_prefix>{SOURCE}<fim_suffix>{AFTER}<fim_middle>"
    assert "<|endoftext|>" in body["options"]["stop"]


async def test_lmstudio_completions_with_template(lmstudio):
    lmstudio.response_text = "return a + b"
    opts = {
        "completion": {"model": "lmstudio/qwen2.5-coder-1.5b-instruct"},
        "providers": only(lmstudio={"baseUrl": lmstudio.url}),
    }
    async with lsp(opts) as lc:
        uri = open_doc(lc, SOURCE + AFTER)
        assert texts(await inline(lc, uri, end_of(SOURCE))) == ["return a + b"]
    reqs = lmstudio.requests_to("/v1/completions")
    assert len(reqs) == 1
    assert reqs[0].body["prompt"].startswith("<|fim_prefix|>" + SOURCE)
    assert reqs[0].body["stream"] is True


async def test_no_model_configured_picks_the_first_fim_model(ollama):
    ollama.response_text = "return a + b"
    async with lsp({"providers": only(ollama={"baseUrl": ollama.url})}) as lc:
        uri = open_doc(lc, SOURCE + AFTER)
        assert texts(await inline(lc, uri, end_of(SOURCE))) == ["return a + b"]
        logs = "\n".join(m.message for m in lc.log_messages)
        assert "completion model: ollama/qwen2.5-coder:1.5b (auto" in logs
