"""Supersession, cancellation, cache, positions and menu completion, end to end."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import end_of, inline, lsp, only, open_doc, texts

# ~8000 tokens; with maxTokens 4000 a generation runs 40 s at 10 ms a token, so "stopped in the first quarter" leaves
# a 10 s margin for a loaded machine (one CI run stalled 0.7 s when the whole generation was only 1.3 s long).
LONG = " ".join(f"value_{i} +" for i in range(2000))
LONG_TOKENS = 4000


def opts(emu, **completion):
    return {
        "completion": {"model": "ollama/qwen2.5-coder:1.5b", "multiline": "never", **completion},
        "providers": only(ollama={"baseUrl": emu.url}),
    }


async def test_newer_request_supersedes_and_closes_the_upstream_stream(ollama):
    ollama.response_text = LONG
    ollama.token_delay = 0.01
    async with lsp(opts(ollama, maxTokens=LONG_TOKENS)) as lc:
        uri = open_doc(lc, "x = ")
        first = asyncio.ensure_future(inline(lc, uri, end_of("x = ")))
        assert await ollama.wait_for_async(lambda: ollama.generations and ollama.generations[0].tokens_sent >= 3)
        ollama.response_text = "42"
        ollama.token_delay = 0
        second = await inline(lc, uri, end_of("x = "))
        assert texts(await first) == []  # answered, empty: superseded
        assert texts(second) == ["42"]
        assert await ollama.wait_for_async(lambda: ollama.generations[0].disconnected, 2.0)
    g = ollama.generations[0]
    assert not g.completed
    assert g.tokens_after_disconnect == 0
    assert g.tokens_sent < g.tokens_total // 4  # stopped early, not after generating everything


async def test_cancel_request_answers_request_cancelled_and_closes_the_stream(ollama):
    ollama.response_text = LONG
    ollama.token_delay = 0.01
    async with lsp(opts(ollama)) as lc:
        uri = open_doc(lc, "x = ")
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=end_of("x = "),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
        pending = asyncio.ensure_future(
            lc.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="cancel-me")
        )
        assert await ollama.wait_for_async(lambda: ollama.generations and ollama.generations[0].tokens_sent >= 3)
        lc.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
        with pytest.raises(JsonRpcException) as err:
            await pending
        assert err.value.code == -32800  # RequestCancelled: answered, not dropped
        assert await ollama.wait_for_async(lambda: ollama.generations[0].disconnected, 2.0)
        # The server keeps serving.
        ollama.response_text = "1"
        ollama.token_delay = 0
        assert texts(await inline(lc, uri, end_of("x = "))) == ["1"]
    assert ollama.generations[0].tokens_after_disconnect == 0


async def test_burst_of_keystrokes_sends_one_backend_request(ollama):
    ollama.response_text = "compute()"
    # A fixed debounce keeps this test independent of machine jitter; bench/ measures the adaptive one.
    async with lsp(opts(ollama, debounceMs=150)) as lc:
        text = "result = "
        uri = open_doc(lc, text)
        pending = []
        for i, ch in enumerate("abcdef"):
            text += ch
            lc.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=i + 2),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                )
            )
            pending.append(asyncio.ensure_future(inline(lc, uri, end_of(text), invoked=False)))
            await asyncio.sleep(0.03)
        results = await asyncio.gather(*pending)
    assert [texts(r) for r in results[:-1]] == [[]] * 5
    assert texts(results[-1]) == ["compute()"]
    assert len(ollama.requests_to("/api/generate")) == 1


async def test_retype_and_type_through_are_served_from_cache(ollama):
    ollama.response_text = "compute(1, 2)"
    async with lsp(opts(ollama)) as lc:
        uri = open_doc(lc, "x = ")
        assert texts(await inline(lc, uri, end_of("x = "))) == ["compute(1, 2)"]
        assert texts(await inline(lc, uri, end_of("x = "))) == ["compute(1, 2)"]
        lc.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=end_of("x = "), end=end_of("x = ")), text="comp"
                    )
                ],
            )
        )
        assert texts(await inline(lc, uri, end_of("x = comp"))) == ["ute(1, 2)"]
    assert len(ollama.requests_to("/api/generate")) == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_positions_with_emoji_in_the_negotiated_encoding(ollama, encoding):
    ollama.response_text = "ok"
    line = 's = "😋🎉" + '
    async with lsp(opts(ollama), encodings=[encoding]) as lc:
        assert lc.init_result.capabilities.position_encoding == encoding
        uri = open_doc(lc, line + "rest\n")
        units = len(line.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(line.encode())
        assert texts(await inline(lc, uri, types.Position(line=0, character=units))) == ["ok"]
    body = ollama.requests_to("/api/generate")[0].body
    assert body["prompt"] == line and body["suffix"] == "rest\n"


async def test_out_of_range_position_is_an_invalid_params_error(ollama):
    async with lsp(opts(ollama)) as lc:
        uri = open_doc(lc, "x = 1\n")
        with pytest.raises(JsonRpcException) as err:
            await inline(lc, uri, types.Position(line=40, character=0))
        assert "past the end" in str(err.value)
        with pytest.raises(JsonRpcException) as err:
            await inline(lc, "file:///tmp/never-opened-llm-lsp.py", types.Position(line=0, character=0))
        assert "is not open" in str(err.value)
        ollama.response_text = "2"
        assert texts(await inline(lc, uri, types.Position(line=0, character=99))) == ["2"]  # clamps to line end


async def test_menu_completion_snippet_for_neovim_plain_for_eglot(ollama):
    ollama.response_text = "rint(total, end='')"
    for client, snippet in (("neovim", True), ("emacs", False)):
        async with lsp(opts(ollama), client=client) as lc:
            uri = open_doc(lc, "    p\n")
            result = await lc.text_document_completion_async(
                types.CompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=0, character=5),
                    context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
                )
            )
            assert isinstance(result, types.CompletionList) and result.is_incomplete
            (item,) = result.items
            assert item.filter_text.startswith("print(")
            assert item.text_edit.range == types.Range(
                start=types.Position(line=0, character=4), end=types.Position(line=0, character=5)
            )
            assert item.text_edit.new_text == "print(total, end='')"
            want = types.InsertTextFormat.Snippet if snippet else types.InsertTextFormat.PlainText
            assert item.insert_text_format == want
            assert "qwen2.5-coder" in item.detail


async def test_inline_completion_is_advertised(ollama):
    async with lsp(opts(ollama)) as lc:
        caps = lc.init_result.capabilities
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None
        assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental


async def test_cold_start_is_quick(ollama):
    started = time.perf_counter()
    async with lsp(opts(ollama)):
        pass
    assert time.perf_counter() - started < 20  # generous: a sanity bound, the benchmark measures it
