"""Where configuration comes from, and the one place it is merged.

Precedence, lowest first: built-in defaults < environment variables < command-line flags
< ``initializationOptions`` < ``workspace/didChangeConfiguration`` settings. Every layer is a plain
dict in the wire shape (camelCase); :func:`load` merges them and validates the result. A bad value
is reported with the layer it came from and its key path, and falls back to the value below it, so the
rest of the configuration still applies.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from llm_lsp.config.files import ConfigFile
from llm_lsp.config.model import DEFAULT_EXCLUDES, DEFAULT_KEY_ENVS, DEFAULT_URLS, Settings

log = logging.getLogger(__name__)

Layer = tuple[str, dict[str, Any]]  # (source name, data)


@dataclass(frozen=True)
class Problem:
    source: str
    path: str
    message: str
    file: str | None = None  # the file the value came from, when it came from one
    line: int | None = None

    def __str__(self) -> str:
        if self.file:
            where = f"{self.file}:{self.line}" if self.line else self.file
            return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{self.source}: {self.path}: {self.message}"


# --------------------------------------------------------------------------------------------- env


def parse_ollama_host(value: str | None) -> str:
    """``OLLAMA_HOST`` as Ollama itself reads it (envconfig.Host): scheme and port defaults, bare hosts, paths."""
    s = (value or "").strip().strip("\"'").strip()
    scheme, sep, hostport = s.partition("://")
    default_port = "11434"
    if not sep:
        scheme, hostport = "http", s
    elif scheme == "http":
        default_port = "80"
    elif scheme == "https":
        default_port = "443"
    hostport, _, path = hostport.partition("/")
    host, port = _split_host_port(hostport)
    if host is None:
        host, port = "127.0.0.1", default_port
        bare = hostport.strip("[]")
        if bare:
            host = bare
    if not (port or "").isdigit() or int(port or 0) > 65535:
        port = default_port
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}" + (f"/{path}" if path else "")


def _split_host_port(hostport: str) -> tuple[str | None, str | None]:
    """net.SplitHostPort: ``host:port`` or ``[v6]:port``; None when there is no port."""
    m = re.fullmatch(r"\[([^\]]*)\]:(.*)", hostport)
    if m:
        return m.group(1), m.group(2)
    if hostport.count(":") == 1:
        host, port = hostport.split(":")
        return host, port
    return None, None


def _first_env(env: Mapping[str, str], *names: str) -> str | None:
    for n in names:
        v = env.get(n, "").strip()
        if v:
            return v
    return None


def env_layer(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults that users of other local-LLM tools bring with them."""
    env = os.environ if env is None else env
    providers: dict[str, Any] = {}
    ollama = env.get("OLLAMA_HOST", "").strip()
    url = parse_ollama_host(ollama) if ollama else _first_env(env, "OLLAMA_BASE_URL", "OLLAMA_ENDPOINT")
    if url:
        providers["ollama"] = {"baseUrl": url}
    lms = _first_env(env, "LM_STUDIO_BASE_URL", "LMSTUDIO_BASE_URL", "LMSTUDIO_ENDPOINT", "LM_STUDIO_ENDPOINT")
    if lms:
        providers["lmstudio"] = {"baseUrl": lms}
    out: dict[str, Any] = {"providers": providers} if providers else {}
    model = None
    if m := _first_env(env, "OLLAMA_MODEL"):
        model = m if m.startswith("ollama/") else f"ollama/{m}"
    elif m := _first_env(env, "LM_STUDIO_MODEL", "LMSTUDIO_MODEL"):
        model = m if m.startswith("lmstudio/") else f"lmstudio/{m}"
    if model:
        out["completion"] = {"model": model}
    return out


def defaults_layer() -> dict[str, Any]:
    return {
        "providers": {kind: {"baseUrl": url} for kind, url in DEFAULT_URLS.items()},
        "exclude": list(DEFAULT_EXCLUDES),
    }


def flags_layer(provider: str | None, base_url: str | None, model: str | None) -> dict[str, Any]:
    """``--provider``, ``--base-url``, ``--model`` as a layer."""
    out: dict[str, Any] = {}
    if base_url:
        out["providers"] = {provider or "ollama": {"baseUrl": base_url}}
    if model:
        if provider and not model.startswith(provider + "/"):
            model = f"{provider}/{model}"
        out["completion"] = {"model": model}
    return out


