"""HTTP plumbing shared by providers: streaming requests, NDJSON and SSE framing, error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from llm_lsp.providers.base import (
    AuthFailed,
    BadResponse,
    FimUnsupported,
    ModelNotFound,
    Overloaded,
    Provider,
    ProviderError,
    ServerFailed,
    error_text,
)


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str


def classify(
    provider: Provider, status: int, body: Any, raw: str, model: str | None, *, in_stream: bool = False
) -> ProviderError:
    """Turn an error answer (any status, or a 200 carrying an error body) into a typed ProviderError."""
    msg = error_text(body) or raw.strip()[:300] or f"HTTP {status}"
    low = msg.lower()
    where = f"{provider.id} ({provider.base_url})"
    code = ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
    if "does not support insert" in low or (status == 501 and "infill" in low):
        return FimUnsupported(f"{where}: {msg}", provider=provider.id, model=model)
    if code == "model_not_found" or (
        ("not found" in low or "invalid model" in low or "no models loaded" in low) and "page not found" not in low
    ):
        hint = "Pull or load it, or pick another with completion.model." if model else ""
        return ModelNotFound(f"{where}: {msg}. {hint}".strip(), provider=provider.id, model=model)
    if status in (401, 403):
        return AuthFailed(f"{where}: authentication failed (HTTP {status}): {msg}", provider=provider.id)
    if status in (429, 503, 529):
        return Overloaded(f"{where}: server busy (HTTP {status}): {msg}", provider=provider.id, model=model)
    if status == 404:
        return BadResponse(
            f"{where}: endpoint not found (HTTP 404: {msg}). Is this really a {provider.kind_label()} server?",
            provider=provider.id,
            model=model,
        )
    if in_stream:
        return ServerFailed(
            f"{where}: the server reported an error mid-stream: {msg}", provider=provider.id, model=model
        )
    if status >= 500:
        return ServerFailed(f"{where}: server error (HTTP {status}): {msg}", provider=provider.id, model=model)
    return BadResponse(f"{where}: HTTP {status}: {msg}", provider=provider.id, model=model)


def parse_json(provider: Provider, text: str, model: str | None) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise BadResponse(
            f"{provider.id}: malformed response from {provider.base_url}: {text[:120]!r}",
            provider=provider.id,
            model=model,
        ) from None


async def _request(provider: Provider, path: str, model: str | None, **kw: Any) -> httpx.Response:
    """GET, or POST when ``json=`` is given; transport failures become ProviderErrors."""
    method = "POST" if "json" in kw else "GET"
    try:
        return await provider.http.request(
            method, provider.base_url + path, headers=provider.headers(), timeout=provider.timeout(), **kw
        )
    except httpx.TimeoutException:
        raise provider.timed_out(model) from None
    except httpx.TransportError as exc:
        raise provider.unreachable(exc) from None


async def get_text(provider: Provider, path: str) -> tuple[int, str]:
    """GET a path and return (status, body text): for fingerprints."""
    resp = await _request(provider, path, None)
    return resp.status_code, resp.text


async def get_json(provider: Provider, path: str, *, model: str | None = None, **kw: Any) -> Any:
    """GET or POST (when ``json=`` is given) and return the decoded body; raise a ProviderError otherwise."""
    resp = await _request(provider, path, model, **kw)
    text = resp.text
    body: Any = None
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if resp.status_code >= 400 or error_text(body) is not None:
        raise classify(provider, resp.status_code, body, text, model)
    if body is None:
        raise BadResponse(
            f"{provider.id}: expected JSON from {path}, got {text[:120]!r}", provider=provider.id, model=model
        )
    return body


@asynccontextmanager
async def open_stream(
    provider: Provider, path: str, payload: dict[str, Any], *, model: str | None
) -> AsyncIterator[httpx.Response]:
    """POST and yield the streaming response once its status is known to be good.

    Leaving the context (normally, by an exception, or by cancellation) closes the connection, which is
    how a local server learns that nobody wants the rest of the generation. A pooled keep-alive connection
    that the server had already closed (llama.cpp closes after every stream) is retried once on a fresh one.
    """
    headers = {**provider.headers(), **provider.stream_headers}
    yielded = False
    for attempt in (1, 2):
        try:
            async with provider.http.stream(
                "POST", provider.base_url + path, json=payload, headers=headers, timeout=provider.timeout()
            ) as resp:
                if resp.status_code >= 400:
                    raw = (await resp.aread()).decode("utf-8", "replace")
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                    raise classify(provider, resp.status_code, body, raw, model)
                yielded = True
                yield resp
                return
        except httpx.RemoteProtocolError as exc:
            if attempt == 1 and not yielded and _stale(exc):
                continue
            if yielded:
                raise ServerFailed(
                    f"{provider.id}: the server broke off the stream ({exc})", provider=provider.id, model=model
                ) from None
            raise provider.unreachable(exc) from None
        except httpx.TimeoutException:
            raise provider.timed_out(model) from None
        except httpx.TransportError as exc:
            raise provider.unreachable(exc) from None


def _stale(exc: httpx.RemoteProtocolError) -> bool:
    """The server closed a kept-alive connection before answering: nothing was sent back, safe to retry."""
    text = str(exc).lower()
    return "disconnected" in text or "closed" in text


async def ndjson(provider: Provider, resp: httpx.Response, model: str | None) -> AsyncIterator[dict[str, Any]]:
    """Decode an NDJSON stream; an in-stream ``{"error": ...}`` line becomes a ProviderError."""
    async for line in resp.aiter_lines():
        if not line.strip():
            continue
        obj = parse_json(provider, line, model)
        if not isinstance(obj, dict):
            raise BadResponse(f"{provider.id}: unexpected stream line {line[:120]!r}", provider=provider.id)
        if error_text(obj) is not None:
            raise classify(provider, 200, obj, line, model, in_stream=True)
        yield obj


async def sse(resp: httpx.Response) -> AsyncIterator[SseEvent]:
    """Decode a text/event-stream: comment lines skipped, multi-line data joined, events split on blank lines."""
    event, data = "", list[str]()
    async for line in resp.aiter_lines():
        if line == "":
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield SseEvent(event or "message", "\n".join(data))


async def sse_json(provider: Provider, resp: httpx.Response, model: str | None) -> AsyncIterator[dict[str, Any]]:
    """SSE events decoded as JSON objects, stopping at ``[DONE]``; error events raise."""
    done = False
    async for ev in sse(resp):
        if done:
            continue  # read to the end of the body, so the connection goes back to the pool
        if ev.data.strip() == "[DONE]":
            done = True
            continue
        obj = parse_json(provider, ev.data, model)
        if not isinstance(obj, dict):
            raise BadResponse(f"{provider.id}: unexpected event {ev.data[:120]!r}", provider=provider.id)
        if error_text(obj) is not None:
            raise classify(provider, 200, obj, ev.data, model, in_stream=True)
        yield obj
