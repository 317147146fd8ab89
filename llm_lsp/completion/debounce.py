"""An adaptive debounce: wait just long enough that the user has probably stopped typing.

A fixed delay (tabby-agent never waits less than 100 ms) is too long for a fast typist and too short
for a slow one. We learn the user's keystroke rhythm per document and wait a little longer than their
usual gap (the 90th percentile), so the request fires sooner after the last keystroke while a burst
still produces one backend request (the margin is 15%, and at least 12 ms for jitter). A slow model raises the margin: a wasted request costs more there
(it holds a one-slot local server for its whole generation).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

PAUSE_S = 0.5  # gaps longer than this are pauses between bursts (thinking, reading), not typing rhythm


@dataclass
class AdaptiveDebounce:
    min_ms: float = 25.0
    max_ms: float = 300.0
    initial_ms: float = 120.0
    margin: float = 1.15
    jitter_ms: float = 12.0  # at least this much over the usual gap: event loops and pipes add jitter
    history: int = 24
    _gaps: deque[float] = field(default_factory=deque)
    _last: dict[str, float] = field(default_factory=dict)
    _latency_ms: float = 0.0

    def observe_keystroke(self, key: str, now: float | None = None) -> None:
        """Record that a request for ``key`` (a document) arrived."""
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        self._last[key] = now
        if last is not None and 0 < now - last < PAUSE_S:
            self._gaps.append((now - last) * 1000.0)
            while len(self._gaps) > self.history:
                self._gaps.popleft()

    def observe_latency(self, ms: float) -> None:
        """Record how long a backend generation took (exponentially weighted)."""
        self._latency_ms = ms if not self._latency_ms else 0.8 * self._latency_ms + 0.2 * ms

    def delay_ms(self) -> float:
        if len(self._gaps) < 3:
            return self.initial_ms
        gaps = sorted(self._gaps)
        p90 = gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))]
        # +0..35% margin as the model gets slower (0 at 0 ms, 35% at >= 2 s).
        margin = self.margin + 0.35 * min(1.0, self._latency_ms / 2000.0)
        return max(self.min_ms, min(self.max_ms, max(p90 * margin, p90 + self.jitter_ms)))

    def forget(self, key: str) -> None:
        self._last.pop(key, None)
