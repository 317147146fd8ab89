"""initialize / initialized / workspace/didChangeConfiguration: feed the configuration layers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from llm_lsp.server import LlmLanguageServer

log = logging.getLogger(__name__)
SECTION = "llm-lsp"


def _section(value: Any) -> dict[str, Any]:
    """Accept both ``{"llm-lsp": {...}}`` and the bare settings object."""
    if isinstance(value, Mapping):
        inner = value.get(SECTION)
        return dict(inner) if isinstance(inner, Mapping) else dict(value)
    return {"__invalid__": value} if value is not None else {}


def register(server: LlmLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        opts = params.initialization_options
        server.init_options = _section(opts) if opts is not None else {}
        if "__invalid__" in server.init_options:
            server.init_options = {}
            log.warning("initializationOptions is not an object; ignored")
        server.services = server._build()

    @server.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        server.ready = True
        s = server.services.settings
        log.info(
            "llm-lsp ready: completion model %s; providers %s; position encoding %s",
            s.completion.model or "auto (first discovered FIM model)",
            ", ".join(f"{p.id}={p.base_url}" for p in server.services.providers.values()) or "none",
            server.encoding(),
        )
        server.report_problems()
        server.services.start(server.status_changed)

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await server.close()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if settings is None:
            return
        section = _section(settings)
        if "__invalid__" in section or section == server.client_settings:
            return  # eglot sends an empty settings object right after initialized: nothing changed
        server.client_settings = section
        server.reconfigure()
        log.info("configuration reloaded")
