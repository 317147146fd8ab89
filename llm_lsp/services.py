"""What one effective configuration builds: providers, router and completion engine, and their background work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from llm_lsp import __version__
from llm_lsp.completion.pipeline import CompletionEngine
from llm_lsp.config.model import TASKS, Settings
from llm_lsp.providers.base import Provider
from llm_lsp.providers.registry import build_providers
from llm_lsp.routing.router import Router


def new_http_client() -> httpx.AsyncClient:
    # One client for the process: connection reuse to local servers saves a TCP handshake per keystroke.
    # trust_env=False: a proxy from the environment must never sit between us and a loopback model server.
    return httpx.AsyncClient(
        trust_env=False,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30),
        headers={"User-Agent": f"llm-lsp/{__version__}"},
    )


class Services:
    """What one effective configuration builds: providers, router, completion engine."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.providers: dict[str, Provider]
        self.providers, self.provider_problems = build_providers(settings, http)
        self.router = Router(self.providers, routes_from(settings), local_only=settings.privacy.mode == "local-only")
        self.engine = CompletionEngine(self.router, settings.completion, settings.privacy)
        self._background: asyncio.Task[None] | None = None

    def start(self, on_change: Callable[[], None]) -> None:
        """Discover models now and keep probing providers in the background (the server does; the CLI does not)."""
        self.router.on_change = on_change
        if self._background is None:
            self._background = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        await self.router.discover()
        await self.router.run_background()

    def stop(self) -> None:
        self.router.close()
        if self._background is not None:
            self._background.cancel()
            self._background = None


def routes_from(settings: Settings) -> dict[str, list[str]]:
    """Configured candidates per task; ``completion.model`` is a shorthand for the first completion candidate."""
    routes = {task: list(getattr(settings.routes, task) or []) for task in TASKS}
    model = settings.completion.model
    if model and model not in routes["completion"]:
        routes["completion"].insert(0, model)
    return {task: specs for task, specs in routes.items() if specs}
