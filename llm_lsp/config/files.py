"""Configuration files: where they are, reading TOML with errors that name the line, and finding a key's line."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

WORKSPACE_FILE = ".llm-lsp.toml"


def user_config_path(env: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/llm-lsp/config.toml``; the platform's equivalent elsewhere. ``LLM_LSP_CONFIG`` overrides."""
    env = dict(os.environ) if env is None else env
    if env.get("LLM_LSP_CONFIG"):
        return Path(env["LLM_LSP_CONFIG"])
    if sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin" and not env.get("XDG_CONFIG_HOME"):
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "llm-lsp" / "config.toml"


@dataclass
class ConfigFile:
    """One TOML file's content, and the last content that parsed (kept when an edit breaks the syntax)."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    error: str | None = None  # syntax error, with line and column
    error_line: int | None = None
    exists: bool = False

    def read(self) -> ConfigFile:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.data, self.text, self.error, self.error_line, self.exists = {}, "", None, None, False
            return self
        except OSError as exc:
            self.error, self.error_line, self.exists = f"cannot read: {exc.strerror}", None, True
            return self
        self.exists = True
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.error = str(exc)
            m = re.search(r"line (\d+)", self.error)
            self.error_line = int(m.group(1)) if m else None
            return self  # the last good data stays in force
        self.data, self.text, self.error, self.error_line = data, text, None, None
        return self

    def line_of(self, path: str) -> int | None:
        return key_line(self.text, path)


_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-.]+)\s*=""")


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"""("[^"]*"|'[^']*'|[^.]+)""", dotted)]


def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def key_line(text: str, path: str) -> int | None:
    """1-based line of a dotted key path (camelCase or snake_case) in TOML text; the nearest enclosing table
    or key when the exact key is not written out (e.g. an inline table)."""
    want = [_norm(p) for p in path.split(".") if p]
    best: tuple[int, int] | None = None  # (matched parts, line)
    table: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if (m := _TABLE.match(line)) and not line.lstrip().startswith("[["):
            table = [_norm(p) for p in _parts(m.group(1))]
            full = table
        elif m := _KEY.match(line):
            full = table + [_norm(p) for p in _parts(m.group(1))]
        else:
            continue
        k = 0
        while k < min(len(full), len(want)) and full[k] == want[k]:
            k += 1
        if k == len(full) and k > 0 and (best is None or k > best[0]):
            best = (k, n)
            if k == len(want):
                return n
    return best[1] if best else None
