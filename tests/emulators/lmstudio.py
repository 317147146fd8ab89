"""LM Studio emulator: OpenAI-compatible `/v1/*`, native REST `/api/v0/models` and `/api/v1/models`.

Follows shared/PROTOCOLS.md ("LM Studio"), including the quirk that unknown endpoints answer HTTP 200
with an error body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .base import Routes
from .http import Conn, Reply, Request, Response
from .openai_compat import OpenAIEndpoints

NO_MODELS_LOADED = "No models loaded. Please load a model in the developer page or use the `lms load` command."


@dataclass
class LMStudioModel:
    id: str  # the model key / identifier
    type: str = "llm"  # "llm" | "vlm" | "embeddings"
    publisher: str = "lmstudio-community"
    arch: str = "qwen2"
    compatibility_type: str = "gguf"  # "gguf" | "mlx"
    quantization: str = "Q4_K_M"
    state: str = "loaded"  # "loaded" | "not-loaded"
    max_context_length: int = 32768
    loaded_context_length: int = 4096  # v1 loaded_instances[].config.context_length
    capabilities: list[str] = field(default_factory=lambda: ["tool_use"])  # v0 list
    display_name: str = ""  # default: id
    size_bytes: int = 986_000_000
    bits_per_weight: float = 4.5

    @property
    def loaded(self) -> bool:
        return self.state == "loaded"

    def v0(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "publisher": self.publisher,
            "arch": self.arch,
            "compatibility_type": self.compatibility_type,
            "quantization": self.quantization,
            "state": self.state,
            "max_context_length": self.max_context_length,
            "capabilities": list(self.capabilities),
        }

    def v1(self) -> dict[str, Any]:
        instances = [{"id": self.id, "config": {"context_length": self.loaded_context_length}}] if self.loaded else []
        return {
            "type": "embedding" if self.type == "embeddings" else "llm",
            "key": self.id,
            "display_name": self.display_name or self.id,
            "architecture": self.arch,
            "quantization": {"name": self.quantization, "bits_per_weight": self.bits_per_weight},
            "size_bytes": self.size_bytes,
            "loaded_instances": instances,
            "max_context_length": self.max_context_length,
            "capabilities": {"vision": self.type == "vlm", "trained_for_tool_use": "tool_use" in self.capabilities},
        }


DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "qwen2.5-coder-1.5b-instruct": {},
    "text-embedding-nomic-embed-text-v1.5": {
        "type": "embeddings",
        "publisher": "nomic-ai",
        "arch": "nomic-bert",
        "state": "not-loaded",
        "max_context_length": 2048,
        "capabilities": [],
        "size_bytes": 84_000_000,
    },
}


class LMStudioEmulator(OpenAIEndpoints):
    """LM Studio server. Switches (read live): `rest_v1`, `rest_v0` (False: those endpoints hit the quirk,
    like older versions), `jit_loading` (False: not-loaded models are refused), `bad_model_status` (400; 404 old)."""

    def __init__(self, port: int | None = None, *, models: Iterable[str] | None = None) -> None:
        self.models: dict[str, LMStudioModel] = {}
        super().__init__(port)
        self.rest_v0 = True
        self.rest_v1 = True
        self.jit_loading = True
        self.bad_model_status = 400
        if models is None:
            for name, details in DEFAULT_MODELS.items():
                self.add_model(name, **details)
        else:
            for name in models:
                self.add_model(name)

    def add_model(self, name: str, *, loaded: bool | None = None, **details: Any) -> LMStudioModel:
        """Add (or replace) a model; `details` are LMStudioModel fields; `loaded=` sets `state`."""
        if loaded is not None:
            details["state"] = "loaded" if loaded else "not-loaded"
        model = LMStudioModel(name, **details)
        self.models[name] = model
        return model

    def remove_model(self, name: str) -> None:
        self.models.pop(name, None)

    def _routes(self) -> Routes:
        return {
            "/lmstudio-greeting": {"GET": self._greeting},
            "/api/v0/models": {"GET": self._v0_models},
            "/api/v1/models": {"GET": self._v1_models},
            **self._openai_routes(),
        }

    # -- the quirk -------------------------------------------------------------------------
    def _unexpected(self, req: Request) -> Response:
        return Response.json(200, {"error": f"Unexpected endpoint or method. ({req.method} {req.path})"})

    def _not_found(self, req: Request) -> Response:
        return self._unexpected(req)

    def _method_not_allowed(self, req: Request) -> Response:
        return self._unexpected(req)

    # -- native endpoints ----------------------------------------------------------------------
    async def _greeting(self, req: Request, conn: Conn) -> Response:
        return Response.json(200, {"lmstudio": True})

    async def _v0_models(self, req: Request, conn: Conn) -> Response:
        if not self.rest_v0:
            return self._unexpected(req)
        return Response.json(200, {"data": [m.v0() for m in self.models.values()]})

    async def _v1_models(self, req: Request, conn: Conn) -> Response:
        if not self.rest_v1:
            return self._unexpected(req)
        return Response.json(200, {"models": [m.v1() for m in self.models.values()]})

    # -- OpenAI-compatible hooks -------------------------------------------------------------
    def _oa_model_list(self) -> list[dict[str, Any]] | None:
        shown = [m for m in self.models.values() if self.jit_loading or m.loaded]
        return [{"id": m.id, "object": "model", "owned_by": "organization_owner"} for m in shown]

    def _oa_resolve(self, req: Request, body: dict[str, Any]) -> str:
        name = body.get("model")
        loaded = [m for m in self.models.values() if m.loaded]
        if not isinstance(name, str) or not name:
            if not loaded:
                raise Reply(Response.json(400, {"error": NO_MODELS_LOADED}))
            return loaded[0].id
        model = self.models.get(name)
        if model is not None and not model.loaded:
            if self.jit_loading:
                model.state = "loaded"  # JIT load
            elif not loaded:
                raise Reply(Response.json(400, {"error": NO_MODELS_LOADED}))
            else:
                model = None
        if model is None:
            message = f'Invalid model identifier "{name}". Please specify a valid downloaded model.'
            error = self._oa_error(self.bad_model_status, message, "invalid_request_error", "model", "model_not_found")
            raise Reply(error)
        return model.id
