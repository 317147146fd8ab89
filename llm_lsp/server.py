"""The language server: owns the configuration, the shared HTTP client, and the services of each workspace folder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from llm_lsp import __version__
from llm_lsp.completion.context import PositionError, position_to_offset
from llm_lsp.completion.pipeline import CompletionInput, Suggestion
from llm_lsp.config.sources import Problem, defaults_layer, env_layer
from llm_lsp.config.workspace import ConfigSet, FolderSettings
from llm_lsp.privacy import is_excluded
from llm_lsp.providers.base import ProviderError
from llm_lsp.reporting import Reporter
from llm_lsp.services import Services, new_http_client

log = logging.getLogger(__name__)
T = TypeVar("T")

_MESSAGE_TYPES = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


class LlmLanguageServer(LanguageServer):
    def __init__(self, config: ConfigSet | None = None) -> None:
        super().__init__(name="llm-lsp", version=__version__)
        self.config = config or ConfigSet([("defaults", defaults_layer()), ("environment", env_layer())])
        self.http = new_http_client()
        self.reporter = Reporter(self._show)
        self.ready = False
        self.folders: dict[str | None, tuple[FolderSettings, Services]] = {}
        # Set by the models feature to a debounced llm-lsp/didChangeStatus notification.
        self.status_changed: Callable[[], None] = lambda: None
        # Set by the configuration feature to publish diagnostics on open configuration files.
        self.problems_changed: Callable[[], None] = lambda: None
        self._current: dict[str, asyncio.Future[Any]] = {}
        self.rebuild()

    # ---- configuration

    @property
    def services(self) -> Services:
        """The services of the first folder (or of documents outside every folder)."""
        return next(iter(self.folders.values()))[1]

    def rebuild(self) -> None:
        """Recompute every folder's effective settings; unchanged settings keep their services (health, inventory,
        cache), changed ones get new services. Requests in flight finish on the services they started with."""
        old = {fs.key: services for fs, services in self.folders.values()}
        folders: dict[str | None, tuple[FolderSettings, Services]] = {}
        for folder in [*self.config.folder_files, None]:
            fs = self.config.build(folder)
            services = old.get(fs.key) or next((s for f, s in folders.values() if f.key == fs.key), None)
            if services is None:
                services = Services(fs.settings, self.http)
                if folder in self.folders:  # selections made in this session survive a reload
                    services.router.overrides = dict(self.folders[folder][1].router.overrides)
            folders[folder] = (fs, services)
        kept = {id(s) for _, s in folders.values()}
        for services in old.values():
            if id(services) not in kept:
                services.stop()
        self.folders = folders
        if self.ready:  # before initialized, problems wait: the client cannot be shown anything yet
            # Documents outside every folder are rare: their services start when one is used, so that they
            # never contact a provider that every folder's settings (e.g. local-only) keep out.
            for key, (_, services) in folders.items():
                if key is not None or len(folders) == 1:
                    services.start(self.status_changed)
            self.status_changed()
            self.report_problems()

    def problems(self) -> list[Problem]:
        seen: dict[str, Problem] = {}
        for fs, services in self.folders.values():
            for p in fs.problems + [Problem("providers", "", m) for m in services.provider_problems]:
                seen.setdefault(str(p), p)
        return list(seen.values())

    def report_problems(self) -> None:
        for p in self.problems():
            self.reporter.problem(f"config:{p}", f"configuration: {p}")
        self.problems_changed()

    def folder_of(self, uri: str) -> str | None:
        path = to_fs_path(uri) or ""
        best = None
        for folder in self.config.folder_files:
            if (path == folder or path.startswith(folder.rstrip("/") + "/")) and len(folder) > len(best or ""):
                best = folder
        return best

    def for_document(self, uri: str | None) -> tuple[FolderSettings, Services]:
        """The settings and services of a document's folder (of the first folder when no document is named)."""
        key = self.folder_of(uri) if uri else next(iter(self.folders))
        fs, services = self.folders.get(key) or self.folders[None]
        if self.ready:
            services.start(self.status_changed)
        return fs, services

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
        fs, services = self.for_document(uri)
        if not services.settings.completion.enabled:
            return None, None
        path = to_fs_path(uri)
        if path and is_excluded(path, fs.folder, fs.settings.exclude):
            log.debug("%s is excluded: no completion", path)
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
        for _, services in self.folders.values():
            services.stop()
        for t in list(self._current.values()):
            t.cancel()
        await self.http.aclose()


def create_server(config: ConfigSet | None = None) -> LlmLanguageServer:
    from llm_lsp.features import completion, configuration, models

    server = LlmLanguageServer(config)
    configuration.register(server)
    completion.register(server)
    models.register(server)
    return server
