"""Ollama, native API: /api/tags + /api/show discovery, /api/generate FIM (suffix or raw template), /api/chat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from llm_lsp.completion.fim import chat_fill, template_for, template_for_mode
from llm_lsp.providers.base import (
    BadResponse,
    ChatMessage,
    ChatRequest,
    Chunk,
    FimRequest,
    FimUnsupported,
    ModelInfo,
    ModelNotFound,
    Provider,
    ProviderError,
    Usage,
)
from llm_lsp.providers.wire import get_json, get_text, ndjson, open_stream

log = logging.getLogger(__name__)

_CAP_MAP = {
    "completion": "completion",
    "insert": "fim",
    "tools": "tools",
    "vision": "vision",
    "embedding": "embedding",
    "thinking": "thinking",
}


def parse_show(
    name: str, provider: str, show: dict[str, Any], tag: dict[str, Any] | None, loaded: set[str], local: bool
) -> ModelInfo:
    """Build a ModelInfo from /api/show (and the /api/tags entry when we have it)."""
    details = show.get("details") or (tag or {}).get("details") or {}
    info = show.get("model_info") or {}
    ctx = next((v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)), None)
    raw_caps = show.get("capabilities")
    caps: set[str] = set()
    native = False
    if isinstance(raw_caps, list):
        caps = {_CAP_MAP[c] for c in raw_caps if c in _CAP_MAP}
        native = "insert" in raw_caps
    else:  # older servers: infer from the template
        template = str(show.get("template") or "")
        caps = {"completion"}
        native = ".Suffix" in template
        if native:
            caps.add("fim")
    if "completion" in caps:
        caps.add("chat")
        if template_for(name) is not None:
            caps.add("fim")
    return ModelInfo(
        provider=provider,
        name=name,
        capabilities=frozenset(caps),
        context_length=ctx,
        loaded=name in loaded,
        size_bytes=(tag or {}).get("size"),
        quantization=details.get("quantization_level"),
        family=details.get("family"),
        local=local,
        native_fim=native,
    )


class OllamaProvider(Provider):
    kind = "ollama"

    def kind_label(self) -> str:
        return "Ollama"

    async def probe(self) -> None:
        status, text = await get_text(self, "/")
        if status != 200 or "ollama is running" not in text.lower():
            raise BadResponse(
                f"{self.id}: {self.base_url} answered GET / with HTTP {status} {text[:60]!r}: not an Ollama server "
                f"(set providers.{self.id}.kind to the right kind)",
                provider=self.id,
            )

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        body = await get_json(self, "/api/embed", json={"model": model, "input": inputs}, model=model)
        vectors = body.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(inputs):
            raise BadResponse(
                f"{self.id}: /api/embed returned no embeddings for {model}", provider=self.id, model=model
            )
        return vectors

    async def _loaded(self) -> set[str]:
        try:
            ps = await get_json(self, "/api/ps")
        except ProviderError:
            return set()
        return {m.get("name") or m.get("model") for m in ps.get("models") or []}

    async def list_models(self) -> list[ModelInfo]:
        tags = await get_json(self, "/api/tags")
        entries = [t for t in tags.get("models") or [] if t.get("name") or t.get("model")]
        loaded = await self._loaded()

        async def one(tag: dict[str, Any]) -> ModelInfo | None:
            name = str(tag.get("name") or tag.get("model"))
            try:
                show = await get_json(self, "/api/show", json={"model": name}, model=name)
            except ProviderError as exc:
                log.warning("%s: /api/show %s failed: %s", self.id, name, exc)
                return None
            return parse_show(name, self.id, show, tag, loaded, self.local)

        found = await asyncio.gather(*(one(t) for t in entries))
        return self.remember([m for m in found if m is not None])

    async def model_info(self, name: str) -> ModelInfo:
        if name not in self._models:
            try:
                show = await get_json(self, "/api/show", json={"model": name}, model=name)
            except ModelNotFound:
                raise ModelNotFound(
                    f"{self.id}: model '{name}' is not installed in Ollama at {self.base_url}. "
                    f"Run `ollama pull {name}` or choose another model (`llm-lsp models` lists them).",
                    provider=self.id,
                    model=name,
                ) from None
            self._models[name] = parse_show(name, self.id, show, None, set(), self.local)
        return self._models[name]

    def _options(self, max_tokens: int, temperature: float, stop: tuple[str, ...]) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_predict": max_tokens, "temperature": temperature}
        if stop:
            opts["stop"] = list(stop)
        return opts

    async def stream_fim(self, model: str, req: FimRequest) -> AsyncGenerator[Chunk, None]:
        info = await self.model_info(model)
        mode = self.settings.fim_mode
        template = template_for_mode(model, mode)
        if mode == "auto":
            mode = "native" if info.native_fim else ("template" if template else "chat")
        if mode == "native" and not info.native_fim:
            raise FimUnsupported(
                f"{self.id}: model '{model}' has no `insert` capability, so Ollama cannot fill in the middle "
                'with it. Use a code model (e.g. qwen2.5-coder) or set fimMode to "template" or "chat".',
                provider=self.id,
                model=model,
            )
        if mode == "chat":
            self.announce_fim(model, "a fill-the-hole chat prompt (no FIM template known)")
            async for c in chat_fill(lambda chat: self.stream_chat(model, chat), req):
                yield c
            return
        payload: dict[str, Any] = {
            "model": model,
            "stream": True,
            "options": self._options(req.max_tokens, req.temperature, req.stop),
        }
        if mode == "native":
            payload.update(prompt=req.prefix, suffix=req.suffix)
            self.announce_fim(model, "/api/generate suffix (the server applies the model's template)")
        elif template is not None:
            payload.update(prompt=template.render(req.prefix, req.suffix), raw=True)
            payload["options"]["stop"] = list(dict.fromkeys((*req.stop, *template.stop)))
            self.announce_fim(model, f"the raw {template.name} template")
        else:
            raise FimUnsupported(
                f"{self.id}: no FIM template is known for '{model}'; set fimMode to a template name or \"chat\"",
                provider=self.id,
                model=model,
            )
        async with open_stream(self, "/api/generate", payload, model=model) as resp:
            final: Chunk | None = None
            async for obj in ndjson(self, resp, model):
                if obj.get("done"):
                    final = _final(obj, obj.get("response") or "")
                elif obj.get("response") and final is None:
                    yield Chunk(obj["response"])
            # Read to the end of the body before the last chunk, so the connection goes back to the pool.
            yield final or Chunk(finish_reason="stop")

    async def stream_chat(self, model: str, req: ChatRequest) -> AsyncGenerator[Chunk, None]:
        payload = {
            "model": model,
            "stream": True,
            "messages": [_msg(m) for m in req.messages],
            "options": self._options(req.max_tokens, req.temperature, req.stop),
        }
        async with open_stream(self, "/api/chat", payload, model=model) as resp:
            final: Chunk | None = None
            async for obj in ndjson(self, resp, model):
                text = (obj.get("message") or {}).get("content") or ""
                if obj.get("done"):
                    final = _final(obj, text)
                elif text and final is None:
                    yield Chunk(text)
            yield final or Chunk(finish_reason="stop")


def _msg(m: ChatMessage) -> dict[str, str]:
    return {"role": m.role, "content": m.content}


def _final(obj: dict[str, Any], text: str) -> Chunk:
    return Chunk(
        text,
        finish_reason=obj.get("done_reason") or "stop",
        usage=Usage(int(obj.get("prompt_eval_count") or 0), int(obj.get("eval_count") or 0)),
    )
