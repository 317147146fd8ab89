"""OpenAI-compatible servers (vLLM, LM Studio, llama.cpp, hosted APIs): /v1/models, /v1/completions, /v1/chat/completions.

Subclasses override discovery and how a hole is filled; the streaming code is shared.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from llm_lsp.completion.fim import chat_fill, template_for, template_for_mode
from llm_lsp.providers.base import (
    BadResponse,
    ChatRequest,
    Chunk,
    FimRequest,
    FimUnsupported,
    ModelInfo,
    Provider,
    Usage,
)
from llm_lsp.providers.wire import get_json, open_stream, sse_json

log = logging.getLogger(__name__)


def infer_capabilities(name: str, model_type: str | None = None) -> frozenset[str]:
    """Capabilities from what little /v1/models says: embedding models by type or name, FIM by family."""
    low = name.lower()
    if model_type in ("embedding", "embeddings") or (model_type is None and "embed" in low):
        return frozenset({"embedding"})
    caps = {"completion", "chat"}
    if model_type == "vlm":
        caps.add("vision")
    if template_for(name) is not None:
        caps.add("fim")
    return frozenset(caps)


class OpenAICompatProvider(Provider):
    kind = "openai"
    chat_path = "/v1/chat/completions"
    completions_path = "/v1/completions"
    models_path = "/v1/models"
    max_stop_sequences: int | None = None  # OpenAI's own API takes at most 4

    def kind_label(self) -> str:
        return "OpenAI-compatible server"

    @property
    def base_url(self) -> str:
        """The server root: a base URL written the OpenAI way (``.../v1``) works too."""
        url = self.settings.base_url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    async def list_models(self) -> list[ModelInfo]:
        body = await get_json(self, self.models_path)
        data = body.get("data") or []  # Ollama answers "data": null when it has no models
        return self.remember(
            [
                ModelInfo(provider=self.id, name=m["id"], capabilities=infer_capabilities(m["id"]), local=self.local)
                for m in data
                if isinstance(m, dict) and m.get("id")
            ]
        )

    async def probe(self) -> None:
        await get_json(self, self.models_path)

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        body = await get_json(self, "/v1/embeddings", json={"model": model, "input": inputs}, model=model)
        data = sorted((d for d in body.get("data") or [] if isinstance(d, dict)), key=lambda d: d.get("index", 0))
        vectors = [d.get("embedding") for d in data]
        if len(vectors) != len(inputs) or not all(isinstance(v, list) for v in vectors):
            raise BadResponse(
                f"{self.id}: /v1/embeddings returned no embeddings for {model}", provider=self.id, model=model
            )
        return vectors  # type: ignore[return-value]

    def fim_mode(self, info: ModelInfo) -> str:
        """How to fill a hole with this model: native (server-side), suffix, template or chat."""
        mode = self.settings.fim_mode
        if mode != "auto":
            return mode
        return "template" if template_for(info.name) else "chat"

    async def stream_fim(self, model: str, req: FimRequest) -> AsyncGenerator[Chunk, None]:
        info = await self.model_info(model)
        mode = self.fim_mode(info)
        template = template_for_mode(model, mode)
        how = {
            "native": "the native FIM endpoint",
            "suffix": "/v1/completions suffix",
            "chat": "a fill-the-hole chat prompt",
        }
        self.announce_fim(model, how.get(mode, f"the {template.name if template else '?'} template"))
        if mode == "native":
            stream = self.native_fim(model, req)
        elif mode == "chat":
            stream = chat_fill(lambda chat: self.stream_chat(model, chat), req)
        else:
            stream = self._completions_fim(model, req, mode)
        async for c in stream:
            yield c

    def native_fim(self, model: str, req: FimRequest) -> AsyncGenerator[Chunk, None]:
        raise FimUnsupported(
            f'{self.id}: this server has no native fill-in-the-middle endpoint; set fimMode to "template", '
            '"suffix" or "chat"',
            provider=self.id,
            model=model,
        )

    async def _completions_fim(self, model: str, req: FimRequest, mode: str) -> AsyncGenerator[Chunk, None]:
        payload: dict[str, Any] = {"model": model, "max_tokens": req.max_tokens, "temperature": req.temperature}
        stop = list(req.stop)
        if mode == "suffix":
            payload.update(prompt=req.prefix, suffix=req.suffix)
        else:
            template = template_for_mode(model, mode)
            if template is None:
                raise FimUnsupported(
                    f"{self.id}: no FIM template is known for '{model}'; set fimMode to \"chat\" or name a template",
                    provider=self.id,
                    model=model,
                )
            payload["prompt"] = template.render(req.prefix, req.suffix)
            stop = list(dict.fromkeys((*stop, *template.stop)))
        if stop:
            payload["stop"] = stop if self.max_stop_sequences is None else stop[: self.max_stop_sequences]
        async for c in self.stream_openai(self.completions_path, payload, model, chat=False):
            yield c

    async def stream_chat(self, model: str, req: ChatRequest) -> AsyncGenerator[Chunk, None]:
        payload: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in req.messages],
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
        }
        if req.stop:
            payload["stop"] = list(req.stop)
        async for c in self.stream_openai(self.chat_path, payload, model, chat=True):
            yield c

    async def stream_openai(
        self, path: str, payload: dict[str, Any], model: str, *, chat: bool
    ) -> AsyncGenerator[Chunk, None]:
        payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        finish: str | None = None
        usage: Usage | None = None
        async with open_stream(self, path, payload, model=model) as resp:
            async for obj in sse_json(self, resp, model):
                if obj.get("usage"):
                    u = obj["usage"]
                    usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
                for choice in obj.get("choices") or []:
                    text = ((choice.get("delta") or {}).get("content") if chat else choice.get("text")) or ""
                    if text:
                        yield Chunk(text)
                    finish = choice.get("finish_reason") or finish
        yield Chunk(finish_reason=finish or "stop", usage=usage)
