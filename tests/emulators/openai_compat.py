"""OpenAI-compatible endpoints (`/v1/models`, `/v1/completions`, `/v1/chat/completions`, `/v1/embeddings`).

`OpenAIEndpoints` holds the handlers and SSE framing; the hosting emulator supplies the model list,
model resolution and error shapes. `OpenAICompatEmulator` is a plain OpenAI-style server.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .base import EmulatorBase, Routes
from .generation import as_str_list
from .http import Conn, Reply, Request, Response, dumps
from .records import Generation, embedding, tokenize

DONE = b"data: [DONE]\n\n"


class SSEFramer:
    """OpenAI SSE chunks for one completion (`text_completion`) or chat (`chat.completion.chunk`)."""

    content_type = "text/event-stream"

    def __init__(
        self, owner: OpenAIEndpoints, gen: Generation, *, chat: bool, include_usage: bool, prompt_tokens: int
    ) -> None:
        self.owner = owner
        self.gen = gen
        self.chat = chat
        self.include_usage = include_usage
        self.prompt_tokens = prompt_tokens
        self.headers = {"Cache-Control": "no-cache"}
        self.id = ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12)
        self.created = int(time.time())
        self.finish_sent = False

    def _obj(self, choices: list[dict[str, Any]], whole: bool = False) -> dict[str, Any]:
        kind = ("chat.completion" if whole else "chat.completion.chunk") if self.chat else "text_completion"
        obj: dict[str, Any] = {"id": self.id, "object": kind, "created": self.created, "model": self.gen.model}
        if self.owner.system_fingerprint:
            obj["system_fingerprint"] = self.owner.system_fingerprint
        obj["choices"] = choices
        return obj

    def _choice(self, text: str, finish_reason: str | None, role: bool = False) -> dict[str, Any]:
        if self.chat:
            delta = {"role": "assistant", "content": text} if role else {"content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}

    @staticmethod
    def _event(obj: Any) -> bytes:
        return b"data: " + dumps(obj).encode() + b"\n\n"

    def _usage(self) -> dict[str, int]:
        done = self.gen.tokens_sent
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": done,
            "total_tokens": self.prompt_tokens + done,
        }

    def preamble(self) -> bytes:
        return self._event(self._obj([self._choice("", None, role=True)])) if self.chat else b""

    def token(self, text: str, finish_reason: str | None) -> bytes:
        self.finish_sent = finish_reason is not None
        return self._event(self._obj([self._choice(text, finish_reason)]))

    def finish(self, gen: Generation, reason: str) -> list[bytes]:
        frames = [] if self.finish_sent else [self._event(self._obj([self._choice("", reason)]))]
        if self.include_usage:
            frames.append(self._event({**self._obj([]), "usage": self._usage()}))
        return [*frames, DONE]

    def error(self, message: str) -> bytes:
        return self._event(self.owner._oa_error_body(message, "server_error"))

    def malformed(self) -> bytes:
        return b'data: {"choices": [{"index": 0, "text": oops this is not json\n\n'

    def comment(self) -> bytes:
        return b": keep-alive\n\n"

    def whole(self, gen: Generation, reason: str) -> Response:
        if self.chat:
            message = {"role": "assistant", "content": gen.text}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
        else:
            choice = {"text": gen.text, "index": 0, "logprobs": None, "finish_reason": reason}
        return Response.json(200, {**self._obj([choice], whole=True), "usage": self._usage()})

    def whole_error(self, message: str) -> Response:
        return self.owner._oa_error(500, message, "server_error")


class OpenAIEndpoints(EmulatorBase):
    """OpenAI-compatible handlers; subclasses override the `_oa_*` hooks."""

    base_path = "/v1"
    system_fingerprint: str | None = None
    embedding_dim = 16

    def _openai_routes(self) -> Routes:
        bp = self.base_path
        return {
            f"{bp}/models": {"GET": self._oa_models},
            f"{bp}/completions": {"POST": self._oa_completions},
            f"{bp}/chat/completions": {"POST": self._oa_chat},
            f"{bp}/embeddings": {"POST": self._oa_embeddings},
        }

    # -- hooks ------------------------------------------------------------------------
    def _oa_model_list(self) -> list[dict[str, Any]] | None:
        raise NotImplementedError

    def _oa_resolve(self, req: Request, body: dict[str, Any]) -> str:
        """The model to use for this request, or raise Reply with the protocol's error."""
        raise NotImplementedError

    def _oa_check(self, req: Request, body: dict[str, Any], model: str, chat: bool) -> None:
        """Extra validation after model resolution (raise Reply); default: none."""

    def _oa_error_type(self, status: int) -> str:
        if status == 429:
            return "rate_limit_error"
        return "server_error" if status >= 500 else "invalid_request_error"

    def _oa_error_body(
        self, message: str, type_: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "param": param, "code": code}}

    def _oa_error(
        self, status: int, message: str, type_: str | None = None, param: str | None = None, code: str | None = None
    ) -> Response:
        return Response.json(status, self._oa_error_body(message, type_ or self._oa_error_type(status), param, code))

    # -- OpenAI-style server errors (Ollama overrides these with its own shapes) --------
    def _error(self, req: Request, status: int, message: str) -> Response:
        return self._oa_error(status, message, code="rate_limit_exceeded" if status == 429 else None)

    def _not_found(self, req: Request) -> Response:
        return self._oa_error(404, f"Invalid URL ({req.method} {req.path})")

    def _method_not_allowed(self, req: Request) -> Response:
        return self._oa_error(405, f"Method not allowed ({req.method} {req.path})")

    def _unauthorized(self, req: Request) -> Response:
        return self._oa_error(401, "Incorrect API key provided.", code="invalid_api_key")

    def _bad_json(self, req: Request, message: str) -> Response:
        return self._oa_error(400, f"We could not parse the JSON body of your request. ({message})")

    def _queue_full(self, req: Request) -> Response:
        return self._oa_error(503, "The server is overloaded, please try again later.", code="server_busy")

    # -- handlers -----------------------------------------------------------------------
    async def _oa_models(self, req: Request, conn: Conn) -> Response:
        return Response.json(200, {"object": "list", "data": self._oa_model_list()})

    async def _oa_completions(self, req: Request, conn: Conn) -> Response | None:
        body = self._json_body(req)
        self._check_fail_next(req)
        model = self._oa_resolve(req, body)
        self._oa_check(req, body, model, False)
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            prompt = "".join(p for p in prompt if isinstance(p, str))
        if not isinstance(prompt, str):
            raise Reply(self._oa_error(400, "'prompt' must be a string or an array of strings", param="prompt"))
        suffix = body.get("suffix")
        suffix = suffix if isinstance(suffix, str) else ""
        return await self._oa_generate(req, conn, body, model, False, len(tokenize(prompt + suffix)))

    async def _oa_chat(self, req: Request, conn: Conn) -> Response | None:
        body = self._json_body(req)
        self._check_fail_next(req)
        model = self._oa_resolve(req, body)
        self._oa_check(req, body, model, True)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Reply(self._oa_error(400, "'messages' must be a non-empty array", param="messages"))
        text = "".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))
        return await self._oa_generate(req, conn, body, model, True, len(tokenize(text)))

    async def _oa_generate(
        self, req: Request, conn: Conn, body: dict[str, Any], model: str, chat: bool, prompt_tokens: int
    ) -> Response | None:
        limit = (
            body.get("max_completion_tokens") if chat and "max_completion_tokens" in body else body.get("max_tokens")
        )
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise Reply(self._oa_error(400, "'max_tokens' must be a non-negative integer", param="max_tokens"))
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True

        def framer(gen: Generation) -> SSEFramer:
            return SSEFramer(self, gen, chat=chat, include_usage=include_usage, prompt_tokens=prompt_tokens)

        stops = as_str_list(body.get("stop"))
        return await self._generate(
            req, conn, body=body, model=model, framer=framer, stream=stream, stops=stops, limit=limit
        )

    async def _oa_embeddings(self, req: Request, conn: Conn) -> Response:
        body = self._json_body(req)
        model = self._oa_resolve(req, body)
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise Reply(self._oa_error(400, "'input' must be a string or an array of strings", param="input"))
        data = [
            {"object": "embedding", "index": i, "embedding": embedding(model, t, self.embedding_dim)}
            for i, t in enumerate(texts)
        ]
        used = sum(len(tokenize(t)) for t in texts)
        usage = {"prompt_tokens": used, "total_tokens": used}
        return Response.json(200, {"object": "list", "data": data, "model": model, "usage": usage})


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class OpenAICompatEmulator(OpenAIEndpoints):
    """A generic OpenAI-compatible server (OpenAI, vLLM, OpenRouter, Groq, ...).

    `strict_models` (default True): unknown models answer 404 `model_not_found`; False accepts any name.
    """

    def __init__(self, port: int | None = None, *, base_path: str = "/v1", models: list[str] | None = None) -> None:
        self.base_path = base_path.rstrip("/")
        self.models: dict[str, dict[str, Any]] = {}
        super().__init__(port)
        self.strict_models = True
        for name in ["gpt-4o-mini", "text-embedding-3-small"] if models is None else models:
            self.add_model(name)

    def add_model(self, name: str, owned_by: str = "organization-owner", **extra: Any) -> None:
        self.models[name] = {"id": name, "object": "model", "created": 1700000000, "owned_by": owned_by, **extra}

    def remove_model(self, name: str) -> None:
        self.models.pop(name, None)

    def _routes(self) -> Routes:
        return self._openai_routes()

    def _oa_model_list(self) -> list[dict[str, Any]] | None:
        return list(self.models.values())

    def _oa_resolve(self, req: Request, body: dict[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Reply(self._oa_error(400, "you must provide a model parameter"))
        if self.strict_models and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            raise Reply(self._oa_error(404, message, code="model_not_found"))
        return model
