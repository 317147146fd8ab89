"""Logging: stderr and an optional file (never stdout: it carries the protocol), the editor's log, redaction."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from llm_lsp.server import LlmLanguageServer

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Values that must never appear in a log line (API keys)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


def setup(verbose: int = 0, log_file: str | None = None, *, quiet_stderr: bool = False) -> None:
    """Logging for the process. ``quiet_stderr``: when serving, editors file every stderr line as an error
    (Neovim's lsp.log), so stderr gets warnings only unless -v; the editor gets info as window/logMessage."""
    level = logging.DEBUG if verbose else logging.INFO
    stderr = logging.StreamHandler()
    if quiet_stderr and not verbose:
        stderr.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [stderr]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(logging.Formatter(FORMAT))
        h.addFilter(RedactingFilter())
        root.addHandler(h)
    root.setLevel(logging.WARNING)
    logging.getLogger("llm_lsp").setLevel(level)
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


_LSP_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


class LspLogHandler(logging.Handler):
    """Forwards llm_lsp's log records to the editor as window/logMessage once the session is up."""

    def __init__(self, server: LlmLanguageServer) -> None:
        super().__init__()
        self.server = server
        self.addFilter(RedactingFilter())
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.server.ready or self._busy:
            return
        self._busy = True
        try:
            kind = _LSP_LEVELS.get(record.levelno, types.MessageType.Log)
            self.server.window_log_message(types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:
            pass
        finally:
            self._busy = False


def attach_to_server(server: LlmLanguageServer) -> LspLogHandler:
    handler = LspLogHandler(server)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("llm_lsp").addHandler(handler)
    return handler
