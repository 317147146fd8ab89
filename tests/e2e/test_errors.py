"""Every failure gets one clear message, an empty answer, and the server keeps serving."""

from __future__ import annotations

from lsprotocol import types

from tests.e2e.conftest import dead_port, end_of, inline, lsp, only, open_doc, texts

SRC = "def f(x):\n    "


def shown(lc) -> list[str]:
    return [m.message for m in lc.messages]


async def test_no_server_running_one_message_then_recovery(ollama):
    port = dead_port()
    opts = {
        "completion": {"model": "ollama/qwen2.5-coder:1.5b"},
        "providers": only(ollama={"baseUrl": f"http://127.0.0.1:{port}"}),
    }
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        for _ in range(3):
            assert texts(await inline(lc, uri, end_of(SRC))) == []
        msgs = shown(lc)
        assert len(msgs) == 1, msgs
        assert "cannot reach Ollama at http://127.0.0.1:" in msgs[0] and "Is the server running?" in msgs[0]
        assert lc.messages[0].type == types.MessageType.Error
        # The user fixes the address: completions come back without a restart.
        ollama.response_text = "return x"
        opts["providers"]["ollama"]["baseUrl"] = ollama.url
        lc.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"llm-lsp": opts}))
        assert texts(await inline(lc, uri, end_of(SRC))) == ["return x"]


async def test_unknown_model_names_the_fix(ollama):
    opts = {"completion": {"model": "ollama/nope:7b"}, "providers": only(ollama={"baseUrl": ollama.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        (msg,) = shown(lc)
        assert "'nope:7b' is not installed" in msg and "ollama pull nope:7b" in msg


async def test_model_without_fim_when_native_fim_is_forced(ollama):
    opts = {
        "completion": {"model": "ollama/llama3.2:1b"},
        "providers": only(ollama={"baseUrl": ollama.url, "fimMode": "native"}),
    }
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        (msg,) = shown(lc)
        assert "no `insert` capability" in msg
    assert ollama.requests_to("/api/generate") == []


async def test_chat_only_model_fills_the_hole_through_chat(ollama):
    ollama.response_text = "```python\nreturn x * 2\n```"
    opts = {"completion": {"model": "ollama/llama3.2:1b"}, "providers": only(ollama={"baseUrl": ollama.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC + "\n")
        assert texts(await inline(lc, uri, end_of(SRC))) == ["return x * 2"]
    (req,) = ollama.requests_to("/api/chat")
    assert "<FILL_HERE>" in req.body["messages"][-1]["content"]


async def test_server_refusing_insert_is_reported(ollama):
    ollama.fail_next(400, {"error": "qwen2.5-coder:1.5b does not support insert"})
    opts = {"completion": {"model": "ollama/qwen2.5-coder:1.5b"}, "providers": only(ollama={"baseUrl": ollama.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        assert "does not support insert" in shown(lc)[0]
        ollama.response_text = "return x"
        assert texts(await inline(lc, uri, end_of(SRC))) == ["return x"]


async def test_malformed_and_midstream_errors(ollama):
    opts = {"completion": {"model": "ollama/qwen2.5-coder:1.5b"}, "providers": only(ollama={"baseUrl": ollama.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        ollama.malformed_stream = True
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        assert "malformed response" in shown(lc)[-1]
        ollama.malformed_stream = False
        ollama.midstream_error = ("out of memory", 2)
        ollama.response_text = "return x + 1"
        lc.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=SRC + "\n")],
            )
        )
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        assert "out of memory" in shown(lc)[-1]
        ollama.midstream_error = None
        assert texts(await inline(lc, uri, end_of(SRC))) == ["return x + 1"]


async def test_lmstudio_unknown_model_and_200_with_error_quirk(lmstudio):
    lmstudio.rest_v1 = False  # an older LM Studio: /api/v1/models answers 200 with an error body
    opts = {"completion": {"model": "lmstudio/missing-model"}, "providers": only(lmstudio={"baseUrl": lmstudio.url})}
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        assert texts(await inline(lc, uri, end_of(SRC))) == []
        (msg,) = shown(lc)
        assert "model 'missing-model' not found" in msg and "qwen2.5-coder-1.5b-instruct" in msg
    assert lmstudio.requests_to("/api/v1/models") and lmstudio.requests_to("/api/v0/models")


async def test_broken_configuration_is_reported_and_the_rest_applies(ollama):
    ollama.response_text = "return x"
    opts = {
        "completion": {"model": "ollama/qwen2.5-coder:1.5b", "maxTokens": "lots", "temprature": 1},
        "providers": only(ollama={"baseUrl": ollama.url}),
    }
    async with lsp(opts) as lc:
        uri = open_doc(lc, SRC)
        assert texts(await inline(lc, uri, end_of(SRC))) == ["return x"]
        text = "\n".join(shown(lc))
        assert "completion.maxTokens" in text and "did you mean 'temperature'" in text
    assert ollama.requests_to("/api/generate")[0].body["options"]["num_predict"] == 128
