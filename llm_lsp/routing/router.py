"""Which provider and model serve a task. For now: the configured model, or the best discovered FIM model."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from llm_lsp.providers.base import ModelInfo, ModelNotFound, Provider, ProviderError

log = logging.getLogger(__name__)

REDISCOVER_S = 10.0  # after a failure, how soon an automatic choice may be made again


@dataclass(frozen=True)
class Route:
    provider: Provider
    model: ModelInfo

    @property
    def model_id(self) -> str:
        return self.model.id


def split_model_id(model_id: str, provider_ids: list[str]) -> tuple[str | None, str]:
    """``provider/model`` -> (provider, model); a name whose first part is no provider id is a bare model name.

    LM Studio names contain slashes (``lmstudio-community/qwen2.5-coder``), so only a known provider id
    counts as a prefix.
    """
    head, sep, rest = model_id.partition("/")
    if sep and head in provider_ids:
        return head, rest
    return None, model_id


class Router:
    def __init__(self, providers: dict[str, Provider], completion_model: str | None) -> None:
        self.providers = providers
        self.completion_model = completion_model
        self._auto: Route | None = None
        self._auto_failed_at = 0.0
        self._lock = asyncio.Lock()

    async def discover(self) -> list[ModelInfo]:
        """Every enabled provider's models; a provider that fails is skipped (and logged)."""

        async def one(p: Provider) -> list[ModelInfo]:
            try:
                return await p.list_models()
            except ProviderError as exc:
                log.info("discovery: %s", exc.message)
                return []

        found = await asyncio.gather(*(one(p) for p in self.providers.values()))
        return [m for models in found for m in models]

    async def completion_route(self) -> Route:
        if self.completion_model:
            return await self._explicit(self.completion_model)
        async with self._lock:
            if self._auto is not None:
                return self._auto
            if time.monotonic() - self._auto_failed_at < REDISCOVER_S and self._auto_failed_at:
                raise ModelNotFound(self._no_model_message(), provider="router")
            models = await self.discover()
            best = pick_fim_model(models)
            if best is None:
                self._auto_failed_at = time.monotonic()
                raise ModelNotFound(self._no_model_message(models), provider="router")
            self._auto = Route(self.providers[best.provider], best)
            log.info(
                "completion model not configured: using %s (first discovered model that can fill in the middle)",
                best.id,
            )
            return self._auto

    def forget_auto(self) -> None:
        """Drop the automatic choice (its server failed): the next request discovers again."""
        if self._auto is not None:
            self._auto = None
            self._auto_failed_at = time.monotonic()

    def _no_model_message(self, models: list[ModelInfo] | None = None) -> str:
        where = ", ".join(f"{p.id} ({p.base_url})" for p in self.providers.values()) or "no providers configured"
        if models:
            names = ", ".join(m.id for m in models[:8])
            return (
                f"no discovered model can fill in the middle (found: {names}). "
                'Set completion.model, e.g. "ollama/qwen2.5-coder:1.5b".'
            )
        return (
            f"no completion model: none configured and none discovered at {where}. "
            "Start Ollama or LM Studio, or set completion.model."
        )

    async def _explicit(self, model_id: str) -> Route:
        provider_id, name = split_model_id(model_id, list(self.providers))
        if provider_id is not None:
            provider = self.providers[provider_id]
            return Route(provider, await provider.model_info(name))
        # A bare name: whichever provider has it.
        for m in await self.discover():
            if m.name == name:
                return Route(self.providers[m.provider], m)
        ids = ", ".join(self.providers)
        raise ModelNotFound(
            f"model '{model_id}' not found on any provider ({ids}); write it as provider/model",
            provider="router",
            model=model_id,
        )


def pick_fim_model(models: list[ModelInfo]) -> ModelInfo | None:
    """Prefer local, native FIM, loaded; keep discovery order otherwise."""
    fim = [m for m in models if "fim" in m.capabilities]
    if not fim:
        return None
    return sorted(fim, key=lambda m: (not m.local, not m.native_fim, not m.loaded))[0]
