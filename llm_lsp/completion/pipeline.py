"""The completion pipeline: context -> cache -> debounce -> route -> stream -> shape.

Independent of LSP: the language server and the ``llm-lsp complete`` command both call
:meth:`CompletionEngine.complete`. Cancelling the calling task at any point stops the work; when a
stream is open, leaving it closes the HTTP connection so the model server stops generating.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass

from llm_lsp.completion.cache import SuggestionCache
from llm_lsp.completion.context import char_budget, window
from llm_lsp.completion.debounce import AdaptiveDebounce
from llm_lsp.completion.postprocess import Shaper, wants_multiline
from llm_lsp.config.model import CompletionConfig
from llm_lsp.providers.base import FimRequest, ProviderError, ProviderTimeout
from llm_lsp.routing.router import Route, Router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompletionInput:
    text: str  # the whole document
    offset: int  # cursor, in code points
    key: str = ""  # the document's identity (URI), for debounce and supersession
    filename: str | None = None
    language: str | None = None
    automatic: bool = True  # typed (debounced) vs explicitly invoked (immediate)


@dataclass(frozen=True)
class Suggestion:
    text: str
    model_id: str
    cached: bool = False
    multiline: bool = False
    latency_ms: float = 0.0


@dataclass
class Stats:
    requests: int = 0
    backend_requests: int = 0
    cache_hits: int = 0
    early_stops: int = 0


class CompletionEngine:
    def __init__(self, router: Router, config: CompletionConfig) -> None:
        self.router = router
        self.config = config
        self.cache = SuggestionCache(config.cache_size)
        self.debounce = AdaptiveDebounce(min_ms=config.debounce_min_ms, max_ms=config.debounce_max_ms)
        self.stats = Stats()

    async def complete(self, inp: CompletionInput) -> Suggestion | None:
        """A suggestion at the cursor, or None when there is nothing worth showing.

        Raises ProviderError for failures the caller should report.
        """
        cfg = self.config
        self.stats.requests += 1
        if inp.automatic:
            self.debounce.observe_keystroke(inp.key)
        route = await self.router.completion_route()
        prefix_chars, suffix_chars = char_budget(
            route.model.context_length, cfg.max_tokens, cfg.max_prefix_chars, cfg.max_suffix_chars
        )
        win = window(inp.text, inp.offset, prefix_chars, suffix_chars)
        multiline = wants_multiline(win.line_prefix, win.line_suffix, cfg.multiline)
        cached = self.cache.get(route.model_id, win.prefix, win.suffix)
        if cached is not None:
            self.stats.cache_hits += 1
            return Suggestion(cached, route.model_id, cached=True, multiline="\n" in cached)
        if inp.automatic:
            await asyncio.sleep(self.debounce_s())
        shaper = Shaper(win.line_prefix, win.line_suffix, win.suffix, multiline, cfg.max_lines)
        req = FimRequest(
            prefix=win.prefix,
            suffix=win.suffix,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            stop=() if multiline else ("\n",) if win.line_prefix.strip() else (),
            filename=inp.filename,
            language=inp.language,
        )
        started = time.perf_counter()
        raw = await self._generate(route, req, shaper)
        latency = (time.perf_counter() - started) * 1000.0
        self.debounce.observe_latency(latency)
        text = shaper.finish(raw)
        log.debug("completion from %s in %.0f ms: %r -> %r", route.model_id, latency, raw[:80], text[:80])
        if not text:
            return None
        self.cache.put(route.model_id, win.prefix, win.suffix, text)
        return Suggestion(text, route.model_id, multiline=multiline, latency_ms=latency)

    def debounce_s(self) -> float:
        fixed = self.config.debounce_ms
        return (fixed if fixed is not None else self.debounce.delay_ms()) / 1000.0

    async def _generate(self, route: Route, req: FimRequest, shaper: Shaper) -> str:
        self.stats.backend_requests += 1
        try:
            return await asyncio.wait_for(self._stream(route, req, shaper), self.config.timeout_ms / 1000.0)
        except asyncio.TimeoutError:
            raise ProviderTimeout(
                f"{route.provider.id}: no complete suggestion from {route.model_id} within "
                f"{self.config.timeout_ms} ms (completion.timeoutMs)",
                provider=route.provider.id,
                model=route.model.name,
            ) from None
        except ProviderError:
            if not self.router.completion_model:
                self.router.forget_auto()
            raise

    async def _stream(self, route: Route, req: FimRequest, shaper: Shaper) -> str:
        parts: list[str] = []
        async with aclosing(route.provider.stream_fim(route.model.name, req)) as stream:
            async for chunk in stream:
                parts.append(chunk.text)
                if chunk.finish_reason:
                    break
                if shaper.done("".join(parts)):
                    self.stats.early_stops += 1
                    break
        return "".join(parts)
