"""Tell the user about a problem once per cause; log every occurrence."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from llm_lsp.providers.base import ProviderError

log = logging.getLogger(__name__)


class Reporter:
    """``show`` pops a message in the editor; ``clear`` after a success lets the same cause show again later."""

    REPEAT_LOG_S = 30.0  # a failure that repeats on every keystroke is logged again at most this often

    def __init__(self, show: Callable[[str, str], None]) -> None:
        self._show = show
        self._shown: set[str] = set()
        self._logged: dict[str, float] = {}

    def failure(self, exc: ProviderError) -> None:
        now = time.monotonic()
        if now - self._logged.get(exc.message, -self.REPEAT_LOG_S) >= self.REPEAT_LOG_S:
            self._logged[exc.message] = now
            log.warning("%s", exc.message)
        else:
            log.debug("%s", exc.message)
        if exc.cause in self._shown:
            return
        self._shown.add(exc.cause)
        self._show("error" if exc.kind != "overloaded" else "warning", f"llm-lsp: {exc.message}")

    def problem(self, cause: str, message: str, level: str = "warning") -> None:
        log.warning("%s", message)
        if cause not in self._shown:
            self._shown.add(cause)
            self._show(level, f"llm-lsp: {message}")

    def recovered(self, provider: str) -> None:
        """A request through ``provider`` succeeded: forget its shown failures."""
        gone = {c for c in self._shown if c.split(":", 2)[1:2] == [provider]}
        if gone:
            log.info("%s: working again", provider)
            self._shown -= gone
            self._logged.clear()
