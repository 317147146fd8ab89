"""Every configuration source of a session, and the one place that turns them into a folder's effective settings.

Precedence, lowest first:
  built-in defaults < environment < user file < workspace file (.llm-lsp.toml at the folder root, trust-filtered)
  < command-line flags < initializationOptions < workspace/didChangeConfiguration settings
  < workspace/configuration (global, then the folder's scope)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_lsp.config.files import WORKSPACE_FILE, ConfigFile, user_config_path
from llm_lsp.config.model import Settings
from llm_lsp.config.sources import Layer, Problem, _normalise, api_key, deep_merge, load
from llm_lsp.config.trust import filter_workspace_layer, is_trusted

USER = "user configuration"
INIT = "initializationOptions"
CLIENT = "workspace/configuration"
PUSHED = "workspace/didChangeConfiguration"


@dataclass
class FolderSettings:
    folder: str | None  # file-system path of the workspace folder (None: documents outside every folder)
    settings: Settings
    problems: list[Problem]
    origins: dict[str, str] = field(default_factory=dict)  # dotted key -> source that set it
    trusted: bool = False

    @property
    def key(self) -> str:
        """Identical settings share one set of providers (and their health, inventory and cache)."""
        return json.dumps(self.settings.model_dump(mode="json"), sort_keys=True)


class ConfigSet:
    def __init__(
        self,
        base: list[Layer],
        flags: dict[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        user_file: Path | None = None,
    ) -> None:
        self.base = base  # defaults and environment
        self.flags = flags or {}
        self.env = os.environ if env is None else env
        self.user = ConfigFile(user_file or user_config_path(dict(self.env))).read()
        self.folder_files: dict[str, ConfigFile] = {}
        self.init_options: dict[str, Any] = {}
        self.client_pushed: dict[str, Any] = {}  # workspace/didChangeConfiguration settings
        self.client_global: dict[str, Any] = {}  # workspace/configuration, no scope
        self.client_folders: dict[str, dict[str, Any]] = {}
        self.client_trusted: list[str] = []  # folders the editor says are trusted
        self.previous: dict[str | None, Settings] = {}

    # ---- sources

    def set_folders(self, folders: list[str]) -> None:
        self.folder_files = {
            f: self.folder_files.get(f) or ConfigFile(Path(f) / WORKSPACE_FILE).read() for f in folders
        }

    def reread(self) -> None:
        self.user.read()
        for f in self.folder_files.values():
            f.read()

    def files(self) -> list[ConfigFile]:
        return [self.user, *self.folder_files.values()]

    def trusted_folders(self) -> list[str]:
        lists = [
            self.user.data.get("trustedFolders") or self.user.data.get("trusted_folders"),
            self.init_options.get("trustedFolders"),
            self.client_global.get("trustedFolders"),
            self.client_trusted,
        ]
        return [str(x) for lst in lists if isinstance(lst, list) for x in lst]

    # ---- the merge

    def layers(self, folder: str | None) -> tuple[list[Layer], dict[str, ConfigFile], list[Problem], bool]:
        files: dict[str, ConfigFile] = {}
        problems: list[Problem] = []
        layers: list[Layer] = list(self.base)
        user_source = str(self.user.path)
        files[user_source] = self.user
        layers.append((user_source, self.user.data))
        trusted = folder is not None and is_trusted(folder, self.trusted_folders())
        if folder is not None and folder in self.folder_files:
            wf = self.folder_files[folder]
            source = str(wf.path)
            files[source] = wf
            below: dict[str, Any] = {}
            for _, data in layers:
                below = deep_merge(below, _normalise(data))
            filtered, refused = filter_workspace_layer(
                _normalise(wf.data), below, folder=folder, trusted=trusted, key_available=self._key_available
            )
            problems += [Problem(source, path, why, source, wf.line_of(path)) for path, why in refused]
            layers.append((source, filtered))
        layers.append(("command line", self.flags))
        layers.append((INIT, self.init_options))
        layers.append((PUSHED, _without_commands(self.client_pushed)))
        layers.append((CLIENT, _without_commands(self.client_global)))
        if folder is not None and folder in self.client_folders:
            layers.append((f"{CLIENT} ({folder})", _without_commands(self.client_folders[folder])))
        for f in self.files():
            if f.error and str(f.path) in files:
                problems.append(
                    Problem(
                        str(f.path),
                        "",
                        f"syntax error, still using its last good content: {f.error}",
                        str(f.path),
                        f.error_line,
                    )
                )
        return layers, files, problems, trusted

    def build(self, folder: str | None) -> FolderSettings:
        layers, files, problems, trusted = self.layers(folder)
        settings, found = load(layers, previous=self.previous.get(folder), files=files)
        self.previous[folder] = settings
        return FolderSettings(folder, settings, problems + found, origins(layers), trusted)

    def _key_available(self, provider_id: str, cfg: Mapping[str, Any]) -> bool:
        if cfg.get("apiKeyCommand"):
            return True
        kind = cfg.get("kind") or provider_id
        return api_key(provider_id, str(kind), cfg.get("apiKeyEnv"), self.env) is not None


def _without_commands(data: dict[str, Any]) -> dict[str, Any]:
    """Settings pushed or pulled from the editor may come from a repository's workspace settings: no commands."""
    providers = data.get("providers")
    if not isinstance(providers, Mapping) or not any(
        isinstance(c, Mapping) and "apiKeyCommand" in c for c in providers.values()
    ):
        return data
    return {
        **data,
        "providers": {
            pid: {k: v for k, v in c.items() if k != "apiKeyCommand"} if isinstance(c, Mapping) else c
            for pid, c in providers.items()
        },
    }


def origins(layers: list[Layer]) -> dict[str, str]:
    """For every leaf key, the layer that set it last (the one in force)."""
    out: dict[str, str] = {}

    def walk(data: Mapping[str, Any], prefix: str, source: str) -> None:
        for k, v in data.items():
            if isinstance(v, Mapping) and v:
                walk(v, f"{prefix}{k}.", source)
            else:
                out[f"{prefix}{k}"] = source

    for source, data in layers:
        if isinstance(data, Mapping):
            walk(_normalise(data), "", source)
    return out
