"""End-to-end harness: the real ``llm-lsp`` process driven by pytest-lsp, talking to loopback emulators."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.emulators import LMStudioEmulator, OllamaEmulator

# Variables from the developer's own setup must not leak into the server under test.
_SCRUB = ("OLLAMA_", "LM_STUDIO_", "LMSTUDIO_", "LM_API_TOKEN", "OPENAI_", "LLAMA_API_KEY")


_NO_USER_CONFIG = os.path.join(tempfile.gettempdir(), "llm-lsp-tests-no-user-config.toml")


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without model-server variables, and with no user configuration file
    (a developer's own ~/.config/llm-lsp/config.toml must not change what the tests see)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env["LLM_LSP_CONFIG"] = _NO_USER_CONFIG
    env.update(extra)
    return env


def only(**providers: dict[str, Any]) -> dict[str, Any]:
    """A providers section with exactly these providers (the built-in defaults switched off)."""
    out: dict[str, Any] = {"ollama": {"enabled": False}, "lmstudio": {"enabled": False}}
    out.update(providers)
    return out


@contextlib.asynccontextmanager
async def lsp(
    init_options: dict[str, Any] | None,
    *,
    client: str = "neovim",
    encodings: list[str] | None = None,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    folders: list[str] | None = None,
) -> AsyncIterator[LanguageClient]:
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "llm_lsp", *(args or [])], server_env=env or clean_env()
    )
    lc = await config.start()
    caps = client_capabilities(client)
    if encodings is not None:
        caps.general = types.GeneralClientCapabilities(position_encodings=encodings)
    workspace_folders = [types.WorkspaceFolder(uri=Path(f).as_uri(), name=Path(f).name) for f in folders or []]
    result = await lc.initialize_session(
        types.InitializeParams(
            capabilities=caps, initialization_options=init_options, workspace_folders=workspace_folders or None
        )
    )
    lc.init_result = result  # type: ignore[attr-defined]
    try:
        yield lc
    finally:
        with contextlib.suppress(Exception):
            await lc.shutdown_session()
        await lc.stop()


def dead_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def open_doc(lc: LanguageClient, text: str, uri: str = "file:///tmp/demo.py", language: str = "python") -> str:
    lc.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )
    return uri


def end_of(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(line=len(lines) - 1, character=len(lines[-1].encode("utf-16-le")) // 2)


async def inline(
    lc: LanguageClient, uri: str, pos: types.Position, *, invoked: bool = True
) -> types.InlineCompletionList | None:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return await lc.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=pos,
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
    )


def texts(result: types.InlineCompletionList | None) -> list[str]:
    assert result is not None
    return [str(i.insert_text) for i in result.items]


@pytest.fixture
def ollama() -> AsyncIterator[OllamaEmulator]:
    with OllamaEmulator() as emu:
        yield emu


@pytest.fixture
def lmstudio() -> AsyncIterator[LMStudioEmulator]:
    with LMStudioEmulator() as emu:
        yield emu
