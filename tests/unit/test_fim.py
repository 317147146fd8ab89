import asyncio

import pytest

from llm_lsp.completion.fim import HOLE, FenceStripper, chat_fill, template_for
from llm_lsp.providers.base import ChatRequest, Chunk, FimRequest


@pytest.mark.parametrize(
    ("model", "template", "rendered_start"),
    [
        ("qwen2.5-coder:1.5b", "qwen2.5-coder", "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"),
        ("Qwen/Qwen2.5-Coder-7B-Instruct-GGUF", "qwen2.5-coder", "<|fim_prefix|>"),
        ("starcoder2:3b", "starcoder", "<fim_prefix>P<fim_suffix>S<fim_middle>"),
        ("bigcode/starcoder", "starcoder", "<fim_prefix>"),
        ("codellama:7b-code", "codellama", "<PRE> P <SUF>S <MID>"),
        ("deepseek-coder:1.3b-base", "deepseek-coder", "<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>"),
        ("codestral:22b", "codestral", "[SUFFIX]S[PREFIX]P"),
        ("codegemma:2b", "codegemma", "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"),
    ],
)
def test_template_by_family(model, template, rendered_start):
    t = template_for(model)
    assert t is not None and t.name == template
    assert t.render("P", "S").startswith(rendered_start)
    assert t.stop


def test_chat_models_have_no_template_and_override_wins():
    assert template_for("llama3.2:1b") is None
    assert template_for("llama3.2:1b", "starcoder").name == "starcoder"
    with pytest.raises(ValueError, match="unknown FIM template"):
        template_for("x", "nope")


def feed_all(pieces):
    f = FenceStripper()
    out = "".join(f.feed(p) for p in pieces)
    return out + ("" if f.closed else f.flush()), f.closed


def test_fence_stripper_removes_a_fence_split_across_chunks():
    out, closed = feed_all(["``", "`py", "thon\nreturn x", " + 1\n`", "``\nexplanation"])
    assert out == "return x + 1" and closed


def test_fence_stripper_passes_plain_answers_and_drops_the_marker():
    assert feed_all(["return ", "x", HOLE])[0] == "return x"
    assert feed_all(["a = 1\n", "b = 2"])[0] == "a = 1\nb = 2"


def test_chat_fill_streams_and_closes_upstream():
    closed = []

    async def fake_chat(req: ChatRequest):
        assert HOLE in req.messages[-1].content
        try:
            for piece in ["```python\n", "return ", "x\n", "```", "\nMore text", " that never comes"]:
                yield Chunk(piece)
            yield Chunk(finish_reason="stop")
        finally:
            closed.append(True)

    async def run():
        out = [c async for c in chat_fill(fake_chat, FimRequest("def f(x):\n    ", "\n"))]
        return out

    chunks = asyncio.run(run())
    assert "".join(c.text for c in chunks) == "return x"
    assert chunks[-1].finish_reason == "stop"
    assert closed == [True]
