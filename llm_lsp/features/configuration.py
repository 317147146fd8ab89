"""Lifecycle and configuration: initialize, workspace/configuration pulls, watched configuration files, live reload,
and diagnostics on open configuration files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from llm_lsp.config.files import WORKSPACE_FILE

if TYPE_CHECKING:
    from llm_lsp.server import LlmLanguageServer

log = logging.getLogger(__name__)
SECTION = "llm-lsp"
POLL_S = 2.0  # where the client cannot watch files for us


def _section(value: Any) -> dict[str, Any] | None:
    """Accept both ``{"llm-lsp": {...}}`` and the bare settings object; None for anything that is not an object."""
    if hasattr(value, "_asdict"):
        from llm_lsp.features.models import plain

        value = plain(value)
    if isinstance(value, Mapping):
        inner = value.get(SECTION)
        return dict(inner) if isinstance(inner, Mapping) else dict(value)
    return None


def _folders(params: types.InitializeParams) -> list[str]:
    uris = [f.uri for f in params.workspace_folders or []] or ([params.root_uri] if params.root_uri else [])
    return [p for p in (to_fs_path(u) for u in uris) if p]


def register(server: LlmLanguageServer) -> None:
    config = server.config
    state: dict[str, Any] = {"poller": None}

    def caps() -> types.ClientCapabilities:
        return server.client_capabilities

    def can_pull() -> bool:
        ws = caps().workspace
        return bool(ws and ws.configuration)

    async def pull() -> None:
        """workspace/configuration: the global section and each folder's (scopeUri)."""
        folders = list(config.folder_files)
        items = [types.ConfigurationItem(section=SECTION)] + [
            types.ConfigurationItem(scope_uri=from_fs_path(f), section=SECTION) for f in folders
        ]
        try:
            values = await server.workspace_configuration_async(types.ConfigurationParams(items=items))
        except Exception as exc:
            log.warning("workspace/configuration failed: %s", exc)
            return
        values = list(values or [])
        config.client_global = _section(values[0]) or {} if values else {}
        config.client_folders = {
            f: s for f, v in zip(folders, values[1:], strict=False) if (s := _section(v)) is not None
        }

    def reload(reason: str) -> None:
        config.reread()
        server.rebuild()
        log.info("configuration reloaded (%s)", reason)

    def config_paths() -> set[str]:
        return {str(f.path) for f in config.files()}

    def publish() -> None:
        """Diagnostics on open configuration files (and cleared ones once fixed)."""
        if not server.ready:
            return
        by_file: dict[str, list[types.Diagnostic]] = {}
        for p in server.problems():
            if p.file:
                line = max(0, (p.line or 1) - 1)
                by_file.setdefault(str(Path(p.file)), []).append(
                    types.Diagnostic(
                        range=types.Range(start=types.Position(line, 0), end=types.Position(line, 1000)),
                        message=f"{p.path}: {p.message}" if p.path else p.message,
                        severity=types.DiagnosticSeverity.Warning,
                        source="llm-lsp",
                    )
                )
        for uri in list(server.workspace.text_documents):
            path = to_fs_path(uri)
            if path and (path in config_paths() or path.endswith(WORKSPACE_FILE)):
                server.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(uri=uri, diagnostics=by_file.get(str(Path(path)), []))
                )

    server.problems_changed = publish

    async def watch() -> None:
        """Register file watching with the client, or poll modification times where it cannot."""
        ws = caps().workspace
        dyn = ws and ws.did_change_watched_files and ws.did_change_watched_files.dynamic_registration
        if dyn:
            watchers = [types.FileSystemWatcher(glob_pattern=f"**/{WORKSPACE_FILE}")]
            watchers.append(types.FileSystemWatcher(glob_pattern=str(config.user.path)))
            try:
                await asyncio.wait_for(
                    server.client_register_capability_async(
                        types.RegistrationParams(
                            registrations=[
                                types.Registration(
                                    id="llm-lsp-config-files",
                                    method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                    register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
                                )
                            ]
                        )
                    ),
                    5.0,
                )
                return
            except Exception as exc:
                log.warning("could not register file watching (%s); polling instead", exc)
        state["poller"] = asyncio.ensure_future(poll())

    async def poll() -> None:
        def stamp() -> dict[str, float | None]:
            out: dict[str, float | None] = {}
            for f in config.files():
                try:
                    out[str(f.path)] = f.path.stat().st_mtime
                except OSError:
                    out[str(f.path)] = None
            return out

        last = stamp()
        while True:
            await asyncio.sleep(POLL_S)
            now = stamp()
            if now != last:
                last = now
                reload("a configuration file changed")

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        opts = params.initialization_options
        config.init_options = (_section(opts) or {}) if opts is not None else {}
        if opts is not None and _section(opts) is None:
            log.warning("initializationOptions is not an object; ignored")
        config.set_folders(_folders(params))
        server.rebuild()

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        server.ready = True
        if can_pull():
            await pull()
        server.rebuild()  # starts every folder's services (discovery, probes) and reports problems
        _, services = server.for_document(None)
        log.info(
            "llm-lsp ready: %d folder(s); completion %s; providers %s; position encoding %s",
            len(config.folder_files),
            ", ".join(services.router.specs("completion")),
            ", ".join(f"{p.id}={p.base_url}" for p in services.providers.values()) or "none",
            server.encoding(),
        )
        await watch()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        pushed = _section(params.settings)
        if pushed is not None and pushed != config.client_pushed:
            # Applied before anything is awaited, so that requests sent after this notification see it.
            config.client_pushed = pushed
            server.rebuild()
            log.info("configuration reloaded (workspace/didChangeConfiguration)")
        if can_pull():
            before = (config.client_global, config.client_folders)
            await pull()
            if (config.client_global, config.client_folders) != before:
                server.rebuild()
                log.info("configuration reloaded (workspace/configuration)")

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        names = {to_fs_path(c.uri) for c in params.changes}
        if names & config_paths() or any(n and n.endswith(WORKSPACE_FILE) for n in names):
            reload("file watcher")

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(params: types.DidChangeWorkspaceFoldersParams) -> None:
        removed = {to_fs_path(f.uri) for f in params.event.removed}
        added = [p for p in (to_fs_path(f.uri) for f in params.event.added) if p]
        config.set_folders([f for f in config.folder_files if f not in removed] + added)
        server.rebuild()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        if params.text_document.uri.endswith(WORKSPACE_FILE) or to_fs_path(params.text_document.uri) in config_paths():
            publish()

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        path = to_fs_path(params.text_document.uri)
        if path and (path in config_paths() or path.endswith(WORKSPACE_FILE)):
            reload("saved")

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        if state["poller"] is not None:
            state["poller"].cancel()
        await server.close()
