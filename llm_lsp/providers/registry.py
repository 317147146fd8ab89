"""Build provider instances from the configuration."""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping

import httpx

from llm_lsp.config.model import DEFAULT_URLS, Settings
from llm_lsp.config.sources import api_key
from llm_lsp.logs import register_secret
from llm_lsp.providers.base import Provider, ProviderSettings
from llm_lsp.providers.llamacpp import LlamaCppProvider
from llm_lsp.providers.lmstudio import LMStudioProvider
from llm_lsp.providers.ollama import OllamaProvider
from llm_lsp.providers.openai_compat import OpenAICompatProvider

log = logging.getLogger(__name__)

KINDS: dict[str, type[Provider]] = {
    "ollama": OllamaProvider,
    "lmstudio": LMStudioProvider,
    "llamacpp": LlamaCppProvider,
    "openai": OpenAICompatProvider,
}


def build_providers(
    settings: Settings, http: httpx.AsyncClient, env: Mapping[str, str] | None = None
) -> tuple[dict[str, Provider], list[str]]:
    """Providers by id, and the problems found (unknown kind, no URL)."""
    out: dict[str, Provider] = {}
    problems: list[str] = []
    for pid, cfg in settings.providers.items():
        if not cfg.enabled:
            continue
        kind = settings.provider_kind(pid)
        if kind is None:
            problems.append(f'providers.{pid}: set "kind" to one of {", ".join(KINDS)}')
            continue
        url = cfg.base_url or DEFAULT_URLS.get(kind)
        if not url:
            problems.append(f'providers.{pid}: set "baseUrl" (a {kind} server has no default address)')
            continue
        if not _is_http_url(url):
            problems.append(f"providers.{pid}.baseUrl: {url!r} is not an http(s) URL")
            continue
        ps = ProviderSettings(
            id=pid,
            kind=kind,
            base_url=url,
            api_key=_key(pid, kind, cfg.api_key_env, cfg.api_key_command, env, problems),
            timeout_s=cfg.timeout_ms / 1000.0,
            fim_mode=cfg.fim_mode,
            local=cfg.local,
        )
        register_secret(ps.api_key)
        out[pid] = KINDS[kind](ps, http)
    return out, problems


def _is_http_url(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


def _key(
    pid: str, kind: str, key_env: str | None, command: str | None, env: Mapping[str, str] | None, problems: list[str]
) -> str | None:
    """The provider's key: from a command (user configuration only), or from the named environment variable."""
    if key_env == "":
        return None  # explicitly keyless (e.g. a provider an untrusted workspace file defined)
    if command:
        try:
            out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=10, check=False)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            problems.append(f"providers.{pid}.apiKeyCommand: could not run it ({type(exc).__name__})")
            return None
        if out.returncode != 0 or not out.stdout.strip():
            problems.append(f"providers.{pid}.apiKeyCommand: exited with {out.returncode} and printed no key")
            return None
        return out.stdout.strip()
    return api_key(pid, kind, key_env, env)
