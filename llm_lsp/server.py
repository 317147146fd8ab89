"""The language server: owns the settings, the shared HTTP client, providers, router and completion engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from llm_lsp import __version__
from llm_lsp.completion.context import PositionError, position_to_offset
from llm_lsp.completion.pipeline import CompletionEngine, CompletionInput, Suggestion
from llm_lsp.config.model import TASKS, Settings
from llm_lsp.config.sources import Layer, Problem, load
from llm_lsp.providers.base import Provider, ProviderError
from llm_lsp.providers.registry import build_providers
from llm_lsp.reporting import Reporter
from llm_lsp.routing.router import Router

log = logging.getLogger(__name__)
T = TypeVar("T")

_MESSAGE_TYPES = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


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
        self.router = Router(self.providers, routes_from(settings))
        self.engine = CompletionEngine(self.router, settings.completion)
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


class LlmLanguageServer(LanguageServer):
    def __init__(self, base_layers: list[Layer] | None = None) -> None:
        super().__init__(name="llm-lsp", version=__version__)
        self.base_layers: list[Layer] = base_layers or []
        self.init_options: dict[str, Any] = {}
        self.client_settings: dict[str, Any] = {}
        self.http = new_http_client()
        self.reporter = Reporter(self._show)
        self.ready = False
        self.problems: list[Problem] = []
        # Set by the models feature to a debounced llm-lsp/didChangeStatus notification.
        self.status_changed: Callable[[], None] = lambda: None
        self.services = self._build()
        self._current: dict[str, asyncio.Future[Any]] = {}

    # ---- configuration

    def _build(self) -> Services:
        layers = [
            *self.base_layers,
            ("initializationOptions", self.init_options),
            ("workspace/didChangeConfiguration", self.client_settings),
        ]
        settings, self.problems = load(layers)
        services = Services(settings, self.http)
        self.problems += [Problem("providers", "", p) for p in services.provider_problems]
        return services

    def reconfigure(self) -> None:
        """Rebuild providers and routes; requests in flight finish on the old ones."""
        old = self.services
        self.services = self._build()
        self.services.router.overrides = dict(old.router.overrides)
        old.stop()
        if self.ready:
            self.services.start(self.status_changed)
            self.status_changed()
        self.report_problems()

    def report_problems(self) -> None:
        for p in self.problems:
            self.reporter.problem(f"config:{p}", f"configuration: {p}")

    # ---- messages

    def _show(self, level: str, message: str) -> None:
        if not self.ready:
            log.warning("%s", message)
            return
        self.window_show_message(
            types.ShowMessageParams(type=_MESSAGE_TYPES.get(level, types.MessageType.Error), message=message)
        )

    # ---- completion

    def encoding(self) -> str:
        enc = self.workspace.position_encoding if self.ready else None
        return str(getattr(enc, "value", enc) or "utf-16")

    async def suggest(
        self, uri: str, position: types.Position, *, automatic: bool
    ) -> tuple[Suggestion | None, CompletionInput | None]:
        """The pipeline behind inline and menu completion, with the document snapshot it ran on.

        Provider failures are reported (once per cause), never raised: the answer is then empty.
        """
        doc = self.workspace.get_text_document(uri)
        try:
            text = doc.source
        except OSError:
            raise JsonRpcInvalidParams(f"{uri} is not open (send textDocument/didOpen first)") from None
        try:
            offset = position_to_offset(text, position.line, position.character, self.encoding())
        except PositionError as exc:
            raise JsonRpcInvalidParams(f"{uri}: {exc}") from None
        services = self.services
        if not services.settings.completion.enabled:
            return None, None
        inp = CompletionInput(
            text=text, offset=offset, key=uri, filename=doc.filename, language=doc.language_id, automatic=automatic
        )
        superseded, result = await self.supersede(uri, lambda: services.engine.complete(inp))
        if superseded:
            return None, inp
        try:
            suggestion = result.result()
        except ProviderError as exc:
            self.reporter.failure(exc)
            return None, inp
        if suggestion is not None and not suggestion.cached:
            self.reporter.recovered(suggestion.model_id.split("/", 1)[0])
            self.reporter.recovered("router")
        return suggestion, inp

    async def supersede(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[bool, asyncio.Future[T]]:
        """Run ``work`` as the current request for ``key``; a newer one for the same key cancels it.

        Returns (superseded, finished task). Cancelling the caller (``$/cancelRequest``) cancels the work too
        and propagates, so pygls answers RequestCancelled; a superseded request is answered normally (empty).
        """
        task: asyncio.Future[T] = asyncio.ensure_future(work())
        previous = self._current.get(key)
        self._current[key] = task
        if previous is not None and not previous.done():
            previous.cancel()
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            if self._current.get(key) is task:
                del self._current[key]
        if task.cancelled():
            return True, task
        return False, task

    async def close(self) -> None:
        self.services.stop()
        for t in list(self._current.values()):
            t.cancel()
        await self.http.aclose()


def create_server(base_layers: list[Layer] | None = None) -> LlmLanguageServer:
    from llm_lsp.features import completion, configuration, models

    server = LlmLanguageServer(base_layers)
    configuration.register(server)
    completion.register(server)
    models.register(server)
    return server
