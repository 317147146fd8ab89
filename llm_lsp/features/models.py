"""llm-lsp/* requests (discovery, routing, embeddings), the didChangeStatus notification, and commands."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from llm_lsp.config.files import WORKSPACE_FILE
from llm_lsp.config.model import TASKS
from llm_lsp.config.tomledit import set_key
from llm_lsp.providers.base import ProviderError
from llm_lsp.routing.select import TASK_CAPABILITY, split_model_id
from llm_lsp.routing.status import model_json, providers_json, route_json, status_json, status_text

if TYPE_CHECKING:
    from llm_lsp.routing.router import Router
    from llm_lsp.server import LlmLanguageServer

log = logging.getLogger(__name__)

MODELS = "llm-lsp/models"
PROVIDERS = "llm-lsp/providers"
STATUS = "llm-lsp/status"
SELECT_MODEL = "llm-lsp/selectModel"
EMBED = "llm-lsp/embed"
DID_CHANGE_STATUS = "llm-lsp/didChangeStatus"
CMD_SELECT = "llm-lsp.selectModel"
CMD_REFRESH = "llm-lsp.refreshModels"
CMD_STATUS = "llm-lsp.showStatus"
STATUS_DEBOUNCE_S = 0.2
MAX_CHOICES = 12  # window/showMessageRequest buttons

# Stable JSON-RPC error codes of the llm-lsp/* requests (documented in the README).
NO_MODEL = -32001  # no model can serve the request (nothing discovered, all unavailable, unknown model)
PROVIDER_FAILED = -32002  # the provider answered with an error


class ProviderRequestError(JsonRpcException):
    CODE = PROVIDER_FAILED


class NoModelError(JsonRpcException):
    CODE = NO_MODEL


class Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ModelsParams(Params):
    provider: str | None = None
    capability: str | None = None
    refresh: bool = False


class DocumentRef(Params):
    uri: str


class StatusParams(Params):
    text_document: DocumentRef | None = None


class SelectParams(Params):
    task: Literal["completion", "chat", "edit", "embed"]
    model: str
    scope: Literal["session", "workspace"] = "session"
    text_document: DocumentRef | None = None


class EmbedParams(Params):
    input: list[str]
    model: str | None = None


def plain(value: Any) -> Any:
    """pygls hands custom-request params over as namedtuples: turn them back into plain JSON values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def parse(model: type[Params], params: Any) -> Any:
    try:
        return model.model_validate(plain(params) or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
        raise JsonRpcInvalidParams(problems) from None


def register(server: LlmLanguageServer) -> None:
    state = {"pending": None}

    def router(uri: str | None = None) -> Router:
        """The router of that document's folder (the first folder's when no document is named)."""
        return server.for_document(uri)[1].router

    def notify_status_soon() -> None:
        """Debounced: a burst of changes (discovery of several providers) sends one notification."""
        if not server.ready or state["pending"] is not None:
            return

        async def later() -> None:
            await asyncio.sleep(STATUS_DEBOUNCE_S)
            state["pending"] = None
            server.protocol.notify(DID_CHANGE_STATUS, await status_json(router()))

        state["pending"] = asyncio.ensure_future(later())  # type: ignore[assignment]

    server.status_changed = notify_status_soon

    @server.feature(MODELS)
    async def models(params: Any) -> dict[str, Any]:
        p = parse(ModelsParams, params)
        r = router()
        if p.provider is not None and p.provider not in r.providers:
            raise JsonRpcInvalidParams(f"unknown provider {p.provider!r}; known: {', '.join(r.providers)}")
        if p.refresh:
            await r.discover([p.provider] if p.provider else None)
        else:
            await r.settle()
        found = [m for pid in r.providers for m in r.inventory.get(pid, [])]
        if p.provider:
            found = [m for m in found if m.provider == p.provider]
        if p.capability:
            found = [m for m in found if p.capability in m.capabilities]
        return {"models": [model_json(m) for m in found]}

    @server.feature(PROVIDERS)
    async def providers(params: Any) -> dict[str, Any]:
        return {"providers": providers_json(router())}

    @server.feature(STATUS)
    async def status(params: Any) -> dict[str, Any]:
        p = parse(StatusParams, params)
        return await status_json(router(p.text_document.uri if p.text_document else None))

    @server.feature(SELECT_MODEL)
    async def select_model(params: Any) -> dict[str, Any]:
        p = parse(SelectParams, params)
        uri = p.text_document.uri if p.text_document else None
        route = await select(p.task, p.model, uri)
        if p.scope == "workspace":
            return await persist(p.task, p.model, uri)
        return route

    async def persist(task: str, model: str, uri: str | None) -> dict[str, Any]:
        """Write the selection into the folder's .llm-lsp.toml (first candidate of routes.<task>) and reload."""
        folder = server.folder_of(uri) if uri else next(iter(server.config.folder_files), None)
        if folder is None:
            raise JsonRpcInvalidParams('scope "workspace" needs a workspace folder (name a textDocument inside one)')
        path = Path(folder) / WORKSPACE_FILE
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            current = (server.config.folder_files[folder].data.get("routes") or {}).get(task) or []
            specs = [model] + [s for s in ([current] if isinstance(current, str) else current) if s != model]
            path.write_text(set_key(text, "routes", task, specs), encoding="utf-8")
        except OSError as exc:
            raise ProviderRequestError(f"cannot write {path}: {exc.strerror}") from None
        log.info("%s model %s saved to %s", task, model, path)
        server.config.reread()
        server.rebuild()
        r = router(uri or (path.parent / "_").as_uri())
        r.overrides.pop(task, None)
        return route_json(task, await r.candidates(task), await r.candidates(task, healthy_only=False), r)

    async def select(task: str, model: str, uri: str | None = None) -> dict[str, Any]:
        r = router(uri)
        provider_id, name = split_model_id(model, list(r.providers))
        if (
            model != "auto"
            and provider_id is None
            and not any(m.name == name for ms in r.inventory.values() for m in ms)
        ):
            raise NoModelError(
                f"unknown model {model!r}: write it as provider/model (providers: {', '.join(r.providers)})"
            )
        previous = r.overrides.get(task)
        r.overrides[task] = model
        usable = await r.candidates(task)
        if model in r.missing:  # the server says that model does not exist: keep the previous choice
            _restore(r.overrides, task, previous)
            raise NoModelError(r.missing[model].message)
        log.info("%s model selected for this session: %s", task, model)
        notify_status_soon()
        return route_json(task, usable, await r.candidates(task, healthy_only=False), r)

    @server.feature(EMBED)
    async def embed(params: Any) -> dict[str, Any]:
        p = parse(EmbedParams, params)
        r = router()
        if p.model:
            provider_id, name = split_model_id(p.model, list(r.providers))
            if provider_id is None:
                raise NoModelError(f"model {p.model!r} must be written provider/model")
            targets = [(r.providers[provider_id], name)]
        else:
            try:
                targets = [(route.provider, route.model.name) for route in await r.route("embed")]
            except ProviderError as exc:
                raise NoModelError(exc.message) from None
        errors = []
        for provider, name in targets:
            try:
                vectors = await provider.embed(name, p.input)
            except ProviderError as exc:
                r.failed(provider, exc)
                errors.append(exc.message)
                continue
            r.succeeded(provider)
            return {"model": f"{provider.id}/{name}", "embeddings": vectors}
        raise ProviderRequestError("; ".join(errors))

    @server.command(CMD_REFRESH)
    async def refresh_models(*args: object) -> dict[str, Any]:
        found = await router().discover()
        text = f"llm-lsp: {len(found)} model(s) from {len(router().providers)} provider(s)"
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=text))
        return {"models": [model_json(m) for m in found]}

    @server.command(CMD_STATUS)
    async def show_status(*args: object) -> dict[str, Any]:
        status = await status_json(router())
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=status_text(status)))
        return status

    @server.command(CMD_SELECT)
    async def select_command(*args: object) -> dict[str, Any] | None:
        """Offer the models that can do the task (default: completion) as buttons; apply the choice."""
        given = plain(list(args))
        task = given[0] if given and given[0] in TASKS else "completion"
        r = router()
        await r.discover()
        need = TASK_CAPABILITY[task]
        choices = [m.id for pid in r.providers for m in r.inventory.get(pid, []) if need in m.capabilities]
        if not choices:
            server.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=f"llm-lsp: no model can do {task}")
            )
            return None
        answer = await server.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=f"llm-lsp: model for {task}",
                actions=[types.MessageActionItem(title=c) for c in choices[:MAX_CHOICES]],
            )
        )
        if answer is None:
            return None
        return await select(task, answer.title)


def _restore(overrides: dict[str, str], task: str, previous: str | None) -> None:
    if previous is None:
        overrides.pop(task, None)
    else:
        overrides[task] = previous
