"""Health of one provider, from real traffic and light probes. Pure: the clock is passed in.

available   recent requests succeed
degraded    the last request failed (or the server is overloaded); still tried
unavailable failed twice in a row; skipped by routing, re-probed in the background with backoff
unknown     nothing seen yet
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    AVAILABLE = "available"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


UNAVAILABLE_AFTER = 2  # consecutive failures
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 5.0  # a restarted server is picked up again within this long
WINDOW = 50  # outcomes kept for success rate and latency


@dataclass
class Health:
    status: Status = Status.UNKNOWN
    consecutive_failures: int = 0
    last_error: str | None = None
    next_probe_at: float = 0.0
    backoff_s: float = BACKOFF_FIRST_S
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def success(self, latency_ms: float | None = None) -> bool:
        """Record a success; True when the status changed."""
        before = self.status
        self.status = Status.AVAILABLE
        self.consecutive_failures = 0
        self.backoff_s = BACKOFF_FIRST_S
        self._outcomes.append(True)
        if latency_ms is not None:
            self._latencies.append(latency_ms)
        return before != self.status

    def failure(self, error: str, now: float, *, hard: bool = True) -> bool:
        """Record a failure; ``hard`` failures (unreachable, timeout, server error) count towards unavailable.

        Returns True when the status changed.
        """
        before = self.status
        self.last_error = error
        self._outcomes.append(False)
        if not hard:
            self.status = Status.DEGRADED if self.status != Status.UNAVAILABLE else self.status
            return before != self.status
        self.consecutive_failures += 1
        if self.consecutive_failures >= UNAVAILABLE_AFTER:
            if self.status == Status.UNAVAILABLE:
                self.backoff_s = min(BACKOFF_MAX_S, self.backoff_s * 2)
            self.status = Status.UNAVAILABLE
        else:
            self.status = Status.DEGRADED
        self.next_probe_at = now + self.backoff_s
        return before != self.status

    @property
    def usable(self) -> bool:
        """Routing tries this provider (an unavailable one waits for the background probe)."""
        return self.status != Status.UNAVAILABLE

    def probe_due(self, now: float) -> bool:
        return self.status in (Status.UNAVAILABLE, Status.DEGRADED) and now >= self.next_probe_at

    @property
    def latency_p50_ms(self) -> float | None:
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        return ordered[len(ordered) // 2]

    @property
    def success_rate(self) -> float | None:
        if not self._outcomes:
            return None
        return sum(self._outcomes) / len(self._outcomes)
