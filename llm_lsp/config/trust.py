"""Workspace trust: what a ``.llm-lsp.toml`` from an untrusted folder may not do.

A workspace file arrives with any cloned repository. Unless the user trusts the folder (``trustedFolders`` in the
user configuration, or the editor says so), its file may not:

- name a key: ``apiKeyEnv``, ``apiKeyCommand`` (a command is user-level only, even in trusted folders);
- point a provider that has a key at another address, or point any provider off this machine;
- give a provider it defines a key (such providers are keyless);
- weaken privacy: leave ``local-only`` or turn redaction off, or drop excludes (its excludes only add);
- trust folders.

Each refused key is reported with the way to trust the folder. Pure functions over wire-shaped dicts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llm_lsp.providers.base import is_loopback_url


def _hint(folder: str) -> str:
    return f"ignored: {folder} is not trusted (add it to trustedFolders in your user configuration to allow this)"


def is_trusted(folder: str, trusted_folders: list[str]) -> bool:
    target = Path(folder).resolve()
    for t in trusted_folders:
        base = Path(os.path.expanduser(t)).resolve()
        if target == base or base in target.parents:
            return True
    return False


def filter_workspace_layer(
    data: Mapping[str, Any],
    below: Mapping[str, Any],
    *,
    folder: str,
    trusted: bool,
    key_available: Any,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The workspace layer with what it may not set removed, and (key path, reason) for each removal.

    ``below`` is the merged configuration of the layers under the workspace file; ``key_available(provider_id,
    provider_config)`` tells whether a provider would be sent a key.
    """
    out = {k: v for k, v in data.items()}
    refused: list[tuple[str, str]] = []
    if "trustedFolders" in out:
        out.pop("trustedFolders")
        refused.append(("trustedFolders", "ignored: only the user configuration can trust folders"))
    providers = out.get("providers")
    if isinstance(providers, Mapping):
        new_providers = {}
        for pid, cfg in providers.items():
            if not isinstance(cfg, Mapping):
                new_providers[pid] = cfg
                continue
            cfg = dict(cfg)
            if "apiKeyCommand" in cfg:
                cfg.pop("apiKeyCommand")
                refused.append((f"providers.{pid}.apiKeyCommand", "ignored: key commands are user configuration only"))
            if trusted:
                new_providers[pid] = cfg
                continue
            for key in ("apiKeyEnv", "local"):
                if key in cfg:
                    cfg.pop(key)
                    refused.append((f"providers.{pid}.{key}", _hint(folder)))
            lower = (below.get("providers") or {}).get(pid)
            url = cfg.get("baseUrl")
            if url is not None:
                if isinstance(lower, Mapping) and key_available(pid, lower):
                    cfg.pop("baseUrl")
                    refused.append((f"providers.{pid}.baseUrl", f"{_hint(folder)}; it would send your key to {url}"))
                elif isinstance(url, str) and not is_loopback_url(url):
                    cfg.pop("baseUrl")
                    refused.append((f"providers.{pid}.baseUrl", f"{_hint(folder)}; code would leave this machine"))
            if not isinstance(lower, Mapping):
                cfg["apiKeyEnv"] = ""  # a provider this file defines gets no key
            new_providers[pid] = cfg
        out["providers"] = new_providers
    if trusted:
        return out, refused
    privacy = out.get("privacy")
    if isinstance(privacy, Mapping):
        privacy = dict(privacy)
        lower_privacy = below.get("privacy") or {}
        if privacy.get("mode") not in (None, "local-only") and lower_privacy.get("mode") == "local-only":
            privacy.pop("mode")
            refused.append(("privacy.mode", _hint(folder) + "; your configuration says local-only"))
        if privacy.get("redact") is False:
            privacy.pop("redact")
            refused.append(("privacy.redact", _hint(folder)))
        out["privacy"] = privacy
    if "exclude" in out and isinstance(out["exclude"], list):
        lower_exclude = below.get("exclude")
        base = list(lower_exclude) if isinstance(lower_exclude, list) else None
        if base is not None:
            out["exclude"] = base + [g for g in out["exclude"] if g not in base]
        else:
            out.pop("exclude")  # the defaults stay; an untrusted file cannot replace them
            refused.append(("exclude", _hint(folder) + "; add patterns in your user configuration instead"))
    return out, refused
