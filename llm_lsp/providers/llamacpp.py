"""llama.cpp's llama-server: OpenAI-compatible, plus native fill-in-the-middle through /infill."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from llm_lsp.providers.base import (
    BadResponse,
    Chunk,
    FimRequest,
    FimUnsupported,
    ModelInfo,
    Overloaded,
    ProviderError,
    Usage,
)
from llm_lsp.providers.openai_compat import OpenAICompatProvider, infer_capabilities
from llm_lsp.providers.wire import get_json, get_text, open_stream, sse_json

log = logging.getLogger(__name__)


class LlamaCppProvider(OpenAICompatProvider):
    kind = "llamacpp"
    # llama-server closes the connection after every stream although it advertises keep-alive; say so up front
    # rather than reuse a connection it has closed.
    stream_headers = {"Connection": "close"}

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._infill_ok: bool | None = None  # unknown until the first /infill answer

    def kind_label(self) -> str:
        return "llama.cpp server"

    async def probe(self) -> None:
        status, _ = await get_text(self, "/health")
        if status == 503:
            raise Overloaded(
                f"{self.id}: llama.cpp server at {self.base_url} is still loading its model", provider=self.id
            )
        if status != 200:
            raise BadResponse(
                f"{self.id}: {self.base_url} answered GET /health with HTTP {status}: not a llama.cpp server?",
                provider=self.id,
            )

    async def list_models(self) -> list[ModelInfo]:
        body = await get_json(self, self.models_path)
        n_ctx: int | None = None
        try:
            props = await get_json(self, "/props")
            n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
        except ProviderError as exc:
            log.debug("%s: /props unavailable: %s", self.id, exc)
        models = []
        for m in body.get("data") or []:
            if not isinstance(m, dict) or not m.get("id"):
                continue
            meta = m.get("meta") or {}
            caps = set(infer_capabilities(m["id"]))
            if self._infill_ok is not False:
                caps.add("fim")
            models.append(
                ModelInfo(
                    provider=self.id,
                    name=m["id"],
                    capabilities=frozenset(caps),
                    context_length=n_ctx or meta.get("n_ctx_train"),
                    loaded=True,
                    size_bytes=meta.get("size"),
                    local=self.local,
                    native_fim=self._infill_ok is not False,
                )
            )
        return self.remember(models)

    def fim_mode(self, info: ModelInfo) -> str:
        if self.settings.fim_mode == "auto" and self._infill_ok is not False:
            return "native"
        return super().fim_mode(info)

    async def native_fim(self, model: str, req: FimRequest) -> AsyncGenerator[Chunk, None]:
        payload: dict[str, Any] = {
            "input_prefix": req.prefix,
            "input_suffix": req.suffix,
            "n_predict": req.max_tokens,
            "temperature": req.temperature,
            "stream": True,
            "cache_prompt": True,
        }
        if req.stop:
            payload["stop"] = list(req.stop)
        try:
            async with open_stream(self, "/infill", payload, model=model) as resp:
                self._infill_ok = True
                async for obj in sse_json(self, resp, model):
                    text = obj.get("content") or ""
                    if obj.get("stop"):
                        reason = "length" if obj.get("stop_type") == "limit" else "stop"
                        usage = Usage(int(obj.get("tokens_evaluated") or 0), int(obj.get("tokens_predicted") or 0))
                        yield Chunk(text, finish_reason=reason, usage=usage)
                        return
                    if text:
                        yield Chunk(text)
            yield Chunk(finish_reason="stop")
        except FimUnsupported:
            if self._infill_ok or self.settings.fim_mode == "native":
                raise
            # The model's vocabulary lacks FIM tokens: remember, and fill with a template or chat prompt instead.
            self._infill_ok = False
            log.warning("%s: /infill is not supported by this model; falling back to prompts", self.id)
            async for c in self.stream_fim(model, req):
                yield c
