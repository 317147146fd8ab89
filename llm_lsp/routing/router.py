"""Which provider and model serve a task, with health, fallback and an inventory of discovered models.

Retries, fallback, health and metrics live here, once; providers only speak their wire format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from llm_lsp.providers.base import (
    AuthFailed,
    Chunk,
    FimUnsupported,
    ModelInfo,
    ModelNotFound,
    Provider,
    ProviderError,
)
from llm_lsp.routing.health import Health, Status
from llm_lsp.routing.select import TASK_CAPABILITY, expand, split_model_id

log = logging.getLogger(__name__)

PROBE_TICK_S = 0.25
DISCOVERY_INTERVAL_S = 60.0
# Failures that say nothing about the server's health: the request or configuration is at fault.
SOFT_FAILURES = (ModelNotFound, FimUnsupported, AuthFailed)

__all__ = ["Route", "Router", "split_model_id"]


@dataclass(frozen=True)
class Route:
    provider: Provider
    model: ModelInfo

    @property
    def model_id(self) -> str:
        return self.model.id


@dataclass(frozen=True)
class Event:
    at: float
    task: str
    text: str


class NoRoute(ProviderError):
    kind = "no_route"


class Router:
    def __init__(
        self,
        providers: dict[str, Provider],
        routes: dict[str, list[str]],
        clock: Callable[[], float] = time.monotonic,
        *,
        local_only: bool = False,
    ) -> None:
        self.providers = providers
        self.local_only = local_only  # privacy.mode = "local-only": providers that are not local are never used
        self.routes = routes  # task -> configured candidate specs
        self.overrides: dict[str, str] = {}  # task -> model chosen in this session (llm-lsp/selectModel)
        self.health = {pid: Health() for pid in providers}
        self.inventory: dict[str, list[ModelInfo]] = {}
        self.events: deque[Event] = deque(maxlen=20)  # recent fallbacks and errors, for status
        self.on_change: Callable[[], None] = lambda: None
        self.clock = clock
        self.missing: dict[str, ModelNotFound] = {}  # exact candidates the server says do not exist
        self._discovering: dict[str, asyncio.Future[list[ModelInfo]]] = {}
        self._last_discovery = 0.0

    # ------------------------------------------------------------------ candidates

    def specs(self, task: str) -> list[str]:
        specs = list(self.routes.get(task) or ["auto"])
        chosen = self.overrides.get(task)
        if chosen:
            specs = [chosen, *[s for s in specs if s != chosen]]
        return specs

    async def candidates(self, task: str, *, healthy_only: bool = True) -> list[Route]:
        """Concrete routes for a task, in preference order; unavailable providers left out when asked."""
        await self._ensure_inventory()
        capability = TASK_CAPABILITY[task]
        out: list[Route] = []
        seen: set[str] = set()
        for spec in self.specs(task):
            for info in await self._resolve_spec(spec, capability):
                if info.id in seen or info.provider not in self.providers:
                    continue
                if not self.allowed(info.provider):
                    continue
                if healthy_only and not self.health[info.provider].usable:
                    continue
                seen.add(info.id)
                out.append(Route(self.providers[info.provider], info))
        return out

    async def _resolve_spec(self, spec: str, capability: str) -> list[ModelInfo]:
        provider_id, name = split_model_id(spec, list(self.providers))
        if provider_id is not None and name not in ("*", ""):
            known = {m.name: m for m in self.inventory.get(provider_id, [])}
            if name in known:
                return [known[name]]
            if not self.health[provider_id].usable or not self.allowed(provider_id):
                # Keep the candidate so that status can show it; routing skips it (health, privacy).
                return [ModelInfo(provider_id, name, local=self.providers[provider_id].local)]
            try:
                info = await self.providers[provider_id].model_info(name)
                self.missing.pop(spec, None)
                return [info]
            except ModelNotFound as exc:
                if spec not in self.missing:
                    self.note("routing", exc.message)
                self.missing[spec] = exc
                return []
            except ProviderError as exc:
                self.failed(self.providers[provider_id], exc)
                return [ModelInfo(provider_id, name, local=self.providers[provider_id].local)]
        return expand(spec, capability, self.inventory, list(self.providers))

    async def route(self, task: str) -> list[Route]:
        """Candidates to try for one request; raises NoRoute with an actionable message when there are none."""
        routes = await self.candidates(task)
        if routes:
            return routes
        missing = [self.missing[s] for s in self.specs(task) if s in self.missing]
        if missing and len(missing) == len(self.specs(task)):
            raise missing[0]
        everything = await self.candidates(task, healthy_only=False)
        if everything:
            down = ", ".join(
                f"{p.id} ({self.health[p.id].last_error or 'unavailable'})"
                for p in {r.provider.id: r.provider for r in everything}.values()
            )
            raise NoRoute(
                f"every {task} candidate is unavailable: {down}; retrying in the background", provider="router"
            )
        raise NoRoute(self._nothing_message(task), provider="router")

    def _privacy_note(self) -> str:
        skipped = self.skipped_for_privacy()
        return f" ({', '.join(skipped)} skipped: privacy.mode is local-only)" if skipped else ""

    def _nothing_message(self, task: str) -> str:
        where = ", ".join(f"{p.id} ({p.base_url})" for p in self.providers.values()) or "no providers configured"
        found = [m.id for ms in self.inventory.values() for m in ms][:8]
        need = TASK_CAPABILITY[task]
        specs = ", ".join(self.specs(task))
        if self.skipped_for_privacy():
            specs += self._privacy_note()
        if found:
            return (
                f"no model for {task} (candidates: {specs}): none of the discovered models ({', '.join(found)}) "
                f"has the '{need}' capability. Set routes.{task}, e.g. \"ollama/qwen2.5-coder:1.5b\"."
            )
        return (
            f"no model for {task} (candidates: {specs}) and none discovered at {where}. "
            "Start Ollama or LM Studio, or set completion.model / routes."
        )

    # ------------------------------------------------------------------ serving with fallback

    async def stream(
        self, task: str, routes: list[Route], open_stream: Callable[[Route], AsyncGenerator[Chunk, None]]
    ) -> AsyncGenerator[tuple[Route, Chunk], None]:
        """Chunks from the first candidate that starts answering; a candidate that fails before its first chunk
        hands the same request to the next one. A failure after output has started is raised."""
        errors: list[ProviderError] = []
        for n, route in enumerate(routes):
            started = self.clock()
            gen = open_stream(route)
            try:
                first = await gen.__anext__()
            except StopAsyncIteration:
                self.succeeded(route.provider, (self.clock() - started) * 1000)
                return
            except ProviderError as exc:
                await gen.aclose()
                self.failed(route.provider, exc)
                errors.append(exc)
                if n + 1 < len(routes):
                    self.note(task, f"{route.model_id} failed ({exc.kind}); falling back to {routes[n + 1].model_id}")
                continue
            except BaseException:
                await gen.aclose()
                raise
            self.succeeded(route.provider, (self.clock() - started) * 1000)
            try:
                yield route, first
                async for chunk in gen:
                    yield route, chunk
            except ProviderError as exc:
                self.failed(route.provider, exc)
                raise
            finally:
                await gen.aclose()
            return
        if errors:
            raise errors[0] if len(errors) == 1 else _all_failed(task, errors)
        raise NoRoute(self._nothing_message(task), provider="router")

    # ------------------------------------------------------------------ health

    def succeeded(self, provider: Provider, latency_ms: float | None = None) -> None:
        if self.health[provider.id].success(latency_ms):
            log.info("%s is %s", provider.id, Status.AVAILABLE.value)
            self.on_change()

    def failed(self, provider: Provider, exc: ProviderError) -> None:
        if isinstance(exc, SOFT_FAILURES):
            return
        health = self.health[provider.id]
        if health.failure(exc.message, self.clock()):
            log.info("%s is %s: %s", provider.id, health.status.value, exc.message)
            self.on_change()

    def note(self, task: str, text: str) -> None:
        log.warning("%s: %s", task, text)
        self.events.append(Event(time.time(), task, text))

    async def probe_due(self) -> None:
        """Re-probe providers whose backoff has expired; a recovered one gets its inventory refreshed."""
        now = self.clock()
        due = [p for pid, p in self.providers.items() if self.health[pid].probe_due(now) and self.allowed(pid)]
        await asyncio.gather(*(self._probe(p) for p in due))

    async def _probe(self, provider: Provider) -> None:
        started = self.clock()
        try:
            await provider.probe()
        except ProviderError as exc:
            self.failed(provider, exc)
            return
        self.succeeded(provider, (self.clock() - started) * 1000)
        await self.discover([provider.id])

    async def run_background(self) -> None:
        """Probe loop (every 250 ms, only providers that are due) and periodic rediscovery."""
        while True:
            await asyncio.sleep(PROBE_TICK_S)
            try:
                await self.probe_due()
                if self.clock() - self._last_discovery > DISCOVERY_INTERVAL_S:
                    await self.discover(
                        [pid for pid in self.providers if self.health[pid].status != Status.UNAVAILABLE]
                    )
            except Exception:
                log.exception("background probe failed")

    # ------------------------------------------------------------------ discovery

    def close(self) -> None:
        for pending in list(self._discovering.values()):
            pending.cancel()

    def skipped_for_privacy(self) -> list[str]:
        return [pid for pid in self.providers if not self.allowed(pid)]

    async def settle(self) -> None:
        """Wait for discoveries in flight, and discover providers never listed yet (a request for the inventory
        must not answer with half of it while a slower server is still being asked)."""
        pending = list(self._discovering.values())
        if pending:
            await asyncio.gather(*(asyncio.shield(p) for p in pending), return_exceptions=True)
        await self._ensure_inventory()

    def allowed(self, pid: str) -> bool:
        """local-only: a provider that is not local is never contacted, not even to list its models."""
        return not (self.local_only and not self.providers[pid].local)

    async def _ensure_inventory(self) -> None:
        missing = [
            pid for pid in self.providers if pid not in self.inventory and self.health[pid].usable and self.allowed(pid)
        ]
        if missing:
            await self.discover(missing)

    async def discover(self, provider_ids: list[str] | None = None) -> list[ModelInfo]:
        """Refresh the inventory of these providers (all by default); concurrent callers share one request."""
        ids = [pid for pid in (list(self.providers) if provider_ids is None else provider_ids) if self.allowed(pid)]
        if provider_ids is None:
            self._last_discovery = self.clock()
        await asyncio.gather(*(self._discover_one(pid) for pid in ids))
        return [m for pid in self.providers for m in self.inventory.get(pid, [])]

    async def _discover_one(self, pid: str) -> list[ModelInfo]:
        pending = self._discovering.get(pid)
        if pending is None:
            pending = asyncio.ensure_future(self._list(pid))
            self._discovering[pid] = pending
            pending.add_done_callback(lambda _: self._discovering.pop(pid, None))
        return await asyncio.shield(pending)

    async def _list(self, pid: str) -> list[ModelInfo]:
        provider = self.providers[pid]
        started = self.clock()
        try:
            await provider.probe()  # fingerprint first: "not an Ollama server" says more than a 404 on /api/tags
            models = await provider.list_models()
        except ProviderError as exc:
            log.info("discovery: %s", exc.message)
            self.failed(provider, exc)
            return []
        self.succeeded(provider, (self.clock() - started) * 1000)
        before = [m.id for m in self.inventory.get(pid, [])]
        self.inventory[pid] = models
        if [m.id for m in models] != before:
            log.info("%s: %d model(s): %s", pid, len(models), ", ".join(m.name for m in models[:10]))
            self.on_change()
        return models


def _all_failed(task: str, errors: list[ProviderError]) -> ProviderError:
    first = errors[0]
    others = "; ".join(e.message for e in errors[1:])
    exc = type(first)(f"{first.message} (fallbacks failed too: {others})", provider=first.provider, model=first.model)
    return exc
