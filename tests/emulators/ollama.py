"""Ollama emulator: native `/api/*` (NDJSON streams) plus Ollama's OpenAI-compatible `/v1/*`.

Follows shared/PROTOCOLS.md ("Ollama"). JSON is written like Go's encoding/json (compact, `<>&` escaped).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from .base import EmulatorBase, Routes
from .generation import as_str_list, now
from .http import JSON_TYPE, Conn, Reply, Request, Response, dumps
from .ollama_models import DEFAULT_MODELS, OllamaModel, full_name, owner, param_count
from .openai_compat import OpenAIEndpoints
from .records import Generation, embedding, tokenize

GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_json(obj: Any) -> str:
    """Compact JSON with Go's HTML-safe escaping."""
    text = dumps(obj)
    for char, escaped in GO_ESCAPES:
        text = text.replace(char, escaped)
    return text


def go_response(status: int, obj: Any) -> Response:
    return Response(status, go_json(obj).encode(), JSON_TYPE)


def created_at() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ns(seconds: float) -> int:
    return max(0, int(seconds * 1e9))


class NDJSONFramer:
    """Ollama `/api/generate` (`response`) or `/api/chat` (`message`) chunks."""

    content_type = "application/x-ndjson"

    def __init__(self, gen: Generation, *, chat: bool, prompt_tokens: int) -> None:
        self.gen = gen
        self.chat = chat
        self.prompt_tokens = prompt_tokens
        self.headers: dict[str, str] = {}

    def _obj(self, text: str, done: bool, reason: str | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {"model": self.gen.model, "created_at": created_at()}
        if self.chat:
            obj["message"] = {"role": "assistant", "content": text}
            if reason:
                obj["done_reason"] = reason
            obj["done"] = done
        else:
            obj["response"] = text
            obj["done"] = done
            if reason:
                obj["done_reason"] = reason
        return obj

    def _metrics(self) -> dict[str, int]:
        gen, t = self.gen, now()
        started = gen.started_at or t
        first = gen.first_token_at or t
        values = {
            "total_duration": ns(t - gen.queued_at),
            "load_duration": ns(started - gen.queued_at),
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": ns(first - started),
            "eval_count": gen.tokens_sent,
            "eval_duration": ns(t - first),
        }
        return {k: v for k, v in values.items() if v}  # Go omits zero fields

    @staticmethod
    def _line(obj: Any) -> bytes:
        return go_json(obj).encode() + b"\n"

    def preamble(self) -> bytes:
        return b""

    def token(self, text: str, finish_reason: str | None) -> bytes:
        return self._line(self._obj(text, False))

    def finish(self, gen: Generation, reason: str) -> list[bytes]:
        return [self._line({**self._obj("", True, reason), **self._metrics()})]

    def error(self, message: str) -> bytes:
        return self._line({"error": message})

    def malformed(self) -> bytes:
        return b'{"model":"' + self.gen.model.encode() + b'","response":"oops" this is not json\n'

    def comment(self) -> bytes:
        return b""

    def whole(self, gen: Generation, reason: str) -> Response:
        return go_response(200, {**self._obj(gen.text, True, reason), **self._metrics()})

    def whole_error(self, message: str) -> Response:
        return go_response(500, {"error": message})


class OllamaEmulator(OpenAIEndpoints):
    """Ollama server. `models=None` installs DEFAULT_MODELS; pass [] for none."""

    system_fingerprint = "fp_ollama"

    def __init__(self, port: int | None = None, *, models: Iterable[str] | None = None) -> None:
        self.models: dict[str, OllamaModel] = {}
        super().__init__(port)
        self.version = "0.12.6"
        if models is None:
            for name, details in DEFAULT_MODELS.items():
                self.add_model(name, **details)
        else:
            for name in models:
                self.add_model(name)

    def add_model(self, name: str, **details: Any) -> OllamaModel:
        """Add (or replace) a model; `details` are OllamaModel fields (e.g. capabilities=[...], loaded=True)."""
        model = OllamaModel(full_name(name), **details)
        self.models[model.name] = model
        return model

    def remove_model(self, name: str) -> None:
        self.models.pop(full_name(name), None)

    def _routes(self) -> Routes:
        return {
            "/": {"GET": self._root, "HEAD": self._root},
            "/api/version": {"GET": self._version, "HEAD": self._version},
            "/api/tags": {"GET": self._tags, "HEAD": self._tags},
            "/api/ps": {"GET": self._ps},
            "/api/show": {"POST": self._show},
            "/api/generate": {"POST": self._generate_api},
            "/api/chat": {"POST": self._chat_api},
            "/api/embed": {"POST": self._embed},
            "/api/embeddings": {"POST": self._embeddings_legacy},
            **self._openai_routes(),
        }

    # -- errors -------------------------------------------------------------------------
    def _error(self, req: Request, status: int, message: str) -> Response:
        if req.path.startswith("/v1/"):
            return self._oa_error(status, message)
        return go_response(status, {"error": message})

    # Ollama answers these like the base server does, not the OpenAI way that OpenAIEndpoints overrides them with.
    _not_found = EmulatorBase._not_found
    _method_not_allowed = EmulatorBase._method_not_allowed
    _unauthorized = EmulatorBase._unauthorized
    _bad_json = EmulatorBase._bad_json
    _queue_full = EmulatorBase._queue_full

    def _oa_error_type(self, status: int) -> str:
        return {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")

    def _find(self, req: Request, body: dict[str, Any]) -> OllamaModel:
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            raise Reply(self._error(req, 400, "model is required"))
        model = self.models.get(full_name(name))
        if model is None:
            raise Reply(self._error(req, 404, f"model '{name}' not found"))
        return model

    def _require(self, req: Request, model: OllamaModel, name: str, capability: str, verb: str) -> None:
        if capability not in model.capabilities:
            raise Reply(self._error(req, 400, f"{name} does not support {verb}"))

    # -- info endpoints ---------------------------------------------------------------------
    async def _root(self, req: Request, conn: Conn) -> Response:
        return Response.text(200, "Ollama is running")

    async def _version(self, req: Request, conn: Conn) -> Response:
        return go_response(200, {"version": self.version})

    async def _tags(self, req: Request, conn: Conn) -> Response:
        models = [
            {
                "name": m.name,
                "model": m.name,
                "modified_at": m.modified_at,
                "size": m.size,
                "digest": m.digest,
                "details": m.details(),
            }
            for m in self.models.values()
        ]
        return go_response(200, {"models": models})

    async def _ps(self, req: Request, conn: Conn) -> Response:
        expires = datetime.fromtimestamp(time.time() + 300, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        models = [
            {
                "name": m.name,
                "model": m.name,
                "size": m.size,
                "digest": m.digest,
                "details": m.details(),
                "expires_at": expires,
                "size_vram": m.size if m.size_vram is None else m.size_vram,
                "context_length": m.loaded_context_length,
            }
            for m in self.models.values()
            if m.loaded
        ]
        return go_response(200, {"models": models})

    async def _show(self, req: Request, conn: Conn) -> Response:
        model = self._find(req, self._json_body(req))
        arch = model.architecture
        info = {
            "general.architecture": arch,
            "general.parameter_count": param_count(model.parameter_size),
            f"{arch}.context_length": model.context_length,
            f"{arch}.embedding_length": model.embedding_length,
        }
        return go_response(
            200,
            {
                "modelfile": f"FROM {model.name}\nTEMPLATE {go_json(model.template)}\n",
                "parameters": model.parameters,
                "template": model.template,
                "details": model.details(),
                "model_info": info,
                "capabilities": list(model.capabilities),
                "modified_at": model.modified_at,
            },
        )

    # -- generation -------------------------------------------------------------------------
    async def _generate_api(self, req: Request, conn: Conn) -> Response | None:
        body = self._json_body(req)
        self._check_fail_next(req)
        model = self._find(req, body)
        name = body["model"] if isinstance(body.get("model"), str) else model.name
        prompt, suffix, system = (body.get(k) or "" for k in ("prompt", "suffix", "system"))
        if not all(isinstance(v, str) for v in (prompt, suffix, system)):
            raise Reply(self._error(req, 400, "prompt, suffix and system must be strings"))
        self._require(req, model, name, "completion", "generate")
        if suffix:
            self._require(req, model, name, "insert", "insert")
        if not prompt and not suffix:
            reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
            obj = {"model": name, "created_at": created_at(), "response": "", "done": True, "done_reason": reason}
            return go_response(200, obj)
        return await self._run_generation(req, conn, body, name, chat=False, prompt=system + prompt + suffix)

    async def _chat_api(self, req: Request, conn: Conn) -> Response | None:
        body = self._json_body(req)
        self._check_fail_next(req)
        model = self._find(req, body)
        name = body["model"] if isinstance(body.get("model"), str) else model.name
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise Reply(self._error(req, 400, "messages must be an array of objects"))
        self._require(req, model, name, "completion", "chat")
        if not messages:
            message = {"role": "assistant", "content": ""}
            obj = {"model": name, "created_at": created_at(), "message": message, "done_reason": "load", "done": True}
            return go_response(200, obj)
        text = "".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str))
        return await self._run_generation(req, conn, body, name, chat=True, prompt=text)

    async def _run_generation(
        self, req: Request, conn: Conn, body: dict[str, Any], name: str, *, chat: bool, prompt: str
    ) -> Response | None:
        options = body.get("options")
        options = options if isinstance(options, dict) else {}
        limit = options.get("num_predict")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0 else None
        prompt_tokens = max(1, len(tokenize(prompt)))

        def framer(gen: Generation) -> NDJSONFramer:
            return NDJSONFramer(gen, chat=chat, prompt_tokens=prompt_tokens)

        stream = body.get("stream") is not False
        stops = as_str_list(options.get("stop"))
        return await self._generate(
            req, conn, body=body, model=name, framer=framer, stream=stream, stops=stops, limit=limit
        )

    # -- embeddings -------------------------------------------------------------------------
    async def _embed(self, req: Request, conn: Conn) -> Response:
        body = self._json_body(req)
        model = self._find(req, body)
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise Reply(self._error(req, 400, "invalid input type"))
        vectors = [embedding(model.name, t, model.embedding_dim) for t in texts]
        count = sum(len(tokenize(t)) for t in texts)
        obj = {"model": body["model"], "embeddings": vectors, "total_duration": 1_000_000, "load_duration": 100_000}
        return go_response(200, {**obj, "prompt_eval_count": count})

    async def _embeddings_legacy(self, req: Request, conn: Conn) -> Response:
        body = self._json_body(req)
        model = self._find(req, body)
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            raise Reply(self._error(req, 400, "prompt must be a string"))
        return go_response(200, {"embedding": embedding(model.name, prompt, model.embedding_dim)})

    # -- OpenAI-compatible hooks ------------------------------------------------------------
    def _oa_model_list(self) -> list[dict[str, Any]] | None:
        if not self.models:
            return None  # Go's nil slice: "data":null
        created = int(time.time())
        return [
            {"id": m.name, "object": "model", "created": created, "owned_by": owner(m.name)}
            for m in self.models.values()
        ]

    def _oa_resolve(self, req: Request, body: dict[str, Any]) -> str:
        model = self._find(req, body)
        return body["model"] if isinstance(body.get("model"), str) else model.name

    def _oa_check(self, req: Request, body: dict[str, Any], model: str, chat: bool) -> None:
        found = self.models[full_name(model)]
        self._require(req, found, model, "completion", "chat" if chat else "generate")
        if not chat and isinstance(body.get("suffix"), str) and body["suffix"]:
            self._require(req, found, model, "insert", "insert")
