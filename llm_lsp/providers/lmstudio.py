"""LM Studio: OpenAI-compatible, plus its native model listing (REST v1, then v0, then /v1/models).

LM Studio answers unknown endpoints with HTTP 200 and an error body; ``get_json`` checks bodies, so an
older LM Studio without REST v1 falls through to v0 and then to /v1/models.
"""

from __future__ import annotations

import logging
from typing import Any

from llm_lsp.providers.base import BadResponse, ModelInfo
from llm_lsp.providers.openai_compat import OpenAICompatProvider, infer_capabilities
from llm_lsp.providers.wire import get_json

log = logging.getLogger(__name__)


def _from_v1(m: dict[str, Any], provider: str, local: bool) -> ModelInfo:
    loaded = m.get("loaded_instances") or []
    ctx = None
    if loaded:
        ctx = ((loaded[0] or {}).get("config") or {}).get("context_length")
    caps = set(infer_capabilities(m["key"], "embedding" if m.get("type") == "embedding" else None))
    flags = m.get("capabilities") or {}
    if isinstance(flags, dict):
        if flags.get("vision"):
            caps.add("vision")
        if flags.get("trained_for_tool_use"):
            caps.add("tools")
    quant = m.get("quantization")
    return ModelInfo(
        provider=provider,
        name=m["key"],
        capabilities=frozenset(caps),
        context_length=ctx or m.get("max_context_length"),
        loaded=bool(loaded),
        size_bytes=m.get("size_bytes"),
        quantization=quant.get("name") if isinstance(quant, dict) else quant,
        family=m.get("architecture"),
        local=local,
    )


def _from_v0(m: dict[str, Any], provider: str, local: bool) -> ModelInfo:
    caps = set(infer_capabilities(m["id"], m.get("type")))
    for c in m.get("capabilities") or []:
        if c in ("tool_use", "tools"):
            caps.add("tools")
    return ModelInfo(
        provider=provider,
        name=m["id"],
        capabilities=frozenset(caps),
        context_length=m.get("max_context_length"),
        loaded=m.get("state") == "loaded",
        quantization=m.get("quantization"),
        family=m.get("arch"),
        local=local,
    )


class LMStudioProvider(OpenAICompatProvider):
    kind = "lmstudio"

    def kind_label(self) -> str:
        return "LM Studio"

    async def probe(self) -> None:
        try:
            body = await get_json(self, "/lmstudio-greeting")
        except BadResponse:
            body = None  # older versions have no greeting: any OpenAI-compatible answer will do
        if not (isinstance(body, dict) and body.get("lmstudio") is True):
            await super().probe()

    async def list_models(self) -> list[ModelInfo]:
        try:
            body = await get_json(self, "/api/v1/models")
            if isinstance(body.get("models"), list):
                return self.remember([_from_v1(m, self.id, self.local) for m in body["models"] if m.get("key")])
        except BadResponse as exc:
            log.debug("%s: REST v1 listing unavailable (%s); trying v0", self.id, exc)
        try:
            body = await get_json(self, "/api/v0/models")
            if isinstance(body.get("data"), list):
                return self.remember([_from_v0(m, self.id, self.local) for m in body["data"] if m.get("id")])
        except BadResponse as exc:
            log.debug("%s: REST v0 listing unavailable (%s); trying /v1/models", self.id, exc)
        return await super().list_models()
