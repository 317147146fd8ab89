"""An LRU of suggestions: answers a retype, and typing through a suggestion that is already shown."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

TAIL = 2048  # characters of prefix (and suffix) that identify a cursor context
MATCH = 256  # characters of earlier prefix that must agree when typing through a suggestion
RECENT = 16  # suggestions scanned for typing-through


@dataclass(frozen=True)
class Entry:
    model: str
    prefix: str
    suffix: str
    text: str


class SuggestionCache:
    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lru: OrderedDict[tuple[str, str, str], Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(model: str, prefix: str, suffix: str) -> tuple[str, str, str]:
        return model, prefix[-TAIL:], suffix[:TAIL]

    def put(self, model: str, prefix: str, suffix: str, text: str) -> None:
        if self.size <= 0 or not text:
            return
        key = self._key(model, prefix, suffix)
        self._lru[key] = Entry(model, key[1], key[2], text)
        self._lru.move_to_end(key)
        while len(self._lru) > self.size:
            self._lru.popitem(last=False)

    def get(self, model: str, prefix: str, suffix: str) -> str | None:
        key = self._key(model, prefix, suffix)
        hit = self._lru.get(key)
        if hit is not None:
            self._lru.move_to_end(key)
            self.hits += 1
            return hit.text
        found = self._typed_through(*key)
        if found is not None:
            self.hits += 1
        else:
            self.misses += 1
        return found

    def _typed_through(self, model: str, prefix: str, suffix: str) -> str | None:
        """The rest of a recent suggestion whose beginning the user has just typed."""
        for n, entry in enumerate(reversed(self._lru.values())):
            if n >= RECENT:
                break
            if entry.model != model or entry.suffix != suffix:
                continue
            text = entry.text
            for k in range(1, len(text)):
                typed = text[:k]
                if not prefix.endswith(typed):
                    continue
                before = prefix[: len(prefix) - k]
                m = min(MATCH, len(before), len(entry.prefix))
                if m and before[-m:] == entry.prefix[-m:] and (m == MATCH or len(before) == len(entry.prefix)):
                    return text[k:]
        return None

    def clear(self) -> None:
        self._lru.clear()