def api_key(
    provider_id: str, kind: str | None, key_env: str | None, env: Mapping[str, str] | None = None
) -> str | None:
    """The provider's key, read from the environment variable the configuration names (never stored in config)."""
    env = os.environ if env is None else env
    names = (key_env,) if key_env else DEFAULT_KEY_ENVS.get(kind or provider_id, ())
    return _first_env(env, *names)


# --------------------------------------------------------------------------------------------- merge


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _normalise(data: Any) -> Any:
    """snake_case keys become camelCase, so that layers written either way merge key by key."""
    if isinstance(data, Mapping):
        return {_camel(str(k)) if "_" in str(k) else k: _normalise(v) for k, v in data.items()}
    return data


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def load(
    layers: list[Layer], *, previous: Settings | None = None, files: Mapping[str, ConfigFile] | None = None
) -> tuple[Settings, list[Problem]]:
    """Merge layers (lowest precedence first) and validate. A bad value keeps its last good value (from
    ``previous``, when reloading) or else the value of the layers below; every problem is reported with its
    source, and with file and line when it came from a file (``files`` maps source names to files)."""
    files = files or {}

    def problem(source: str, path: str, message: str) -> Problem:
        f = files.get(source)
        return Problem(source, path, message, str(f.path) if f else None, f.line_of(path) if f and path else None)

    problems: list[Problem] = []
    normalised: list[Layer] = []
    for source, data in layers:
        if not isinstance(data, Mapping):
            problems.append(problem(source, "", f"expected an object, got {type(data).__name__}"))
            continue
        data = _normalise(data)
        problems.extend(problem(source, p, m) for p, m in unknown_keys(data, Settings))
        normalised.append((source, data))
    last_good = previous.model_dump(by_alias=True, exclude_none=True) if previous is not None else None
    for _ in range(100):
        merged: dict[str, Any] = {}
        for _, data in normalised:
            merged = deep_merge(merged, data)
        try:
            return Settings.model_validate(merged), problems
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(p) for p in err["loc"]]
                index = _source_of(loc, normalised)
                source = normalised[index][0] if index >= 0 else "defaults"
                problems.append(problem(source, ".".join(loc), _message(err)))
                if index < 0:
                    return Settings(), problems
                normalised[index] = (source, _drop(normalised[index][1], loc))
                kept = _get(last_good, loc) if last_good is not None else _MISSING
                if kept is not _MISSING and not source.startswith("last good"):
                    normalised.insert(index + 1, (f"last good value of {source}", _set({}, loc, kept)))
    return Settings(), problems


_MISSING = object()


def _message(err: Any) -> str:
    """pydantic's message, shortened where it says the obvious ("Value error, must be ..." -> "must be ...")."""
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _get(data: Any, loc: list[str]) -> Any:
    for p in loc:
        if not isinstance(data, Mapping) or p not in data:
            return _MISSING
        data = data[p]
    return data


def _source_of(loc: list[str], layers: list[Layer]) -> int:
    """Index of the highest layer that sets (a prefix of) the bad path."""
    for i in range(len(layers) - 1, -1, -1):
        for n in range(len(loc), 0, -1):
            if _get(layers[i][1], loc[:n]) is not _MISSING:
                return i
    return -1


def _drop(data: dict[str, Any], loc: list[str]) -> dict[str, Any]:
    """The layer without its bad value, so that the layers below it decide."""
    n = len(loc)
    while n > 1 and _get(data, loc[:n]) is _MISSING:
        n -= 1
    return _set(data, loc[:n], _MISSING)


def _set(data: dict[str, Any], loc: list[str], value: Any) -> dict[str, Any]:
    out = dict(data)
    if len(loc) == 1:
        if value is _MISSING:
            out.pop(loc[0], None)
        else:
            out[loc[0]] = value
        return out
    child = out.get(loc[0])
    out[loc[0]] = _set(child if isinstance(child, dict) else {}, loc[1:], value)
    return out


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """Keys the model does not know, each with a "did you mean" where one is close."""
    out: list[tuple[str, str]] = []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key, value in data.items():
        path = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(fields))}"
            out.append((path, f"unknown key{hint}"))
            continue
        sub = _submodel(field.annotation)
        if sub is not None and isinstance(value, Mapping):
            out.extend(unknown_keys(value, sub, path + "."))
        elif key == "providers" and isinstance(value, Mapping):
            from llm_lsp.config.model import ProviderConfig

            for pid, pv in value.items():
                if isinstance(pv, Mapping):
                    out.extend(unknown_keys(pv, ProviderConfig, f"{path}.{pid}."))
    return out


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
