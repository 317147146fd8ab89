"""The provider contract: list models, stream a fill-in-the-middle completion, stream a chat.

A provider knows one server's wire format and nothing else: retries, fallback, health and caching live
above it. Every stream is an async iterator of :class:`Chunk`; the last chunk carries ``finish_reason``
and, when the server reports it, token usage. Leaving the iterator early (``aclose()`` or task
cancellation) closes the HTTP response, which makes a local server stop generating.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Capabilities a model may have. "fim" means the server fills a hole natively (Ollama `insert`,
# llama.cpp /infill) or the model family has a known FIM template.
CAPABILITIES = ("completion", "fim", "chat", "tools", "vision", "embedding", "thinking")


@dataclass(frozen=True)
class ModelInfo:
    provider: str
    name: str
    capabilities: frozenset[str] = frozenset()
    context_length: int | None = None
    loaded: bool | None = None
    size_bytes: int | None = None
    quantization: str | None = None
    family: str | None = None
    local: bool = True
    native_fim: bool = False  # the server applies the FIM template itself (Ollama `insert`, llama.cpp /infill)

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.name}"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class FimRequest:
    prefix: str
    suffix: str
    max_tokens: int = 128
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    filename: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    max_tokens: int = 512
    temperature: float = 0.2
    stop: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------- errors


class ProviderError(Exception):
    """An error with a message a person can act on. ``kind`` is stable and used to report once per cause."""

    kind = "provider_error"

    def __init__(self, message: str, *, provider: str = "", model: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model

    @property
    def cause(self) -> str:
        """A key that identifies the cause, so that the same failure is shown to the user once."""
        return f"{self.kind}:{self.provider}:{self.model or ''}"


class ServerUnreachable(ProviderError):
    kind = "unreachable"


class ModelNotFound(ProviderError):
    kind = "model_not_found"


class FimUnsupported(ProviderError):
    kind = "fim_unsupported"


class BadResponse(ProviderError):
    kind = "bad_response"


class ServerFailed(ProviderError):
    """The server answered with an error of its own (5xx, or an error line in the middle of a stream)."""

    kind = "server_error"


class ProviderTimeout(ProviderError):
    kind = "timeout"


class AuthFailed(ProviderError):
    kind = "auth"


class Overloaded(ProviderError):
    kind = "overloaded"


# ---------------------------------------------------------------------------------------------- base


@dataclass
class ProviderSettings:
    """What a provider needs to know to talk to its server (built from the configuration)."""

    id: str
    kind: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    connect_timeout_s: float = 2.0
    fim_mode: str = "auto"  # auto | native | template | chat
    local: bool | None = None  # None: loopback URLs are local
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)


class Provider(abc.ABC):
    """One model server. Subclasses implement the wire format."""

    kind: str = "abstract"
    stream_headers: dict[str, str] = {}  # extra headers on streaming requests

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._models: dict[str, ModelInfo] = {}
        self._announced: set[tuple[str, str]] = set()

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    @property
    def local(self) -> bool:
        """Whether text sent here stays on this machine (configurable for tunnels and trusted LAN servers)."""
        if self.settings.local is not None:
            return self.settings.local
        return is_loopback_url(self.base_url)

    def headers(self) -> dict[str, str]:
        h = dict(self.settings.extra_headers)
        if self.settings.api_key:
            h["Authorization"] = f"Bearer {self.settings.api_key}"
        return h

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.settings.timeout_s, connect=self.settings.connect_timeout_s)

    @abc.abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """Discover the models this server offers (with capabilities and context length)."""

    async def model_info(self, name: str) -> ModelInfo:
        """Details of one model; cached after the first discovery."""
        if name not in self._models:
            for m in await self.list_models():
                self._models[m.name] = m
        if name not in self._models:
            known = ", ".join(sorted(self._models)) or "none"
            raise ModelNotFound(
                f"{self.id}: model '{name}' not found at {self.base_url} (available: {known})",
                provider=self.id,
                model=name,
            )
        return self._models[name]

    def remember(self, models: list[ModelInfo]) -> list[ModelInfo]:
        self._models = {m.name: m for m in models}
        return models

    @abc.abstractmethod
    def stream_fim(self, model: str, req: FimRequest) -> AsyncGenerator[Chunk, None]:
        """Fill the hole between ``req.prefix`` and ``req.suffix``."""

    @abc.abstractmethod
    def stream_chat(self, model: str, req: ChatRequest) -> AsyncGenerator[Chunk, None]:
        """Answer a conversation."""

    @abc.abstractmethod
    async def probe(self) -> None:
        """A light check that the server is up and is what it claims to be; raises ProviderError otherwise."""

    @abc.abstractmethod
    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """One vector per input."""

    def announce_fim(self, model: str, how: str) -> None:
        """Log once per model how a hole is filled (native endpoint, which template, or chat)."""
        if (model, how) not in self._announced:
            self._announced.add((model, how))
            log.info("%s: filling in the middle with %s via %s", self.id, model, how)

    # ---- shared error mapping

    def unreachable(self, exc: Exception) -> ServerUnreachable:
        return ServerUnreachable(
            f"{self.id}: cannot reach {self.kind_label()} at {self.base_url} ({type(exc).__name__}). "
            f"Is the server running? Set providers.{self.id}.baseUrl if it listens elsewhere.",
            provider=self.id,
        )

    def timed_out(self, model: str | None) -> ProviderTimeout:
        return ProviderTimeout(
            f"{self.id}: {self.base_url} did not answer within {self.settings.timeout_s:g}s",
            provider=self.id,
            model=model,
        )

    def kind_label(self) -> str:
        return self.kind


def is_loopback_url(url: str) -> bool:
    host = httpx.URL(url).host.lower()
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


def error_text(body: Any) -> str | None:
    """Extract the error message from the error bodies the servers send (string or OpenAI-style object)."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    err = body["error"]
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        return str(err.get("message") or err.get("code") or err)
    return str(err)
