"""Records kept by the emulators, and small helpers shared by all protocols."""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Split text into small pieces; joining them gives the text back."""
    return _TOKEN_RE.findall(text)


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; say whether a stop string was found."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if not hits:
        return text, False
    return text[: min(hits)], True


def embedding(model: str, text: str, dim: int) -> list[float]:
    """Deterministic, L2-normalised vector for (model, text)."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{model}\0{text}\0{counter}".encode()).digest()
        for (word,) in struct.iter_unpack(">I", digest):
            values.append(word / 0xFFFFFFFF * 2.0 - 1.0)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


@dataclass
class RequestRecord:
    """One HTTP request. Unpacks as the 4-tuple (method, path, headers, body)."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON (usually a dict), or None when empty / not JSON
    query: str = ""
    raw_body: bytes = b""
    at: float = 0.0  # time.monotonic() when the request was fully read

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.path, self.headers, self.body))

    def __getitem__(self, index: int) -> Any:
        return (self.method, self.path, self.headers, self.body)[index]

    def __len__(self) -> int:
        return 4


@dataclass
class Generation:
    """One generation request that passed validation (times are time.monotonic())."""

    path: str
    body: Any
    model: str = ""
    stream: bool = True
    text: str = ""  # the full text planned for this generation (after stop/length cuts)
    queued_at: float = 0.0  # request accepted, waiting for a slot
    started_at: float | None = None  # slot acquired (None: never started, e.g. dropped in the queue)
    first_token_at: float | None = None
    finished_at: float | None = None
    tokens_sent: int = 0  # streamed chunks written (non-stream: tokens generated)
    tokens_total: int = 0  # tokens planned
    completed: bool = False  # the final chunk / full response was written
    done_reason: str | None = None  # "stop" | "length" once completed
    disconnected: bool = False  # the client went away before the end
    disconnected_at: float | None = None
    tokens_after_disconnect: int = 0  # tokens produced after the disconnect was seen (should be 0)
    aborted: bool = False  # the emulator was stopped while this generation ran
    error: str | None = None  # a mid-stream error that was injected

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass
class FailSpec:
    status: int
    body: bytes | None  # None: the protocol's default error body
    content_type: str | None
    headers: dict[str, str]
