"""The completion pipeline: context -> cache -> debounce -> route -> stream -> shape.

Independent of LSP: the language server and the ``llm-lsp complete`` command both call
:meth:`CompletionEngine.complete`. Cancelling the calling task at any point stops the work; when a
stream is open, leaving it closes the HTTP connection so the model server stops generating.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass

from llm_lsp.completion.cache import SuggestionCache
from llm_lsp.completion.context import Window, char_budget, window
from llm_lsp.completion.debounce import AdaptiveDebounce
from llm_lsp.completion.postprocess import Shaper, wants_multiline
from llm_lsp.config.model import CompletionConfig, PrivacyConfig
from llm_lsp.privacy import redact
from llm_lsp.providers.base import Chunk, FimRequest, ProviderTimeout
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


class CompletionEngine:
    def __init__(self, router: Router, config: CompletionConfig, privacy: PrivacyConfig | None = None) -> None:
        self.router = router
        self.config = config
        self.privacy = privacy or PrivacyConfig()
        self.cache = SuggestionCache(config.cache_size)
        self.debounce = AdaptiveDebounce(min_ms=config.debounce_min_ms, max_ms=config.debounce_max_ms)
        self._announced = ""

    async def complete(self, inp: CompletionInput) -> Suggestion | None:
        """A suggestion at the cursor, or None when there is nothing worth showing.

        Raises ProviderError for failures the caller should report.
        """
        cfg = self.config
        if inp.automatic:
            self.debounce.observe_keystroke(inp.key)
        routes = await self.router.route("completion")
        primary = routes[0]
        if primary.model_id != self._announced:
            self._announced = primary.model_id
            how = "configured" if self.router.routes.get("completion") else "auto: the best discovered FIM model"
            log.info("completion model: %s (%s)", primary.model_id, how)
        win = self._window(inp, primary)
        multiline = wants_multiline(win.line_prefix, win.line_suffix, cfg.multiline)
        cached = self.cache.get(primary.model_id, win.prefix, win.suffix)
        if cached is not None:
            return Suggestion(cached, primary.model_id, cached=True, multiline="\n" in cached)
        if inp.automatic:
            await asyncio.sleep(self.debounce_s())
        shaper = Shaper(win.line_prefix, win.line_suffix, win.suffix, multiline, cfg.max_lines)
        stop = () if multiline else ("\n",) if win.line_prefix.strip() else ()

        def open_stream(route: Route) -> AsyncGenerator[Chunk, None]:
            w = win if route is primary else self._window(inp, route)
            prefix, suffix = w.prefix, w.suffix
            if self.privacy.redact and not route.provider.local:
                prefix, n1 = redact(prefix)
                suffix, n2 = redact(suffix)
                if n1 + n2:
                    log.info("redacted %d secret(s) before sending to %s", n1 + n2, route.provider.id)
            req = FimRequest(
                prefix=prefix,
                suffix=suffix,
                max_tokens=cfg.max_tokens,
                temperature=cfg.temperature,
                stop=stop,
                filename=inp.filename,
                language=inp.language,
            )
            return route.provider.stream_fim(route.model.name, req)

        started = time.perf_counter()
        served, raw = await self._generate(routes, open_stream, shaper)
        latency = (time.perf_counter() - started) * 1000.0
        self.debounce.observe_latency(latency)
        text = shaper.finish(raw)
        log.debug("completion from %s in %.0f ms: %r -> %r", served.model_id, latency, raw[:80], text[:80])
        if not text:
            return None
        self.cache.put(served.model_id, win.prefix, win.suffix, text)
        return Suggestion(text, served.model_id, multiline=multiline, latency_ms=latency)

    def _window(self, inp: CompletionInput, route: Route) -> Window:
        cfg = self.config
        prefix_chars, suffix_chars = char_budget(
            route.model.context_length, cfg.max_tokens, cfg.max_prefix_chars, cfg.max_suffix_chars
        )
        return window(inp.text, inp.offset, prefix_chars, suffix_chars)

    def debounce_s(self) -> float:
        fixed = self.config.debounce_ms
        return (fixed if fixed is not None else self.debounce.delay_ms()) / 1000.0

    async def _generate(
        self, routes: list[Route], open_stream: Callable[[Route], AsyncGenerator[Chunk, None]], shaper: Shaper
    ) -> tuple[Route, str]:
        try:
            return await asyncio.wait_for(self._stream(routes, open_stream, shaper), self.config.timeout_ms / 1000.0)
        except asyncio.TimeoutError:
            raise ProviderTimeout(
                f"no complete suggestion from {routes[0].model_id} within {self.config.timeout_ms} ms "
                "(completion.timeoutMs)",
                provider=routes[0].provider.id,
                model=routes[0].model.name,
            ) from None

    async def _stream(
        self, routes: list[Route], open_stream: Callable[[Route], AsyncGenerator[Chunk, None]], shaper: Shaper
    ) -> tuple[Route, str]:
        parts: list[str] = []
        served = routes[0]
        async with aclosing(self.router.stream("completion", routes, open_stream)) as stream:
            async for route, chunk in stream:
                served = route
                parts.append(chunk.text)
                if chunk.finish_reason:
                    break
                if shaper.done("".join(parts)):
                    break
        return served, "".join(parts)
