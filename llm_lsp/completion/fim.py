"""Fill-in-the-middle prompt templates by model family, and the chat prompt for models without FIM."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from llm_lsp.providers.base import ChatMessage, ChatRequest, Chunk, FimRequest


@dataclass(frozen=True)
class FimTemplate:
    name: str
    pattern: str  # regex matched (case-insensitive) against the model name
    template: str  # with {prefix} and {suffix}
    stop: tuple[str, ...]

    def render(self, prefix: str, suffix: str) -> str:
        return self.template.replace("{prefix}", prefix).replace("{suffix}", suffix)


# Order matters: the first pattern that matches wins.
TEMPLATES: tuple[FimTemplate, ...] = (
    FimTemplate(
        "qwen2.5-coder",
        r"qwen[\d.]*-?coder|qwen3-coder|qwen2\.5-coder",
        "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
        (
            "<|endoftext|>",
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            "<|fim_pad|>",
            "<|repo_name|>",
            "<|file_sep|>",
            "<|im_start|>",
            "<|im_end|>",
        ),
    ),
    FimTemplate(
        "deepseek-coder",
        r"deepseek-coder|deepseek-coder-v2",
        "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<｜end▁of▁sentence｜>", "<|EOT|>", "<｜EOT｜>"),
    ),
    FimTemplate(
        "codellama",
        r"code-?llama",
        "<PRE> {prefix} <SUF>{suffix} <MID>",
        ("<EOT>", "<PRE>", "<SUF>", "<MID>", "</s>"),
    ),
    FimTemplate(
        "codestral",
        r"codestral|devstral|mistral.*fim",
        "[SUFFIX]{suffix}[PREFIX]{prefix}",
        ("[PREFIX]", "[SUFFIX]", "[MIDDLE]", "</s>"),
    ),
    FimTemplate(
        "codegemma",
        r"codegemma",
        "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
        ("<|file_separator|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<end_of_turn>", "<eos>"),
    ),
    FimTemplate(
        "starcoder",
        r"starcoder|stable-?code|santacoder|granite.*code|refact",
        "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
        ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|file_separator|>"),
    ),
)

_BY_NAME = {t.name: t for t in TEMPLATES}


def template_for(model_name: str, override: str | None = None) -> FimTemplate | None:
    """The FIM template for a model, by explicit name or from the model's name; None for chat-only models."""
    if override and override not in ("auto", ""):
        if override not in _BY_NAME:
            raise ValueError(f"unknown FIM template {override!r}; known: {', '.join(_BY_NAME)}")
        return _BY_NAME[override]
    low = model_name.lower()
    for t in TEMPLATES:
        if re.search(t.pattern, low):
            return t
    return None


def template_names() -> list[str]:
    return list(_BY_NAME)


FIM_MODES = ("auto", "native", "suffix", "template", "chat")


def template_for_mode(model_name: str, mode: str) -> FimTemplate | None:
    """The template a FIM mode implies: a named template, or the one for the model's family."""
    return template_for(model_name, None if mode in FIM_MODES else mode)


HOLE = "<FILL_HERE>"

_CHAT_SYSTEM = (
    "You are a code completion engine. The user sends a source file with exactly one "
    f"{HOLE} marker. Reply with only the text that replaces {HOLE}: no explanation, no markdown fences, "
    "no repetition of the surrounding code. Keep the indentation of the surrounding code. "
    "If nothing is needed, reply with nothing."
)


def chat_fill_prompt(
    prefix: str, suffix: str, filename: str | None = None, language: str | None = None
) -> tuple[ChatMessage, ...]:
    """A "fill the hole" conversation for chat-only models."""
    header = f"File: {filename}\n" if filename else ""
    lang = language or ""
    return (
        ChatMessage("system", _CHAT_SYSTEM),
        ChatMessage("user", f"{header}```{lang}\n{prefix}{HOLE}{suffix}\n```"),
    )


async def chat_fill(
    stream_chat: Callable[[ChatRequest], AsyncGenerator[Chunk, None]], req: FimRequest
) -> AsyncGenerator[Chunk, None]:
    """Fill a hole with a chat model, streaming, with a markdown fence around the answer removed on the fly."""
    messages = chat_fill_prompt(req.prefix, req.suffix, req.filename, req.language)
    chat = ChatRequest(messages, max_tokens=req.max_tokens, temperature=req.temperature, stop=req.stop)
    cleaner = FenceStripper()
    stream = stream_chat(chat)
    try:
        async for c in stream:
            text = cleaner.feed(c.text)
            if cleaner.closed:
                yield Chunk(text, finish_reason="stop", usage=c.usage)
                return
            if text or c.finish_reason:
                yield Chunk(text + (cleaner.flush() if c.finish_reason else ""), c.finish_reason, c.usage)
    finally:
        await stream.aclose()


class FenceStripper:
    """Streaming filter: drops an opening ```lang line, ends at the closing ```, removes the hole marker."""

    def __init__(self) -> None:
        self._head = ""  # text held back until we know whether the answer opens with a fence
        self._started = False
        self._fenced = False
        self._tail = ""  # held back in case it is the start of a closing fence or marker
        self.closed = False

    def feed(self, text: str) -> str:
        if self.closed:
            return ""
        if not self._started:
            self._head += text
            stripped = self._head.lstrip()
            if len(stripped) < 3 and "\n" not in stripped:
                return ""
            if stripped.startswith("```"):
                if "\n" not in stripped:
                    return ""
                self._fenced = True
                text = stripped.split("\n", 1)[1]
            else:
                text = self._head
            self._started = True
        buf = self._tail + text
        if self._fenced:
            idx = buf.find("```")
            if idx >= 0:
                self.closed = True
                out = buf[:idx]
                return (out[:-1] if out.endswith("\n") else out).replace(HOLE, "")
        keep = _partial_suffix(buf, ("\n```", HOLE))
        self._tail = buf[len(buf) - keep :] if keep else ""
        out = buf[: len(buf) - keep]
        return out.replace(HOLE, "")

    def flush(self) -> str:
        out = (self._tail if self._started else self._head).replace(HOLE, "")
        self._tail = ""
        return "" if out.strip() == "```" else out


def _partial_suffix(buf: str, needles: tuple[str, ...]) -> int:
    """Length of the longest end of ``buf`` that could be the start of one of ``needles``."""
    best = 0
    for n in needles:
        for k in range(min(len(n), len(buf)), 0, -1):
            if n.startswith(buf[-k:]):
                best = max(best, k)
                break
    return best
